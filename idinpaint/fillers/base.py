"""The filler interface: occluded crop + mask -> inpainted crop, hole pixels only."""
from __future__ import annotations

import numpy as np

from idinpaint.imageio import as_mask


def as_batch(images, masks) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate and return (images (N, H, W, 3) uint8, masks (N, H, W) bool, was_single)."""
    images = np.asarray(images)
    masks = np.asarray(masks)
    single = images.ndim == 3
    if single:
        images, masks = images[None], masks[None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be RGB uint8 (N, H, W, 3) or (H, W, 3), got {images.dtype} {np.shape(images)}")
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W) (or (H, W) for one image), got shape {masks.shape}")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"masks shape {masks.shape} does not match images {images.shape[:3]}")
    # as_mask checks dtype and 0/1 values; one call on the stacked rows covers the whole batch
    checked = as_mask(masks.reshape(-1, masks.shape[2]), name="masks").reshape(masks.shape)
    return images, checked, single


class Filler:
    """Base class: subclasses set ``name`` and implement ``_fill`` on validated batches."""

    name = "filler"

    def fill(self, images, masks) -> np.ndarray:
        images, masks, single = as_batch(images, masks)
        out = self.composite(images, masks, self._fill(images, masks)) if len(images) else images.copy()
        return out[0] if single else out

    def composite(self, images: np.ndarray, masks: np.ndarray, filled) -> np.ndarray:
        """``filled`` inside the hole, ``images`` everywhere else (after checking what ``_fill`` gave)."""
        filled = np.asarray(filled)
        if filled.shape != images.shape or filled.dtype != np.uint8:
            raise RuntimeError(f"{self.name}: filler returned {filled.dtype} {filled.shape}, expected uint8 {images.shape}")
        return np.where(masks[..., None], filled, images)

    def fill_for(self, images, masks, relatives=None) -> np.ndarray:
        """``fill`` for crops whose dataset paths are known (``Name/Name_0001.png``): fillers that
        depend on who is in the picture (LFW half routing) override this; others ignore the paths."""
        return self.fill(images, masks)

    def _fill(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
