"""The one occlusion grammar: every occluder the project draws is a spec ``<kind>[:<arg>][@<fill>]``.

The protocol's boxes, the inpainter's training masks, MaskTheFace occluders, textures and the
O-Detector's composites are all specs of this grammar (``region:two_eyes@black``,
``maskthface:KN95@texture:floral``, ``block@texture:stripes``, ``clean``). Two renderings draw
them: :func:`idinpaint.occlusion.apply.make_occlusion` paints the exact hole (the protocol,
training masks), :func:`idinpaint.occlusion.composites.compose_spec` pastes a natural-looking
occluder (soft edges, shading, camera changes: what the O-Detector learns from and is measured on).

Kinds (the shape of the hole):

================================  =================================================================
``region:<name>``                 one of the 10 protocol regions (:data:`REGIONS`), its exact box
``random_part``                   one of the 10 regions, drawn with ``rng``
``random_block[:<size>]``         a square of ``size`` pixels (default 48, the centre block's side)
                                  at a random place fully inside the crop; ``:<min>-<max>`` draws
                                  the side uniformly in that range
``free_form``                     DeepFill-v2-style brush strokes
``maskthface[:<template>]``       a MaskTheFace occluder (default ``surgical``; ``random`` draws a
                                  frontal template with ``rng``) placed from the landmarks
``moved_region``                  one of the 10 regions, moved and rescaled
``block``                         a rectangle (axis-aligned or turned) or an ellipse, 14-70 px, anywhere
``glasses``                       two lenses over the eyes with a bridge and arms, from the landmarks
``band``                          a band across both eyes, like sunglasses (2.3 x 0.8 eye distances,
                                  turned with the eyes), from the landmarks; drawn on a crop or on a
                                  photo of any size (``idinpaint recover``'s demo inputs)
``clean``                         no occluder: the crop as it is, an empty mask (takes no fill)
================================  =================================================================

Fills (``@<fill>``, default ``black``; a maskthface spec defaults to ``@occluder``, its own
picture): ``black``, ``gray``, ``white``, ``noise`` (uniform per-pixel noise), and
``texture[:<family>]``: a picture tiled or drawn at random. Texture families are MaskTheFace's
texture folders (``check``, ``floral``, ``fruits``, ``others``: cloth-like patterns; plain
``@texture`` draws one of them) and the procedural ones: ``solid`` (one colour), ``noise`` (noise
of four kinds, unlike the plain ``@noise`` fill), ``stripes``, ``gradient`` and ``background``
(non-face photo content; needs background patches).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idinpaint.occlusion.maskthface import OccludersMissingError, list_templates
from idinpaint.occlusion.regions import REGION_NAMES
from idinpaint.paths import occluders_dir

FILL_VALUES = {"black": 0, "gray": 128, "white": 255}
TEXTURE_FILL = "texture"
FILLS: tuple[str, ...] = ("black", "gray", "white", "noise", TEXTURE_FILL)
OCCLUDER_FILL = "occluder"
#: The spec of the unoccluded condition (also its name in results tables).
CLEAN = "clean"
MASKTHFACE = "maskthface"
BAND = "band"
SPEC_KINDS: tuple[str, ...] = ("region", "random_part", "random_block", "free_form", MASKTHFACE,
                               "moved_region", "block", "glasses", BAND, CLEAN)
DEFAULT_BLOCK_SIZE = 48
#: Shape families drawn by code (the MaskTheFace templates add ``maskthface:<type>``, :func:`maskthface_shapes`).
BASE_SHAPES: tuple[str, ...] = ("moved_region", "block", "free_form", "glasses")
#: Texture families drawn by code (MaskTheFace's texture folders add theirs).
PROCEDURAL_TEXTURES: tuple[str, ...] = ("solid", "noise", "stripes", "gradient")
BACKGROUND = "background"


def occluder_folder(folder=None) -> str | None:
    """The MaskTheFace folder as a string, or None when it is not there (composites then go without)."""
    path = Path(folder) if folder is not None else occluders_dir()
    try:
        list_templates(folder=path)
    except OccludersMissingError:
        return None
    return str(path)


def maskthface_shapes(folder=None) -> list[str]:
    """``maskthface:<type>`` for every frontal MaskTheFace template (empty when the folder is missing)."""
    root = occluder_folder(folder)
    if root is None:
        return []
    return [f"{MASKTHFACE}:{name}" for name in list_templates(include_variants=False, folder=root)]


def require_generator(rng, why: str = "this draw") -> np.random.Generator:
    """``rng`` when it is a ``numpy.random.Generator``; a one-line ValueError otherwise."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{why} needs rng=numpy.random.default_rng(seed), got {type(rng).__name__}")
    return rng


