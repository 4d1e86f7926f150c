"""Synthetic occlusion composites: what the O-Detector learns from and is measured on.

A composite is an aligned face crop with an occluder pasted on it and the occluder's exact mask
(bool (H, W), True = occluded). Every draw takes a ``numpy.random.Generator`` and nothing else, so
the same generator state always gives the same composite.

An occluder is a **shape** family and a **texture** family (what fills the shape). Both have names,
so whole families can be held out of training and measured on their own
(:class:`CompositeSampler` ``held_out``):

==========================  ===================================================================
shapes
``maskthface:<type>``       a MaskTheFace occluder (``surgical``, ``N95``, ``KN95``, ``cloth``, ``gas``,
                            ...), placed from the crop's landmarks jittered in position, scale and
                            angle (turned templates for turned heads); its own pixels (texture
                            ``own``) or re-textured with any texture family, keeping its shading
``region``                  one of the 10 protocol regions, moved and rescaled
``block``                   a rectangle (axis-aligned or turned) or an ellipse, 14-70 px, anywhere
``free_form``               DeepFill-v2 brush strokes
``glasses``                 two lenses over the eyes with a bridge and arms (sunglasses), from the landmarks
textures
``solid``                   one colour (a third of the time the face's own mean colour: a flat
                            skin-coloured patch), faint noise
``noise``                   per-pixel uniform noise (the protocol's ``@noise``), Gaussian noise around
                            a colour, low-frequency blobs, or grey noise
``stripes``                 stripes (square or sine profile) or checks, any period, angle, colours
``gradient``                a linear ramp between two colours
``background``              a patch of non-face photo content (:func:`background_patches`: corners of
                            LFW's raw photos, away from the face)
``check``, ``floral``, ...  MaskTheFace's texture folders (``textures/<group>/``), tiled at any scale
``own``                     (MaskTheFace shapes only) the occluder's own picture
==========================  ===================================================================

Augmentation, so the detector cannot learn "black = hole" or "flat = hole": texture colours are
jittered, textured shapes get soft edges and shading, and the whole composite (clean faces too)
gets brightness / contrast / gamma / colour-temperature changes, blur, noise, JPEG compression, a
small affine jitter (alignment errors) and a mirror flip, the mask following the geometry. Clean
faces (shape ``clean``, an empty mask) teach it to say "nothing".
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from idinpaint.align import ARCFACE_TEMPLATE, CROP_SIZE
from idinpaint.data.aligned import aligned_name, read_landmarks
from idinpaint.imageio import BadImageError, check_image, read_rgb
from idinpaint.occlusion.maskthface import (
    TEXTURE_SUFFIXES,
    OccludersMissingError,
    apply_maskthface,
    list_templates,
    list_textures,
)
from idinpaint.occlusion.random_masks import free_form_mask
from idinpaint.occlusion.regions import REGION_NAMES, region_box
from idinpaint.paths import occluders_dir

CLEAN = "clean"
OWN = "own"
MASKTHFACE = "maskthface"
BASE_SHAPES: tuple[str, ...] = ("region", "block", "free_form", "glasses")
PROCEDURAL_TEXTURES: tuple[str, ...] = ("solid", "noise", "stripes", "gradient")
BACKGROUND = "background"
#: The shape kinds of a training draw and their default weights (``maskthface`` is split evenly
#: over the MaskTheFace types that are not held out).
DEFAULT_MIX = {CLEAN: 0.12, MASKTHFACE: 0.33, "region": 0.15, "block": 0.15, "free_form": 0.1, "glasses": 0.15}
#: Chance that a MaskTheFace occluder keeps its own picture (else it is re-textured).
DEFAULT_OWN = 0.6
#: MaskTheFace texture pictures are kept at most this wide (a tile is 24-112 px).
TEXTURE_WIDTH = 224


@dataclass(frozen=True)
class Composite:
    image: np.ndarray   # RGB uint8 (H, W, 3)
    mask: np.ndarray    # bool (H, W), True = occluded
    shape: str          # shape family (``clean`` for none)
    texture: str        # texture family (``own``, ``none`` for clean)


def _rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    return rng


# --- families ---------------------------------------------------------------------------------------

def _occluder_folder(folder) -> str | None:
    """The MaskTheFace folder as a string, or None when it is not there (composites then go without)."""
    path = Path(folder) if folder is not None else occluders_dir()
    try:
        list_templates(folder=path)
    except OccludersMissingError:
        return None
    return str(path)


def maskthface_shapes(folder=None) -> list[str]:
    """``maskthface:<type>`` for every frontal MaskTheFace template (empty when the folder is missing)."""
    root = _occluder_folder(folder)
    if root is None:
        return []
    return [f"{MASKTHFACE}:{name}" for name in list_templates(include_variants=False, folder=root)]


@functools.lru_cache(maxsize=4)
def _texture_groups(root: str | None) -> dict[str, tuple[str, ...]]:
    if root is None:
        return {}
    groups: dict[str, list[str]] = {}
    for name in list_textures(root):
        group, _, _ = name.partition("/")
        if group in PROCEDURAL_TEXTURES or group in (BACKGROUND, OWN, CLEAN):
            continue  # a folder may not shadow a built-in family
        groups.setdefault(group, []).append(name)
    return {group: tuple(names) for group, names in sorted(groups.items())}


def maskthface_texture_groups(folder=None) -> dict[str, tuple[str, ...]]:
    """MaskTheFace texture folders (``check``, ``floral``, ``fruits``, ``others``) -> texture names."""
    return _texture_groups(_occluder_folder(folder))


@functools.lru_cache(maxsize=64)
def _texture_picture(root: str, name: str) -> np.ndarray:
    base = Path(root) / "textures" / name
    for path in [base, *(base.with_name(base.name + s) for s in TEXTURE_SUFFIXES)]:
        if path.is_file():
            picture = read_rgb(path)
            if picture.shape[1] > TEXTURE_WIDTH:  # tiles are at most 112 px wide: keep a small copy
                height = max(1, round(picture.shape[0] * TEXTURE_WIDTH / picture.shape[1]))
                picture = cv2.resize(picture, (TEXTURE_WIDTH, height), interpolation=cv2.INTER_AREA)
            picture.setflags(write=False)
            return picture
    raise ValueError(f"texture {name!r} not found under {Path(root) / 'textures'}")


@dataclass
class TextureBank:
    """Where textures come from: background patches (RGB uint8 arrays of non-face photo content,
    see :func:`background_patches`) and the MaskTheFace folder (``None``: the default one)."""

    backgrounds: list = field(default_factory=list)
    folder: str | None = None

    def __post_init__(self):
        self.root = _occluder_folder(self.folder)
        self.groups = _texture_groups(self.root)
        for patch in self.backgrounds:
            check_image(patch, "background patch")

    def texture_families(self) -> list[str]:
        return list(PROCEDURAL_TEXTURES) + ([BACKGROUND] if self.backgrounds else []) + list(self.groups)

    def shape_families(self) -> list[str]:
        shapes = [] if self.root is None else maskthface_shapes(self.root)
        return shapes + list(BASE_SHAPES)

    def families(self) -> list[str]:
        return self.shape_families() + self.texture_families()


# --- textures -----------------------------------------------------------------------------------------

def _colour(rng) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def make_texture(family: str, height: int, width: int, rng: np.random.Generator, bank: TextureBank | None = None,
                 face: np.ndarray | None = None) -> np.ndarray:
    """An RGB uint8 (height, width, 3) texture of ``family`` (see the module docstring). ``face``:
    the crop being occluded (``solid`` sometimes takes its mean colour)."""
    rng = _rng(rng)
    bank = bank if bank is not None else TextureBank()
    h, w = int(height), int(width)
    if family == "solid":
        colour = _colour(rng)
        if face is not None and rng.random() < 1 / 3:
            colour = np.clip(face.reshape(-1, 3).mean(0) + rng.normal(0, 12, 3), 0, 255).astype(np.float32)
        out = np.broadcast_to(colour, (h, w, 3)) + rng.normal(0, rng.uniform(0, 4), (h, w, 3))
    elif family == "noise":
        kind = int(rng.integers(4))
        if kind == 0:    # the protocol's @noise
            out = rng.integers(0, 256, size=(h, w, 3)).astype(np.float32)
        elif kind == 1:  # Gaussian around a colour
            out = _colour(rng) + rng.normal(0, rng.uniform(10, 60), (h, w, 3))
        elif kind == 2:  # low-frequency blobs
            cells = int(rng.integers(3, 29))
            small = rng.integers(0, 256, size=(cells, cells, 3)).astype(np.float32)
            out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        else:            # grey noise
            out = np.repeat(rng.integers(0, 256, size=(h, w, 1)).astype(np.float32), 3, axis=2)
    elif family == "stripes":
        period = rng.uniform(4, 28)
        angle = rng.uniform(0, math.pi)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = 2 * math.pi * (xs * math.cos(angle) + ys * math.sin(angle)) / period + rng.uniform(0, 2 * math.pi)
        wave = np.sin(phase)
        if rng.random() < 0.3:  # checks
            across = 2 * math.pi * (-xs * math.sin(angle) + ys * math.cos(angle)) / period
            wave = np.sign(wave) * np.sign(np.sin(across) + 1e-6)
        weight = (wave > 0).astype(np.float32) if rng.random() < 0.5 else (wave + 1) / 2
        a, b = _colour(rng), _colour(rng)
        out = a * weight[..., None] + b * (1 - weight[..., None])
    elif family == "gradient":
        angle = rng.uniform(0, 2 * math.pi)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = xs * math.cos(angle) + ys * math.sin(angle)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
        a, b = _colour(rng), _colour(rng)
        out = a * ramp[..., None] + b * (1 - ramp[..., None])
    elif family == BACKGROUND:
        if not bank.backgrounds:
            raise ValueError("texture 'background' needs background patches in the TextureBank")
        patch = bank.backgrounds[int(rng.integers(len(bank.backgrounds)))]
        ph, pw = patch.shape[:2]
        zoom = rng.uniform(0.5, 1.0)
        ch, cw = max(4, int(ph * zoom)), max(4, int(pw * zoom))
        y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
        crop = patch[y:y + ch, x:x + cw]
        crop = np.rot90(crop, int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    elif family in bank.groups:
        names = bank.groups[family]
        picture = _texture_picture(bank.root, names[int(rng.integers(len(names)))])
        tile_w = int(rng.integers(24, 113))
        tile_h = max(4, int(round(picture.shape[0] * tile_w / picture.shape[1])))
        tile = cv2.resize(picture, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        reps = (-(-(h + tile_h) // tile_h), -(-(w + tile_w) // tile_w), 1)
        tiled = np.tile(tile, reps)
        y, x = int(rng.integers(tile_h)), int(rng.integers(tile_w))
        out = tiled[y:y + h, x:x + w].astype(np.float32)
    else:
        valid = bank.texture_families()
        raise ValueError(f"unknown texture family {family!r}; valid: {', '.join(valid)}")
    if rng.random() < 0.5:  # colour jitter of the texture
        out = out * rng.uniform(0.8, 1.2, 3) + rng.uniform(-15, 15)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# --- shapes -------------------------------------------------------------------------------------------

def _landmarks(landmarks, size: int) -> np.ndarray:
    if landmarks is None:
        return ARCFACE_TEMPLATE * (size / CROP_SIZE)
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be 5 finite (x, y) points, got shape {points.shape}")
    return points


def _region(rng, size: int) -> np.ndarray:
    x1, y1, x2, y2 = region_box(REGION_NAMES[int(rng.integers(len(REGION_NAMES)))], size)
    cx, cy = (x1 + x2) / 2 + rng.uniform(-10, 10), (y1 + y2) / 2 + rng.uniform(-10, 10)
    half_w, half_h = (x2 - x1) / 2 * rng.uniform(0.75, 1.25), (y2 - y1) / 2 * rng.uniform(0.75, 1.25)
    mask = np.zeros((size, size), dtype=bool)
    top, bottom = int(np.clip(round(cy - half_h), 0, size - 1)), int(np.clip(round(cy + half_h), 1, size))
    left, right = int(np.clip(round(cx - half_w), 0, size - 1)), int(np.clip(round(cx + half_w), 1, size))
    mask[top:max(bottom, top + 1), left:max(right, left + 1)] = True
    return mask


def _block(rng, size: int) -> np.ndarray:
    canvas = np.zeros((size, size), dtype=np.uint8)
    w, h = rng.uniform(14, 70, size=2)
    centre = rng.uniform(10, size - 10, size=2)
    angle = 0.0 if rng.random() < 0.5 else rng.uniform(0, 180)
    if rng.random() < 0.3:
        cv2.ellipse(canvas, (tuple(int(round(v)) for v in centre), (int(round(w)), int(round(h))), angle),
                    255, thickness=-1)
    else:
        corners = cv2.boxPoints((tuple(float(v) for v in centre), (float(w), float(h)), float(angle)))
        cv2.fillConvexPoly(canvas, np.round(corners).astype(np.int32), 255)
    return canvas > 0


def _glasses(rng, size: int, landmarks: np.ndarray) -> np.ndarray:
    canvas = np.zeros((size, size), dtype=np.uint8)
    left, right = landmarks[0], landmarks[1]
    distance = float(np.hypot(*(right - left)))
    tilt = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    a, b = distance * rng.uniform(0.32, 0.46), distance * rng.uniform(0.22, 0.36)
    lift = rng.uniform(-0.05, 0.12) * distance  # lenses sit a little above or on the eye line
    round_lens = rng.random() < 0.6
    direction = (right - left) / max(distance, 1e-6)
    normal = np.array([direction[1], -direction[0]])
    lens_centres = [eye + normal * lift + rng.normal(0, 1.0, 2) for eye in (left, right)]
    for centre in lens_centres:
        if round_lens:
            cv2.ellipse(canvas, (tuple(int(round(v)) for v in centre), (int(round(2 * a)), int(round(2 * b))), tilt),
                        255, thickness=-1)
        else:
            corners = cv2.boxPoints((tuple(float(v) for v in centre), (2 * a, 2 * b), tilt))
            cv2.fillConvexPoly(canvas, np.round(corners).astype(np.int32), 255)
    thickness = max(2, int(round(distance * rng.uniform(0.05, 0.09))))
    inner = [lens_centres[0] + direction * a * 0.9, lens_centres[1] - direction * a * 0.9]
    cv2.line(canvas, tuple(int(round(v)) for v in inner[0]), tuple(int(round(v)) for v in inner[1]), 255, thickness)
    if rng.random() < 0.7:  # arms towards the ears
        for centre, sign in ((lens_centres[0], -1), (lens_centres[1], 1)):
            start = centre + sign * direction * a * 0.9
            end = start + sign * direction * distance * rng.uniform(0.4, 0.9)
            cv2.line(canvas, tuple(int(round(v)) for v in start), tuple(int(round(v)) for v in end), 255, thickness)
    return canvas > 0


def shape_mask(shape: str, size: int, rng: np.random.Generator, landmarks=None) -> np.ndarray:
    """The bool mask of a non-MaskTheFace shape family on a ``size`` x ``size`` crop."""
    rng = _rng(rng)
    if shape == "region":
        return _region(rng, size)
    if shape == "block":
        return _block(rng, size)
    if shape == "free_form":
        return free_form_mask(rng, size)
    if shape == "glasses":
        return _glasses(rng, size, _landmarks(landmarks, size))
    raise ValueError(f"unknown shape family {shape!r}; valid: maskthface:<type>, {', '.join(BASE_SHAPES)}")


def jitter_landmarks(landmarks: np.ndarray, rng: np.random.Generator, shift: float = 5.0,
                     scale=(0.9, 1.12), degrees: float = 10.0) -> np.ndarray:
    """Landmarks moved, rescaled and turned about their centroid: an occluder placed from them sits
    higher or lower, bigger or smaller and tilted, as real ones do."""
    centre = landmarks.mean(0)
    angle = math.radians(rng.uniform(-degrees, degrees))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    factor = rng.uniform(*scale)
    return (landmarks - centre) @ rotation.T * factor + centre + rng.uniform(-shift, shift, 2)


# --- composing ----------------------------------------------------------------------------------------

def _paste(face: np.ndarray, mask: np.ndarray, texture: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Texture into the shape with soft edges (sometimes) and shading; the mask is alpha > 0.5."""
    alpha = mask.astype(np.float32)
    if rng.random() < 0.5:
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5))
    fill = texture.astype(np.float32)
    if rng.random() < 0.5:  # light falling across the occluder
        size = face.shape[0]
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
        angle = rng.uniform(0, 2 * math.pi)
        shade = 1 + rng.uniform(-0.25, 0.25) * (math.cos(angle) * (xs - 0.5) + math.sin(angle) * (ys - 0.5)) * 2
        fill *= shade[..., None]
    out = face.astype(np.float32) * (1 - alpha[..., None]) + fill * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha > 0.5


