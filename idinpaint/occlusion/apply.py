"""Putting a hole into an image, and building (occluded, mask) pairs from a short text spec.

Spec grammar: ``<kind>[:<arg>][@<fill>]``

==========================  ===============================================================
``region:<name>``           one of the 10 protocol regions (:data:`REGIONS`)
``random_part``             one of the 10 regions, drawn with ``rng``
``random_block[:<size>]``   a square of ``size`` pixels (default 48, the centre block's side)
                            at a random place fully inside the image
``free_form``               DeepFill-v2-style brush strokes (:func:`free_form_mask`)
``maskthface[:<template>]`` a MaskTheFace occluder (default ``surgical``; ``random`` draws a
                            frontal template with ``rng``) placed from the landmarks
==========================  ===============================================================

``@<fill>`` is one of :data:`FILLS` (default ``black``); a maskthface spec defaults to
``@occluder`` (the occluder's own pixels) and may instead take a plain fill, which paints its
exact hole. ``@texture`` paints the hole with a MaskTheFace texture picture (``check``, ``floral``,
``fruits``, ``others``: cloth-like patterns, not flat colour) tiled at a random scale and offset,
colour-jittered half of the time, the group drawn with ``rng``; ``@texture:<group>`` fixes the
group (``random_block:48@texture:floral``). Region and random masks live on the square crop;
landmarks are only used by maskthface.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from idinpaint.imageio import as_mask, check_image
from idinpaint.occlusion.composites import TextureBank, make_texture
from idinpaint.occlusion.maskthface import MASKTHEFACE_URL, apply_maskthface
from idinpaint.occlusion.random_masks import free_form_mask, random_block_mask, random_part_mask
from idinpaint.occlusion.regions import REGION_NAMES, region_mask
from idinpaint.paths import occluders_dir

FILL_VALUES = {"black": 0, "gray": 128, "white": 255}
TEXTURE_FILL = "texture"
FILLS: tuple[str, ...] = ("black", "gray", "white", "noise", TEXTURE_FILL)
OCCLUDER_FILL = "occluder"
SPEC_KINDS: tuple[str, ...] = ("region", "random_part", "random_block", "free_form", "maskthface")
DEFAULT_BLOCK_SIZE = 48


def _check_rng(rng, why: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{why} needs rng=numpy.random.default_rng(seed), got {type(rng).__name__}")
    return rng


@functools.lru_cache(maxsize=4)
def _texture_bank(folder: str) -> TextureBank:
    return TextureBank(folder=folder)


def texture_groups() -> tuple[str, ...]:
    """The MaskTheFace texture groups ``@texture:<group>`` accepts (empty without the occluder folder)."""
    return tuple(_texture_bank(str(occluders_dir())).groups)


def texture_fill(fill: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The (height, width, 3) uint8 picture ``@texture[:<group>]`` paints with (see the module docstring)."""
    groups = texture_groups()
    if not groups:
        raise ValueError(f"fill {fill!r} needs the MaskTheFace texture pictures, not found under {occluders_dir()}; "
                         f"set IDINPAINT_OCCLUDERS to MaskTheFace's masks/ folder ({MASKTHEFACE_URL})")
    _, _, group = fill.partition(":")
    if group and group not in groups:
        raise ValueError(f"fill {fill!r}: unknown texture group {group!r}; valid: {', '.join(groups)}")
    group = group or groups[int(rng.integers(len(groups)))]
    return make_texture(group, height, width, rng, bank=_texture_bank(str(occluders_dir())))


def _is_texture(fill: str) -> bool:
    return fill == TEXTURE_FILL or fill.startswith(TEXTURE_FILL + ":")


def occlude(image: np.ndarray, mask: np.ndarray, fill: str = "black",
            rng: np.random.Generator | None = None) -> np.ndarray:
    """Copy of ``image`` with the hole (mask True) painted: black 0, gray 128, white 255,
    ``noise`` (independent uniform uint8 per pixel and channel, drawn from ``rng``) or
    ``texture[:<group>]`` (a tiled MaskTheFace texture picture drawn from ``rng``)."""
    image = check_image(image)
    mask = as_mask(mask, shape=image.shape[:2])
    out = image.copy()
    if fill in FILL_VALUES:
        out[mask] = FILL_VALUES[fill]
    elif fill == "noise":
        rng = _check_rng(rng, "fill='noise'")
        out[mask] = rng.integers(0, 256, size=(int(mask.sum()), 3), dtype=np.uint8)
    elif _is_texture(fill):
        rng = _check_rng(rng, f"fill={fill!r}")
        out[mask] = texture_fill(fill, *image.shape[:2], rng)[mask]
    else:
        raise ValueError(f"unknown fill {fill!r}; valid fills: {', '.join(FILLS)}")
    return out


