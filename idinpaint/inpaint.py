"""A photo and its hole -> the photo with the hole filled (``idinpaint inpaint``).

A 112x112 aligned crop is filled directly; any other photo is aligned first (located once by
:func:`idinpaint.align.locate`), the aligned crop is filled by a trained inpainter
(:class:`~idinpaint.fillers.learned.CheckpointFiller`) and the fill is pasted back
(:func:`idinpaint.align.paste_back`), so only hole pixels change. Checks come first (a missing face, a hole that is
nearly the whole image, a non-binary mask) and the output is written atomically.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from idinpaint.align import Located, locate, mask_to_crop, paste_back
from idinpaint.blending import DEFAULT_BLEND
from idinpaint.fillers import Filler
from idinpaint.fillers.learned import CheckpointFiller
from idinpaint.imageio import (
    GRAY_MODES,
    as_mask,
    check_image,
    check_output_path,
    copy_file,
    image_mode,
    read_mask,
    read_rgb,
    write_gray,
    write_rgb,
)

# --- photos ---------------------------------------------------------------------------------------

#: ``idinpaint inpaint`` refuses holes larger than this share of the image (or of the face crop):
#: there is too little face left to fill them from.
MAX_HOLE_FRACTION = 0.9


def _check_hole(mask: np.ndarray, mask_name: str, where: str) -> None:
    fraction = float(mask.mean())
    if fraction > MAX_HOLE_FRACTION:
        raise ValueError(f"{mask_name}: the hole covers {100 * fraction:.0f} % of {where}; at most "
                         f"{100 * MAX_HOLE_FRACTION:.0f} % can be filled (the fill is made from the face around it)")


def inpaint_photo(filler: Filler, image: np.ndarray, mask: np.ndarray, detector=None,
                  image_name: str = "image", mask_name: str = "mask",
                  located: Located | None = None) -> tuple[np.ndarray, dict]:
    """Fill the hole of any photo: a 112x112 crop directly, otherwise aligned first.

    The face is found once by :func:`idinpaint.align.locate` (a 112x112 image is used as an aligned
    crop only when YuNet finds a face in it), or given as ``located`` (then no detector runs): the
    hole is carried onto the crop (:func:`~idinpaint.align.mask_to_crop`), the crop is filled once and
    pasted back into the hole (:func:`~idinpaint.align.paste_back`), so only hole pixels change.
    Returns (RGB uint8 of the photo's size, info) where ``info['uncovered']`` counts hole pixels
    outside the face crop (left as they were). ``image_name`` / ``mask_name`` name the inputs in
    errors (``NoFaceError``, ``ValueError``), e.g. their file paths.
    """
    image = check_image(image, image_name)
    mask = np.asarray(mask)
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"{mask_name}: mask size {mask.shape[1]}x{mask.shape[0]} does not match image size "
                         f"{image.shape[1]}x{image.shape[0]}")
    mask = as_mask(mask, shape=image.shape[:2], name=mask_name)
    located = located or locate(image, detector, hole=mask, name=image_name)
    crop_mask = mask_to_crop(mask, located)
    _check_hole(crop_mask, mask_name, "the face crop" if located.is_crop else "the aligned face crop")
    filled = filler.fill(located.crop, crop_mask)
    out, pasted = paste_back(image, located, filled, mask)
    return out, {"aligned": not located.is_crop, "uncovered": pasted["uncovered"], "score": located.score}


def _same_format(a, b) -> bool:
    jpeg = {".jpg": ".jpeg"}
    a, b = Path(a).suffix.lower(), Path(b).suffix.lower()
    return jpeg.get(a, a) == jpeg.get(b, b)


def _write_like(path, image: np.ndarray, mode: str) -> None:
    """Write RGB ``image`` single-channel when the input file (PIL ``mode``) was, else as RGB."""
    if mode in GRAY_MODES:
        write_gray(path, image[..., 0])
    else:
        write_rgb(path, image)


def inpaint_file(checkpoint, image_path, mask_path, output_path=None, blend_method: str = DEFAULT_BLEND,
                 device=None, backend: str | None = None, output_dir=None) -> dict:
    """``idinpaint inpaint``: read an image and a mask PNG (255 = hole), fill, write the result.

    Everything that can be checked is checked before the model runs; the output is written
    atomically, so a failure leaves no file. A gray photo (R = G = B) gets a gray result, a
    single-channel file a single-channel one. An all-zero mask writes the input unchanged
    (``info['nothing_to_fill']``). ``info['notes']``: what the output lost (alpha, 16 bits).
    ``backend``: ``torch`` / ``onnx`` / ``auto`` (see :class:`~idinpaint.fillers.learned.CheckpointFiller`).
    Without ``output_path`` the result is ``output_dir/<image stem>_<filler>.png``, named by what filled
    it (``ca`` or ``ca_id``, the checkpoint's kind).
    """
    if output_path is not None:
        check_output_path(output_path)
    image = read_rgb(image_path)
    mode = image_mode(image_path)
    mask = read_mask(mask_path, shape=image.shape[:2])
    _check_hole(mask, str(mask_path), "the image")
    filler = CheckpointFiller(checkpoint, kind=None, device=device, blend=blend_method, backend=backend)
    if output_path is None:
        output_path = Path(output_dir or ".") / f"{Path(image_path).stem}_{filler.name}.png"
    result = {"kind": filler.name, "output": str(output_path), "notes": []}
    if not mask.any():
        if _same_format(image_path, output_path):
            copy_file(image_path, output_path)
        else:
            _write_like(output_path, image, mode)
        return {**result, "nothing_to_fill": True, "aligned": False, "uncovered": 0}
    out, info = inpaint_photo(filler, image, mask, image_name=str(image_path), mask_name=str(mask_path))
    out = keep_gray(image, out)
    _write_like(output_path, out, mode)
    result["notes"] += input_notes(mode)
    return {**result, **info}


def is_gray(image: np.ndarray) -> bool:
    """Whether an RGB image is a gray photo (R = G = B everywhere; a single-channel file read as RGB)."""
    return bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())


def keep_gray(image: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` (a fill of ``image``) back to gray where it changed, when ``image`` is a gray photo: the
    recognisers saw three equal channels, and the fill stays gray like the photo around it."""
    if not is_gray(image):
        return out
    out = out.copy()
    changed = (out != image).any(axis=-1)
    out[changed] = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[changed][:, None]
    return out


def input_notes(mode: str) -> list[str]:
    """What an output loses of an input file stored in PIL ``mode`` (transparency, 16 bits)."""
    notes = []
    if mode in ("RGBA", "LA", "PA"):
        notes.append("transparency flattened onto gray")
    if mode.startswith("I;16") or mode in ("I", "F"):
        notes.append(f"{mode} input written as 8-bit")
    return notes
