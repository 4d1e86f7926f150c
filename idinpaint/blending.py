"""Blending a generated fill back into the hole; only hole pixels ever change.

* ``poisson`` — ``cv2.seamlessClone`` (as the original code), on images padded by a few pixels so
  holes touching the border are cloned too, and with the clone centre chosen so OpenCV places the
  patch exactly where it came from. OpenCV 5's ``seamlessClone`` keeps the destination's own
  interior values, so the patch is pasted into the destination first;
* ``alpha`` — a feathered alpha blend inside the hole: weight 1 on the generated fill from
  ``feather`` pixels inside the hole's edge, ramping down towards the edge where it mixes with a
  Telea continuation of the surrounding pixels (the original pixels in the hole are the occluder,
  so they are never blended in);
* ``none`` — the generated fill pasted as is.
"""
from __future__ import annotations

import cv2
import numpy as np

BLENDS = ("poisson", "alpha", "none")
#: The default blend of the ``ca`` / ``ca_id`` fillers and ``idinpaint inpaint``. Chosen on held-out
#: validation crops, never on the test pairs (``idinpaint evaluate retention``): with the shipped
#: models the feathered alpha blend kept more identity than Poisson on dlib (docs/experiments.md).
DEFAULT_BLEND = "alpha"


def poisson_blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, pad: int = 4) -> np.ndarray:
    """``cv2.seamlessClone(generated -> image)`` over the hole; returns RGB uint8 (hole pixels changed only)."""
    if not mask.any():
        return image.copy()
    pasted = np.where(mask[..., None], generated, image)
    # Padding: OpenCV ignores the outermost mask pixels and needs the patch inside the image; the
    # margin repeats the pasted image, so the boundary condition there is the network's own fill.
    dst = cv2.copyMakeBorder(pasted, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    src = cv2.copyMakeBorder(generated, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    hole = cv2.copyMakeBorder(mask.astype(np.uint8) * 255, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    x, y, w, h = cv2.boundingRect(hole)
    centre = (x + w // 2, y + h // 2)  # OpenCV places the patch at centre - size // 2: exactly (x, y)
    cloned = cv2.seamlessClone(src, dst, hole, centre, cv2.NORMAL_CLONE)
    cloned = cloned[pad:-pad, pad:-pad]
    return np.where(mask[..., None], cloned, image)


def alpha_blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, feather: float = 4.0) -> np.ndarray:
    """Feathered alpha blend inside the hole (see the module docstring)."""
    if not mask.any():
        return image.copy()
    hole = mask.astype(np.uint8)
    distance = cv2.distanceTransform(hole, cv2.DIST_L2, 3)  # 1 at the hole's edge, growing inwards
    alpha = np.clip(distance / max(float(feather), 1e-6), 0.0, 1.0)[..., None]
    context = cv2.inpaint(image, hole * 255, 3, cv2.INPAINT_TELEA)
    mixed = alpha * generated.astype(np.float32) + (1 - alpha) * context.astype(np.float32)
    return np.where(mask[..., None], np.clip(np.rint(mixed), 0, 255).astype(np.uint8), image)


def blend(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, method: str = DEFAULT_BLEND,
          feather: float = 4.0) -> np.ndarray:
    if method == "poisson":
        return poisson_blend(image, generated, mask)
    if method == "alpha":
        return alpha_blend(image, generated, mask, feather)
    if method == "none":
        return np.where(mask[..., None], generated, image)
    raise ValueError(f"unknown blend {method!r}; valid: {', '.join(BLENDS)}")