def is_texture(fill: str) -> bool:
    return fill == TEXTURE_FILL or fill.startswith(TEXTURE_FILL + ":")


def texture_family(fill: str) -> str | None:
    """``texture:floral`` -> ``floral``; plain ``texture`` -> None (a MaskTheFace group drawn at random)."""
    return fill.partition(":")[2] or None


@dataclass(frozen=True)
class OcclusionSpec:
    kind: str
    arg: str | None
    fill: str

    def __str__(self) -> str:
        if self.kind == CLEAN:
            return CLEAN
        arg = f":{self.arg}" if self.arg is not None else ""
        return f"{self.kind}{arg}@{self.fill}"

    @property
    def block_sizes(self) -> tuple[int, int]:
        """``random_block``: the (min, max) side in pixels."""
        if self.arg is None:
            return DEFAULT_BLOCK_SIZE, DEFAULT_BLOCK_SIZE
        low, _, high = self.arg.partition("-")
        return int(low), int(high or low)


def parse_spec(spec: str) -> OcclusionSpec:
    """Parse and validate ``<kind>[:<arg>][@<fill>]`` (see the module docstring)."""
    if isinstance(spec, OcclusionSpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"occlusion spec must be a non-empty string like 'region:nose@black', got {spec!r}")
    body, at, fill = spec.strip().partition("@")
    kind, colon, arg = body.partition(":")
    arg = arg if colon else None
    if kind not in SPEC_KINDS:
        raise ValueError(f"{spec!r}: unknown occlusion kind {kind!r}; valid kinds: {', '.join(SPEC_KINDS)}")
    if kind == CLEAN:
        if arg is not None or at:
            raise ValueError(f"{spec!r}: clean takes no argument and no fill")
        return OcclusionSpec(CLEAN, None, "none")
    fill = fill or (OCCLUDER_FILL if kind == MASKTHFACE else "black")
    valid_fills = FILLS + ((OCCLUDER_FILL,) if kind == MASKTHFACE else ())
    if is_texture(fill):
        if not fill.partition(":")[2].isidentifier() and fill != TEXTURE_FILL:
            raise ValueError(f"{spec!r}: texture group must be a name like 'floral', got {fill.partition(':')[2]!r}")
    elif fill not in valid_fills:
        raise ValueError(f"{spec!r}: unknown fill {fill!r}; valid fills here: {', '.join(valid_fills)}")
    if kind == "region":
        if arg not in REGION_NAMES:
            raise ValueError(f"{spec!r}: region needs a name, one of: {', '.join(REGION_NAMES)}")
    elif kind == "random_block":
        low, dash, high = (arg or "").partition("-")
        if arg is not None and not (low.isdigit() and int(low) >= 1 and (not dash or (high.isdigit()
                                                                                  and int(high) >= int(low)))):
            raise ValueError(f"{spec!r}: random_block size must be a positive integer (48) or a range (24-64), got {arg!r}")
    elif kind == MASKTHFACE:
        if arg == "":
            raise ValueError(f"{spec!r}: empty template name (omit ':' for the default 'surgical')")
    elif arg is not None:
        raise ValueError(f"{spec!r}: {kind} takes no argument")
    return OcclusionSpec(kind, arg, fill)


def canonical_spec(spec) -> str:
    """The spec with its defaults written out (``region:nose`` -> ``region:nose@black``)."""
    return str(parse_spec(spec))


def weighted_specs(mix, aliases: dict[str, str] | None = None) -> tuple[list[str], np.ndarray]:
    """A training mix -> (specs, probabilities summing to 1). ``mix``: a list of ``[spec, weight]``
    pairs (the YAML form) or a mapping {spec: weight}; ``aliases`` maps older names to specs. Specs
    are validated; weights must be >= 0 and not all 0 (zero-weight specs are dropped)."""
    items = list(mix.items()) if isinstance(mix, dict) else [tuple(item) for item in mix]
    if any(len(item) != 2 for item in items):
        raise ValueError(f"a mix is a list of [spec, weight] pairs, got {mix!r}")
    specs, weights = [], []
    for spec, weight in items:
        spec = (aliases or {}).get(spec, spec)
        parse_spec(spec)
        if float(weight) < 0:
            raise ValueError(f"mix weights must be >= 0, got {weight} for {spec!r}")
        if float(weight) > 0:
            specs.append(spec)
            weights.append(float(weight))
    if not weights:
        raise ValueError(f"mix weights must not all be 0, got {mix!r}")
    return specs, np.array(weights) / sum(weights)
