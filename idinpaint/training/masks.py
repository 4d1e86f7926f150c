"""The training mask sampler: every training step sees a fresh mix of the occlusions we evaluate on.

Kinds (names used in ``config/train.yaml`` under ``masks.mix``):

* ``region`` — one of the 10 protocol regions (:data:`idinpaint.occlusion.REGIONS`), uniformly;
* ``block`` — a random square, side drawn uniformly from ``block_size`` = [min, max] pixels;
* ``free_form`` — DeepFill-v2 brush strokes (:func:`idinpaint.occlusion.free_form_mask`);
* ``maskthface`` — the exact hole of a MaskTheFace occluder (random template), placed from the
  template landmarks jittered by ``maskthface_jitter`` pixels (so the same template lands a little
  differently each time); needs the occluder folder (``IDINPAINT_OCCLUDERS``).

The mix is normalised to sum to 1. Every draw takes a ``numpy.random.Generator``, so a seed fixes it.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from idinpaint.align import ARCFACE_TEMPLATE, CROP_SIZE
from idinpaint.occlusion import (
    OccludersMissingError,
    apply_maskthface,
    free_form_mask,
    list_templates,
    random_block_mask,
    random_part_mask,
)

MASK_KINDS = ("region", "block", "free_form", "maskthface")
DEFAULT_MIX = {"region": 0.35, "block": 0.2, "free_form": 0.3, "maskthface": 0.15}


class MaskSampler:
    """``sample(rng) -> (mask bool (size, size), kind)``; see the module docstring."""

    def __init__(self, mix: Mapping[str, float] | None = None, size: int = CROP_SIZE,
                 block_size=(24, 64), free_form: Mapping | None = None, maskthface_jitter: float = 2.0,
                 maskthface_pose: str = "auto"):
        mix = dict(DEFAULT_MIX if mix is None else mix)
        unknown = sorted(set(mix) - set(MASK_KINDS))
        if unknown:
            raise ValueError(f"mask mix: unknown kinds {unknown}; valid: {', '.join(MASK_KINDS)}")
        if any(float(v) < 0 for v in mix.values()) or sum(float(v) for v in mix.values()) <= 0:
            raise ValueError(f"mask mix fractions must be >= 0 and not all 0, got {mix}")
        total = sum(float(v) for v in mix.values())
        self.kinds = [k for k in MASK_KINDS if float(mix.get(k, 0)) > 0]
        self.probabilities = np.array([float(mix[k]) / total for k in self.kinds])
        self.size = int(size)
        low, high = (int(v) for v in block_size)
        if not 1 <= low <= high <= self.size:
            raise ValueError(f"block_size must be [min, max] within 1..{self.size}, got {block_size}")
        self.block_size = (low, high)
        self.free_form = dict(free_form or {})
        self.jitter = float(maskthface_jitter)
        self.pose = maskthface_pose
        if "maskthface" in self.kinds:
            try:
                list_templates(include_variants=False)
            except OccludersMissingError as err:
                raise OccludersMissingError(f"{err} (or set masks.mix.maskthface: 0 in the training config)") from None

    @property
    def mix(self) -> dict[str, float]:
        return dict(zip(self.kinds, self.probabilities.round(6).tolist()))

    def sample(self, rng: np.random.Generator, kind: str | None = None) -> tuple[np.ndarray, str]:
        kind = kind or self.kinds[int(rng.choice(len(self.kinds), p=self.probabilities))]
        if kind == "region":
            mask = random_part_mask(rng, self.size)
        elif kind == "block":
            mask = random_block_mask(rng, int(rng.integers(self.block_size[0], self.block_size[1] + 1)), self.size)
        elif kind == "free_form":
            mask = free_form_mask(rng, self.size, **self.free_form)
        elif kind == "maskthface":
            landmarks = ARCFACE_TEMPLATE * (self.size / CROP_SIZE) + rng.normal(0, self.jitter, size=(5, 2))
            blank = np.zeros((self.size, self.size, 3), dtype=np.uint8)
            _, mask = apply_maskthface(blank, landmarks=landmarks, template="random", pose=self.pose, rng=rng)
        else:
            raise ValueError(f"unknown mask kind {kind!r}; valid: {', '.join(MASK_KINDS)}")
        return mask, kind

    def __repr__(self) -> str:
        return f"MaskSampler(mix={self.mix}, size={self.size}, block_size={self.block_size})"