@dataclass(frozen=True)
class OcclusionSpec:
    kind: str
    arg: str | None
    fill: str

    def __str__(self) -> str:
        arg = f":{self.arg}" if self.arg is not None else ""
        return f"{self.kind}{arg}@{self.fill}"


def parse_spec(spec: str) -> OcclusionSpec:
    """Parse and validate ``<kind>[:<arg>][@<fill>]`` (see the module docstring)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"occlusion spec must be a non-empty string like 'region:nose@black', got {spec!r}")
    body, _, fill = spec.strip().partition("@")
    kind, colon, arg = body.partition(":")
    arg = arg if colon else None
    if kind not in SPEC_KINDS:
        raise ValueError(f"{spec!r}: unknown occlusion kind {kind!r}; valid kinds: {', '.join(SPEC_KINDS)}")
    fill = fill or (OCCLUDER_FILL if kind == "maskthface" else "black")
    valid_fills = FILLS + ((OCCLUDER_FILL,) if kind == "maskthface" else ())
    if _is_texture(fill):
        if not fill.partition(":")[2].isidentifier() and fill != TEXTURE_FILL:
            raise ValueError(f"{spec!r}: texture group must be a name like 'floral', got {fill.partition(':')[2]!r}")
    elif fill not in valid_fills:
        raise ValueError(f"{spec!r}: unknown fill {fill!r}; valid fills here: {', '.join(valid_fills)}")
    if kind == "region":
        if arg not in REGION_NAMES:
            raise ValueError(f"{spec!r}: region needs a name, one of: {', '.join(REGION_NAMES)}")
    elif kind == "random_block":
        if arg is not None and (not arg.isdigit() or int(arg) < 1):
            raise ValueError(f"{spec!r}: random_block size must be a positive integer, got {arg!r}")
    elif kind == "maskthface":
        if arg == "":
            raise ValueError(f"{spec!r}: empty template name (omit ':' for the default 'surgical')")
    elif arg is not None:
        raise ValueError(f"{spec!r}: {kind} takes no argument")
    return OcclusionSpec(kind, arg, fill)


def _square_size(image: np.ndarray, kind: str) -> int:
    height, width = image.shape[:2]
    if height != width:
        raise ValueError(f"{kind} masks are defined on square aligned crops, got image {height}x{width}")
    return height


def make_mask(spec: OcclusionSpec, size: int, rng: np.random.Generator | None) -> np.ndarray:
    """The hole of a parsed non-maskthface spec on a ``size`` x ``size`` crop."""
    if spec.kind == "region":
        return region_mask(spec.arg, size)
    if spec.kind == "random_part":
        return random_part_mask(_check_rng(rng, "random_part"), size)
    if spec.kind == "random_block":
        block = int(spec.arg) if spec.arg is not None else DEFAULT_BLOCK_SIZE
        return random_block_mask(_check_rng(rng, "random_block"), block, size)
    if spec.kind == "free_form":
        return free_form_mask(_check_rng(rng, "free_form"), size)
    raise ValueError(f"{spec}: make_mask does not handle {spec.kind!r} (it needs the image)")


def make_occlusion(spec: str | OcclusionSpec, image: np.ndarray, rng: np.random.Generator | None,
                   landmarks=None) -> tuple[np.ndarray, np.ndarray]:
    """Occlude ``image`` as ``spec`` says. Returns (occluded RGB uint8, bool mask, True = hole).

    ``rng`` is needed by the random kinds, ``noise`` fill and ``maskthface:random``; ``landmarks``
    (5 points, ARCFACE_TEMPLATE order) are used by maskthface only and default to the template.
    """
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    image = check_image(image)
    if parsed.kind == "maskthface":
        template = parsed.arg or "surgical"
        occluded, mask = apply_maskthface(image, landmarks=landmarks, template=template, rng=rng)
        if parsed.fill == OCCLUDER_FILL:
            return occluded, mask
    else:
        mask = make_mask(parsed, _square_size(image, parsed.kind), rng)
    return occlude(image, mask, parsed.fill, rng), mask