def _retexture_in_crop(occluded: np.ndarray, mask: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """The occluder re-coloured with ``texture``, keeping its shading: as
    :func:`~idinpaint.occlusion.maskthface.retexture` does on the template, but on the crop's
    pixels (100 times cheaper than re-texturing a full-size template for every draw)."""
    luminance = cv2.cvtColor(occluded, cv2.COLOR_RGB2GRAY).astype(np.float32)[mask]
    top = max(float(np.percentile(luminance, 95)), 1.0)
    shade = 0.3 + 0.7 * np.clip(luminance / top, 0.0, 1.0)
    out = occluded.copy()
    out[mask] = np.clip(texture[mask].astype(np.float32) * shade[:, None] + 0.5, 0, 255).astype(np.uint8)
    return out


def _maskthface(face, shape: str, texture: str, rng, landmarks, bank: TextureBank):
    if bank.root is None:
        raise ValueError(f"shape {shape!r} needs the MaskTheFace folder (see idinpaint.occlusion.maskthface)")
    template = shape.partition(":")[2]
    points = jitter_landmarks(_landmarks(landmarks, face.shape[0]), rng)
    occluded, mask = apply_maskthface(face, landmarks=points, template=template, pose="auto", folder=bank.root)
    if texture != OWN and mask.any():
        occluded = _retexture_in_crop(occluded, mask, make_texture(texture, *face.shape[:2], rng, bank, face))
    if rng.random() < 0.7:  # colour of the occluder itself
        pixels = occluded[mask].astype(np.float32) * rng.uniform(0.7, 1.3, 3) + rng.uniform(-25, 25)
        occluded[mask] = np.clip(pixels + 0.5, 0, 255).astype(np.uint8)
    return occluded, mask


def augment_photometric(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    """Whole-crop changes a camera or an aligner makes; the mask follows the geometry."""
    out = image.astype(np.float32)
    if rng.random() < 0.8:
        out = out * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)
    if rng.random() < 0.5:
        out = out * rng.uniform(0.9, 1.1, 3)
    if rng.random() < 0.3:
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.05:
        grey = out @ np.array([0.299, 0.587, 0.114], np.float32)
        out = np.repeat(grey[..., None], 3, axis=2)
    if rng.random() < 0.15:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.2:
        out = out + rng.normal(0, rng.uniform(1, 6), out.shape)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        quality = int(rng.integers(40, 96))
        ok, encoded = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        out = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    if rng.random() < 0.5:  # alignment error: a small similarity jitter
        size = out.shape[0]
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-8, 8), rng.uniform(0.9, 1.1))
        matrix[:, 2] += rng.uniform(-4, 4, 2)
        out = cv2.warpAffine(out, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        mask = cv2.warpAffine(mask.astype(np.uint8), matrix, (size, size), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_REFLECT) > 0
    if rng.random() < 0.5:
        out, mask = out[:, ::-1], mask[:, ::-1]
    return np.ascontiguousarray(out), np.ascontiguousarray(mask)


def compose(face: np.ndarray, shape: str, texture: str, rng: np.random.Generator, landmarks=None,
            bank: TextureBank | None = None, augment: bool = True) -> Composite:
    """Occlude ``face`` (an aligned crop) with one occluder of ``shape`` filled with ``texture``.

    ``shape``: ``clean`` (no occluder: the face as is, an empty mask), ``maskthface:<type>`` or one
    of :data:`BASE_SHAPES`; ``texture``: a texture family of ``bank`` or ``own`` (MaskTheFace
    shapes only). ``landmarks``: the crop's 5 points (default the template). ``augment``: the
    photometric / geometric augmentation of :func:`augment_photometric`.
    """
    rng = _rng(rng)
    face = check_image(face, "face")
    bank = bank if bank is not None else TextureBank()
    size = face.shape[0]
    if face.shape[1] != size:
        raise ValueError(f"composites are made on square aligned crops, got {face.shape[1]}x{size}")
    if shape == CLEAN:
        image, mask, texture = face.copy(), np.zeros((size, size), dtype=bool), "none"
    elif shape.startswith(MASKTHFACE + ":"):
        image, mask = _maskthface(face, shape, texture, rng, landmarks, bank)
    else:
        if texture == OWN:
            raise ValueError(f"texture 'own' belongs to MaskTheFace shapes, not {shape!r}")
        base = shape_mask(shape, size, rng, landmarks)
        picture = make_texture(texture, size, size, rng, bank, face)
        if shape == "glasses" and texture == "solid" and rng.random() < 0.5:  # most sunglasses are dark
            picture = np.clip(picture.astype(np.int32) // 4, 0, 255).astype(np.uint8)
        image, mask = _paste(face, base, picture, rng)
    if augment:
        image, mask = augment_photometric(image, mask, rng)
    return Composite(image, mask, shape, texture)


# --- training draws ----------------------------------------------------------------------------------

class CompositeSampler:
    """Training draws: a shape kind by ``mix`` weight (``maskthface`` split evenly over its types), a
    texture uniformly (a MaskTheFace shape keeps its own picture with probability ``own``), never
    a family in ``held_out``. ``held_out`` names shape families (``maskthface:KN95``, ``glasses``)
    or texture families (``floral``, ``stripes``); unknown names raise ValueError listing the valid ones."""

    def __init__(self, mix: dict | None = None, held_out: Sequence[str] = (), bank: TextureBank | None = None,
                 own: float = DEFAULT_OWN, augment: bool = True):
        self.bank = bank if bank is not None else TextureBank()
        self.held_out = tuple(dict.fromkeys(held_out))
        known = set(self.bank.families())
        unknown = [name for name in self.held_out if name not in known]
        if unknown:
            raise ValueError(f"held-out families {unknown} are not families here; valid: {', '.join(sorted(known))}")
        mix = dict(DEFAULT_MIX if mix is None else mix)
        bad = sorted(set(mix) - set(DEFAULT_MIX))
        if bad or any(float(v) < 0 for v in mix.values()):
            raise ValueError(f"mix takes non-negative weights for {', '.join(DEFAULT_MIX)}, got {mix}")
        self.maskthface = [s for s in self.bank.shape_families() if s.startswith(MASKTHFACE) and s not in self.held_out]
        self.textures = [t for t in self.bank.texture_families() if t not in self.held_out]
        if not self.textures:
            raise ValueError("every texture family is held out: nothing left to train on")
        available = {kind: float(weight) for kind, weight in mix.items()
                     if (kind != MASKTHFACE or self.maskthface) and kind not in self.held_out}
        total = sum(available.values())
        if total <= 0:
            raise ValueError(f"no shape kind left to draw from (mix {mix}, held out {list(self.held_out)})")
        self.kinds = list(available)
        self.weights = np.array([available[k] for k in self.kinds]) / total
        self.own, self.augment = float(own), bool(augment)

    def draw_family(self, rng: np.random.Generator) -> tuple[str, str]:
        """(shape, texture) of the next training draw."""
        kind = self.kinds[int(rng.choice(len(self.kinds), p=self.weights))]
        if kind == CLEAN:
            return CLEAN, "none"
        if kind == MASKTHFACE:
            shape = self.maskthface[int(rng.integers(len(self.maskthface)))]
            if rng.random() < self.own:
                return shape, OWN
            return shape, self.textures[int(rng.integers(len(self.textures)))]
        return kind, self.textures[int(rng.integers(len(self.textures)))]

    def draw(self, face: np.ndarray, rng: np.random.Generator, landmarks=None) -> Composite:
        shape, texture = self.draw_family(_rng(rng))
        return compose(face, shape, texture, rng, landmarks, self.bank, self.augment)

    def batch(self, faces: np.ndarray, rng: np.random.Generator, landmarks: Sequence | None = None):
        """Composites of a batch of crops: (images (N, H, W, 3), masks (N, H, W), [(shape, texture)])."""
        drawn = [self.draw(face, rng, None if landmarks is None else landmarks[i]) for i, face in enumerate(faces)]
        return (np.stack([c.image for c in drawn]), np.stack([c.mask for c in drawn]),
                [(c.shape, c.texture) for c in drawn])


# --- background textures ----------------------------------------------------------------------------

def background_patches(photo: np.ndarray, face_box, rng: np.random.Generator, count: int = 4,
                       sizes=(24, 64), margin: float = 0.2, tries: int = 30) -> list[np.ndarray]:
    """Up to ``count`` square patches of ``photo`` (RGB uint8) that stay clear of the face box
    ``(x, y, w, h)`` grown by ``margin`` on every side: non-face content (walls, sky, crowds'
    clothes, podiums) for the ``background`` texture family."""
    rng = _rng(rng)
    photo = check_image(photo, "photo")
    height, width = photo.shape[:2]
    x, y, w, h = (float(v) for v in face_box)
    grow_w, grow_h = w * margin, h * margin
    box = (x - grow_w, y - grow_h, x + w + grow_w, y + h + grow_h)
    patches = []
    for _ in range(tries):
        if len(patches) >= count:
            break
        side = int(rng.integers(sizes[0], sizes[1] + 1))
        if side > min(height, width):
            continue
        px, py = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        if px < box[2] and px + side > box[0] and py < box[3] and py + side > box[1]:
            continue
        patches.append(np.ascontiguousarray(photo[py:py + side, px:px + side]))
    return patches


def face_box_from_landmarks(points: np.ndarray) -> tuple[float, float, float, float]:
    """A generous (x, y, w, h) box around a face from its 5 landmarks (hair and chin included)."""
    points = np.asarray(points, dtype=np.float64)
    distance = float(np.hypot(*(points[1] - points[0])))
    x0, y0 = points[:, 0].min() - 1.0 * distance, points[:, 1].min() - 1.3 * distance
    x1, y1 = points[:, 0].max() + 1.0 * distance, points[:, 1].max() + 1.2 * distance
    return x0, y0, x1 - x0, y1 - y0


def collect_backgrounds(files: Sequence[str], aligned_root, raw_root, rng: np.random.Generator, photos: int,
                        per_photo: int = 3) -> list[np.ndarray]:
    """Background patches from up to ``photos`` raw photos of ``files`` (crop paths), away from the
    face whose landmarks the aligned folder's ``landmarks.csv`` holds. Unreadable photos are skipped."""
    if photos <= 0 or raw_root is None or not Path(raw_root).is_dir():
        return []
    table = read_landmarks(aligned_root)
    sources = {aligned_name(source): source for source in table}
    candidates = [f for f in files if f in sources]
    order = rng.permutation(len(candidates))[:photos]
    patches: list[np.ndarray] = []
    for index in sorted(order.tolist()):
        source = sources[candidates[index]]
        try:
            photo = read_rgb(Path(raw_root) / source)
        except BadImageError:
            continue
        patches += background_patches(photo, face_box_from_landmarks(table[source]), rng, count=per_photo)
    return patches
