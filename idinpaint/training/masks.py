"""The training mask sampler: every training step sees a fresh mix of the occlusions we evaluate on.

The mix (``masks.mix`` in ``config/train.yaml``) is a weighted list of specs of the one occlusion
grammar (:mod:`idinpaint.occlusion.spec`), normalised to sum to 1; each draw paints the exact hole
of one spec (:func:`idinpaint.occlusion.apply.make_mask`). The default:

* ``random_part`` — one of the 10 protocol regions (:data:`idinpaint.occlusion.REGIONS`), uniformly;
* ``random_block:24-64`` — a random square, its side drawn uniformly from 24-64 pixels;
* ``free_form`` — DeepFill-v2 brush strokes (``masks.free_form`` sets their look);
* ``maskthface:random`` — the exact hole of a MaskTheFace occluder (random template), placed from
  the template landmarks jittered by ``maskthface_jitter`` pixels (so the same template lands a
  little differently each time); needs the occluder folder (``IDINPAINT_OCCLUDERS``).

Every entry is a spec of the grammar and means what it means there: the kind names older configs
gave (``region``, ``block``, a bare ``maskthface``) meant other specs and are refused with the spec to
write (:data:`RETIRED_NAMES`). Every draw takes a ``numpy.random.Generator``, so a seed fixes it.
"""
from __future__ import annotations

import numpy as np

from idinpaint.align import ARCFACE_TEMPLATE, CROP_SIZE
from idinpaint.occlusion import OccludersMissingError, apply_maskthface, free_form_mask, list_templates
from idinpaint.occlusion.apply import make_mask
from idinpaint.occlusion.spec import MASKTHFACE, SPEC_KINDS, parse_spec, weighted_specs

#: What a training mask can be: any kind of the grammar.
MASK_KINDS = SPEC_KINDS
DEFAULT_MIX = [["random_part", 0.35], ["random_block:24-64", 0.2], ["free_form", 0.3], ["maskthface:random", 0.15]]
#: Names older training configs gave a mix entry, and the spec each meant: in the grammar ``region`` needs
#: a region, ``block`` is a turned rectangle or ellipse and a bare ``maskthface`` the surgical template.
RETIRED_NAMES = {"region": "random_part", "block": "random_block:24-64", "maskthface": "maskthface:random"}


def check_mix_names(mix) -> None:
    """A one-line ValueError for an entry of ``mix`` named as older configs named kinds."""
    items = list(mix.keys()) if isinstance(mix, dict) else [item[0] for item in mix if len(item) == 2]
    for name in items:
        if name in RETIRED_NAMES:
            raise ValueError(f"mask mix: {name!r} is an older name for {RETIRED_NAMES[name]!r}; write that spec "
                             f"(in the occlusion grammar {name!r} means another occluder)")


class MaskSampler:
    """``sample(rng) -> (mask bool (size, size), spec)``; see the module docstring."""

    def __init__(self, mix=None, size: int = CROP_SIZE, free_form=None, maskthface_jitter: float = 2.0,
                 maskthface_pose: str = "auto"):
        self.size = int(size)
        mix = DEFAULT_MIX if mix is None else mix
        try:
            check_mix_names(mix)
            self.specs, self.probabilities = weighted_specs(mix)
        except ValueError as err:
            raise ValueError(str(err) if str(err).startswith("mask mix") else f"mask mix: {err}") from None
        self.parsed = {spec: parse_spec(spec) for spec in self.specs}
        self.free_form = dict(free_form or {})
        self.jitter = float(maskthface_jitter)
        self.pose = maskthface_pose
        if any(p.kind == MASKTHFACE for p in self.parsed.values()):
            try:
                list_templates(include_variants=False)
            except OccludersMissingError as err:
                raise OccludersMissingError(f"{err} (or give masks.mix no maskthface spec in the training config)") from None

    @property
    def kinds(self) -> list[str]:
        return list(self.specs)

    @property
    def mix(self) -> dict[str, float]:
        return dict(zip(self.specs, self.probabilities.round(6).tolist()))

    def sample(self, rng: np.random.Generator, spec: str | None = None) -> tuple[np.ndarray, str]:
        spec = spec or self.specs[int(rng.choice(len(self.specs), p=self.probabilities))]
        parsed = self.parsed.get(spec) or parse_spec(spec)
        if parsed.kind == MASKTHFACE:
            landmarks = ARCFACE_TEMPLATE * (self.size / CROP_SIZE) + rng.normal(0, self.jitter, size=(5, 2))
            blank = np.zeros((self.size, self.size, 3), dtype=np.uint8)
            _, mask = apply_maskthface(blank, landmarks=landmarks, template=parsed.arg or "surgical", pose=self.pose,
                                       rng=rng)
        elif parsed.kind == "free_form" and self.free_form:
            mask = free_form_mask(rng, self.size, **self.free_form)
        else:
            mask = make_mask(parsed, self.size, rng)
        return mask, spec

    def __repr__(self) -> str:
        return f"MaskSampler(mix={self.mix}, size={self.size})"
