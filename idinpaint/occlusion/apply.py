"""Painting the exact hole of a spec of the grammar (:mod:`idinpaint.occlusion.spec`): the protocol's
occlusions and the inpainter's training masks. ``make_occlusion(spec, image, rng, landmarks)`` ->
(occluded, mask); :func:`make_mask` for the kinds that need no image. Region and random masks live
on the square crop; landmarks place maskthface and glasses (default: the template). The
O-Detector's natural-looking rendering of the same specs is
:func:`idinpaint.occlusion.composites.compose_spec`.
"""
from __future__ import annotations

import functools

import numpy as np

from idinpaint.imageio import as_mask, check_image
from idinpaint.occlusion.maskthface import MASKTHEFACE_URL, apply_maskthface
from idinpaint.occlusion.random_masks import free_form_mask, random_block_mask, random_part_mask
from idinpaint.occlusion.regions import region_mask
from idinpaint.occlusion.shapes import BASE_SHAPES, band_mask, crop_points, shape_mask
from idinpaint.occlusion.spec import (  # noqa: F401  (re-exported: the grammar's names where they always were)
    BAND,
    CLEAN,
    DEFAULT_BLOCK_SIZE,
    FILL_VALUES,
    FILLS,
    MASKTHFACE,
    OCCLUDER_FILL,
    PROCEDURAL_TEXTURES,
    SPEC_KINDS,
    TEXTURE_FILL,
    OcclusionSpec,
    is_texture,
    parse_spec,
    require_generator,
    texture_family,
)
from idinpaint.occlusion.textures import TextureBank, make_texture
from idinpaint.paths import occluders_dir


def _check_rng(rng, why: str) -> np.random.Generator:
    return require_generator(rng, why)


@functools.lru_cache(maxsize=4)
def _texture_bank(folder: str) -> TextureBank:
    return TextureBank(folder=folder)


def texture_groups() -> tuple[str, ...]:
    """The MaskTheFace texture groups ``@texture:<group>`` accepts (empty without the occluder folder)."""
    return tuple(_texture_bank(str(occluders_dir())).groups)


def texture_fill(fill: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The (height, width, 3) uint8 picture ``@texture[:<family>]`` paints with: a MaskTheFace group's
    picture tiled at a random scale and offset, colour-jittered half of the time (the group drawn
    with ``rng`` for plain ``@texture``), or a procedural family (``solid``, ``noise``, ...)."""
    family = texture_family(fill)
    if family in PROCEDURAL_TEXTURES:
        return make_texture(family, height, width, rng)
    groups = texture_groups()
    if not groups:
        raise ValueError(f"fill {fill!r} needs the MaskTheFace texture pictures, not found under {occluders_dir()}; "
                         f"set IDINPAINT_OCCLUDERS to MaskTheFace's masks/ folder ({MASKTHEFACE_URL})")
    _, _, group = fill.partition(":")
    if group and group not in groups:
        raise ValueError(f"fill {fill!r}: unknown texture group {group!r}; valid: "
                         f"{', '.join(PROCEDURAL_TEXTURES + tuple(groups))} (background needs photo patches)")
    group = group or groups[int(rng.integers(len(groups)))]
    return make_texture(group, height, width, rng, bank=_texture_bank(str(occluders_dir())))


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
    elif is_texture(fill):
        rng = _check_rng(rng, f"fill={fill!r}")
        out[mask] = texture_fill(fill, *image.shape[:2], rng)[mask]
    else:
        raise ValueError(f"unknown fill {fill!r}; valid fills: {', '.join(FILLS)}")
    return out


def _square_size(image: np.ndarray, kind: str) -> int:
    height, width = image.shape[:2]
    if height != width:
        raise ValueError(f"{kind} masks are defined on square aligned crops, got image {height}x{width}")
    return height


def make_mask(spec: OcclusionSpec, size: int, rng: np.random.Generator | None, landmarks=None) -> np.ndarray:
    """The hole of a parsed non-maskthface spec on a ``size`` x ``size`` crop (``landmarks``: glasses)."""
    spec = parse_spec(spec)
    if spec.kind == "region":
        return region_mask(spec.arg, size)
    if spec.kind == "random_part":
        return random_part_mask(_check_rng(rng, "random_part"), size)
    if spec.kind == "random_block":
        low, high = spec.block_sizes
        rng = _check_rng(rng, "random_block")
        block = low if low == high else int(rng.integers(low, high + 1))
        return random_block_mask(rng, block, size)
    if spec.kind == "free_form":
        return free_form_mask(_check_rng(rng, "free_form"), size)
    if spec.kind == BAND:
        return band_mask((size, size), crop_points(landmarks, size))
    if spec.kind in BASE_SHAPES:
        return shape_mask(spec.kind, size, _check_rng(rng, spec.kind), landmarks)
    if spec.kind == CLEAN:
        return np.zeros((size, size), dtype=bool)
    raise ValueError(f"{spec}: make_mask does not handle {spec.kind!r} (it needs the image)")


def make_occlusion(spec: str | OcclusionSpec, image: np.ndarray, rng: np.random.Generator | None,
                   landmarks=None) -> tuple[np.ndarray, np.ndarray]:
    """Occlude ``image`` as ``spec`` says. Returns (occluded RGB uint8, bool mask, True = hole).

    ``rng`` is needed by the random kinds, ``noise`` and ``texture`` fills and ``maskthface:random``;
    ``landmarks`` (5 points, ARCFACE_TEMPLATE order) place maskthface, glasses and band (default: the
    template); with landmarks a band is drawn on an image of any size.
    """
    parsed = spec if isinstance(spec, OcclusionSpec) else parse_spec(spec)
    image = check_image(image)
    if parsed.kind == MASKTHFACE:
        template = parsed.arg or "surgical"
        occluded, mask = apply_maskthface(image, landmarks=landmarks, template=template, rng=rng)
        if parsed.fill == OCCLUDER_FILL:
            return occluded, mask
    elif parsed.kind == CLEAN:
        return image.copy(), np.zeros(image.shape[:2], dtype=bool)
    elif parsed.kind == BAND and landmarks is not None:  # a band needs no square crop: it follows the landmarks
        mask = band_mask(image.shape[:2], crop_points(landmarks, image.shape[0]))
    else:
        mask = make_mask(parsed, _square_size(image, parsed.kind), rng, landmarks)
    return occlude(image, mask, parsed.fill, rng), mask
