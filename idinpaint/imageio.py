"""Reading and writing images and masks with one set of conventions and clear errors.

Images in memory are RGB ``uint8`` (H, W, 3). Masks are ``bool`` (H, W), True = hole, stored on
disk as single-channel PNG with 255 = hole. Writes are atomic (temp file + rename) so an
interrupted job never leaves a half-written file behind.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from idinpaint.paths import check_output_path, file_problem  # noqa: F401 (check_output_path is imported from here too)
from idinpaint.runinfo import atomic_file

# OpenCV's own log lines ("[ WARN:0@2.9] ... imread_(...): can't open/read file") would reach users
# beside our one-line errors: only its errors are shown.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

#: PIL modes of single-channel files (grayscale, bilevel, 16-bit, 32-bit, float; LA = gray + alpha)
GRAY_MODES = ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I", "F")


class BadImageError(ValueError):
    """An input file that cannot be used; ``str(err)`` is one line naming the file and reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _to_rgb_uint8(image: Image.Image, path) -> np.ndarray:
    """Convert any PIL mode (L, LA, P, RGBA, I;16, I, F, CMYK, ...) to RGB uint8."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        # 16-bit and float scans: rescale by the type's range, not the image's, so brightness
        # stays comparable across a dataset.
        top = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(array[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        # Composite transparent pixels onto mid-grey rather than dropping alpha, which would
        # expose whatever colour the encoder left there.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        image = Image.alpha_composite(background, rgba)
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise BadImageError(path, f"unsupported image layout {array.shape}")
    return array


def _open_image(path, check):
    """Open and fully decode an image file; ``check(image)`` converts it. One-line errors."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise BadImageError(path, problem)
    try:
        with Image.open(path) as image:
            image.load()  # forces a full decode, so truncation is caught here
            return check(image)
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image file (format not recognised)") from None
    except Image.DecompressionBombError:
        raise BadImageError(path, "image too large (decompression bomb guard)") from None
    except OSError as err:
        text = str(err)
        reason = "truncated image" if "truncated" in text.lower() else f"unreadable image ({text})"
        raise BadImageError(path, reason) from None


def read_rgb(path) -> np.ndarray:
    """Read any common image file as RGB uint8, honouring EXIF orientation.

    Raises :class:`BadImageError` (one line: file and reason) for missing, empty, truncated,
    non-image or unreadable files.
    """
    return _open_image(path, lambda image: _to_rgb_uint8(ImageOps.exif_transpose(image), path))


def image_mode(path) -> str:
    """The PIL mode of an image file as stored (``L``, ``RGB``, ``RGBA``, ``I;16``, ...; a palette
    image with a transparent colour is ``PA``)."""
    def mode(image: Image.Image) -> str:
        return "PA" if image.mode == "P" and "transparency" in image.info else image.mode

    return _open_image(path, mode)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically (a temp file in the same folder, then a rename), with
    the mode an ordinary ``open`` gives (:func:`~idinpaint.runinfo.atomic_file`)."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(payload)


def _encode(path: Path, image: np.ndarray) -> bytes:
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", image)
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{path}: cannot write images of type {path.suffix or '(no suffix)'!r}; use .png or .jpg")
    return encoded.tobytes()


def write_rgb(path, image: np.ndarray) -> None:
    """Atomically write an RGB uint8 image; the format follows the suffix (.png, .jpg)."""
    path = Path(path)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{path}: expected RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
    atomic_write_bytes(path, _encode(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)))


def write_gray(path, image: np.ndarray) -> None:
    """Atomically write a single-channel uint8 image (H, W); the format follows the suffix."""
    path = Path(path)
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"{path}: expected gray uint8 (H, W), got {image.dtype} {image.shape}")
    atomic_write_bytes(path, _encode(path, image))


def copy_file(source, target) -> None:
    """Atomically copy a file's bytes (e.g. an input written back unchanged)."""
    atomic_write_bytes(Path(target), Path(source).read_bytes())


def write_mask(path, mask: np.ndarray) -> None:
    """Atomically write a mask (True/1 = hole) as a single-channel PNG with 255 = hole."""
    mask = as_mask(mask, name=str(path))
    ok, encoded = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:  # pragma: no cover - PNG encoding of uint8 does not fail
        raise ValueError(f"{path}: could not encode mask")
    atomic_write_bytes(Path(path), encoded.tobytes())


def read_mask(path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask PNG (255 = hole) as bool (H, W); checks it is binary and, if given, its size."""
    path = Path(path)

    def single_channel(image: Image.Image) -> np.ndarray:
        if image.mode not in ("1", "L", "I;16", "I;16B", "I;16L", "I"):
            raise BadImageError(path, f"mask must be single-channel (gray PNG, 255 = hole), got mode {image.mode}")
        return np.asarray(image)

    raw = _open_image(path, single_channel)
    if raw.dtype == bool:  # a bilevel (mode "1") PNG: white = hole
        raw = raw.astype(np.uint8) * 255
    values = np.unique(raw)
    if not set(values.tolist()) <= {0, 255}:
        raise BadImageError(path, f"mask must be binary 0/255 (255 = hole), found values {values[:6].tolist()}; "
                                  "threshold it (e.g. 255 where > 127)")
    mask = raw == 255
    if shape is not None and mask.shape != tuple(shape):
        raise BadImageError(path, f"mask size {mask.shape[1]}x{mask.shape[0]} does not match the image's "
                                  f"{shape[1]}x{shape[0]}")
    return mask


def as_mask(mask: np.ndarray, shape: tuple[int, int] | None = None, name: str = "mask") -> np.ndarray:
    """Validate an in-memory mask and return it as bool (True = hole).

    Accepts bool, or integer arrays holding only 0/1. Anything else (float, 0/255, 3 channels,
    wrong size) is an error, because silently guessing a convention is how the original code
    ended up with two of them.
    """
    mask = np.asarray(mask)
    if mask.dtype == bool:
        result = mask
    elif np.issubdtype(mask.dtype, np.integer):
        values = np.unique(mask)
        if not set(values.tolist()) <= {0, 1}:
            raise ValueError(
                f"{name}: integer masks must hold only 0/1 (1 = hole); found {values[:6].tolist()}"
            )
        result = mask.astype(bool)
    else:
        raise ValueError(f"{name}: mask dtype must be bool or integer 0/1, got {mask.dtype}")
    if result.ndim != 2:
        raise ValueError(f"{name}: mask must be 2-D (H, W), got shape {result.shape}")
    if shape is not None and result.shape != tuple(shape):
        raise ValueError(f"{name}: mask size {result.shape} does not match image size {tuple(shape)}")
    return result


def check_image(image, name: str = "image") -> np.ndarray:
    """Return ``image`` if it is an RGB uint8 (H, W, 3) array; otherwise a one-line ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a numpy RGB uint8 array (H, W, 3), got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name}: expected RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
    return image


def overlay(crop: np.ndarray, mask: np.ndarray, colour=(255, 0, 160), strength: float = 0.55) -> np.ndarray:
    """The crop with ``mask`` tinted: where the mask is True, a mix of the crop and ``colour``, with
    the mask's outline drawn in full colour (what a person looks at to judge a mask)."""
    out = crop.astype(np.float32).copy()
    mask = np.asarray(mask, dtype=bool)
    out[mask] = out[mask] * (1 - strength) + np.array(colour, np.float32) * strength
    edge = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    out[edge] = colour
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
