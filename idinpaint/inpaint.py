"""A photo and its hole -> the photo with the hole filled (``idinpaint inpaint``).

A 112x112 aligned crop is filled directly; any other photo is aligned first (YuNet), the aligned
crop is filled by a trained inpainter (:class:`~idinpaint.fillers.learned.CheckpointFiller`) and the
fill is warped back, so only hole pixels change. Checks come first (a missing face, a hole that is
nearly the whole image, a non-binary mask) and the output is written atomically.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from idinpaint.align import CROP_SIZE as CROP
from idinpaint.align import Detection, NoFaceError, YuNetDetector, pick_face, warp_to_template
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


def _detect_faces(image: np.ndarray, mask: np.ndarray, detector, upscale: bool = False) -> list:
    """YuNet detections in ``image`` coordinates. When the plain image shows no face, the hole is
    painted over (Telea) and it is tried again: a black band over the eyes hides a face from YuNet.
    ``upscale``: also try 2x (YuNet misses many faces that fill a small 112x112 frame)."""
    for painted in (False, True):
        if painted and not mask.any():
            break
        view = cv2.inpaint(image, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA) if painted else image
        for scale in ((2, 1) if upscale else (1,)):
            work = view if scale == 1 else cv2.resize(view, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            found = detector.detect(work)
            if found:
                return [Detection(d.box / scale, d.landmarks / scale, d.score) for d in found]
    return []


def inpaint_photo(filler: Filler, image: np.ndarray, mask: np.ndarray, detector=None,
                  image_name: str = "image", mask_name: str = "mask") -> tuple[np.ndarray, dict]:
    """Fill the hole of any photo: a 112x112 crop directly, otherwise aligned first.

    A 112x112 image is used as an aligned crop only when YuNet finds a face in it. For a photo
    that is not an aligned crop: YuNet finds the face, the photo and the mask are warped to the
    ArcFace crop, the crop is filled, and the filled crop is warped back into the hole.
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
    detector = detector or YuNetDetector()
    is_crop = image.shape[:2] == (CROP, CROP)
    detections = _detect_faces(image, mask, detector, upscale=is_crop)
    if not detections:
        what = (f"no face detected in this {CROP}x{CROP} image, so it is not used as an aligned face crop; pass "
                "the original photo (it is aligned first), a crop made by `idinpaint preprocess`, or a smaller "
                "hole") if is_crop else "no face detected; pass a photo with one clearly visible face"
        raise NoFaceError(f"{image_name}: {what}")
    if is_crop:
        _check_hole(mask, mask_name, "the face crop")
        score = max(d.score for d in detections)
        return filler.fill(image, mask), {"aligned": False, "uncovered": 0, "score": float(score)}

    detection = pick_face(detections, image.shape)
    crop, matrix = warp_to_template(image, detection.landmarks, CROP)
    height, width = image.shape[:2]
    crop_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, (CROP, CROP), flags=cv2.INTER_NEAREST)
    crop_mask = cv2.dilate(crop_mask, np.ones((3, 3), np.uint8)) > 0  # cover rounding at the hole's edge
    _check_hole(crop_mask, mask_name, "the aligned face crop")
    filled = filler.fill(crop, crop_mask)
    back = cv2.warpAffine(filled, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    inside = cv2.warpAffine(np.ones((CROP, CROP), np.uint8), matrix, (width, height),
                            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0  # skip the interpolated crop border
    replace = mask & inside
    out = image.copy()
    out[replace] = back[replace]
    return out, {"aligned": True, "uncovered": int((mask & ~inside).sum()), "score": float(detection.score)}


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
