"""Textures an occluder is filled with: MaskTheFace's texture pictures (``check``, ``floral``, ...),
procedural ones (``solid``, ``noise``, ``stripes``, ``gradient``) and ``background`` patches of
non-face photo content. In the grammar (:mod:`idinpaint.occlusion.spec`) a texture is the fill
``@texture:<family>``; the protocol's ``@texture`` and the O-Detector's composites both draw here.
Every draw takes a ``numpy.random.Generator``."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from idinpaint.data.aligned import aligned_name, read_landmarks
from idinpaint.imageio import BadImageError, check_image, read_rgb
from idinpaint.occlusion.maskthface import TEXTURE_SUFFIXES, list_textures
from idinpaint.occlusion.spec import (
    BACKGROUND,
    BASE_SHAPES,
    CLEAN,
    PROCEDURAL_TEXTURES,
    maskthface_shapes,
    occluder_folder,
    require_generator,
)

#: (MaskTheFace shapes only) the occluder's own picture, the fill ``@occluder``.
OWN = "own"
#: MaskTheFace texture pictures are kept at most this wide (a tile is 24-112 px).
TEXTURE_WIDTH = 224


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
    return _texture_groups(occluder_folder(folder))


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
        self.root = occluder_folder(self.folder)
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


def _colour(rng) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def make_texture(family: str, height: int, width: int, rng: np.random.Generator, bank: TextureBank | None = None,
                 face: np.ndarray | None = None) -> np.ndarray:
    """An RGB uint8 (height, width, 3) texture of ``family`` (see the module docstring). ``face``:
    the crop being occluded (``solid`` sometimes takes its mean colour)."""
    rng = require_generator(rng)
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


def background_patches(photo: np.ndarray, face_box, rng: np.random.Generator, count: int = 4,
                       sizes=(24, 64), margin: float = 0.2, tries: int = 30) -> list[np.ndarray]:
    """Up to ``count`` square patches of ``photo`` (RGB uint8) that stay clear of the face box
    ``(x, y, w, h)`` grown by ``margin`` on every side: non-face content (walls, sky, crowds'
    clothes, podiums) for the ``background`` texture family."""
    rng = require_generator(rng)
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
