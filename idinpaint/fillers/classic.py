"""Fillers with no learning: ``none`` (the occluded face as is) and OpenCV's ``telea`` / ``ns``."""
from __future__ import annotations

import cv2
import numpy as np

from idinpaint.fillers.base import Filler


class NoneFiller(Filler):
    """Leaves the occluded face as it is (the 'no inpainting' baseline)."""

    name = "none"

    def _fill(self, images, masks):
        return images.copy()


class OpenCVFiller(Filler):
    """``cv2.inpaint`` with Telea's fast-marching method or Navier-Stokes, per image."""

    METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}

    def __init__(self, method: str = "telea", radius: float = 3.0):
        if method not in self.METHODS:
            raise ValueError(f"unknown OpenCV inpainting method {method!r}; valid: {', '.join(self.METHODS)}")
        if not radius > 0:
            raise ValueError(f"radius must be > 0 pixels, got {radius!r}")
        self.name = method
        self.radius = float(radius)
        self._flag = self.METHODS[method]

    def _fill(self, images, masks):
        out = np.empty_like(images)
        for i, (image, mask) in enumerate(zip(images, masks)):
            if not mask.any():
                out[i] = image
                continue
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            hole = mask.astype(np.uint8) * 255
            out[i] = cv2.cvtColor(cv2.inpaint(bgr, hole, self.radius, self._flag), cv2.COLOR_BGR2RGB)
        return out

    def __repr__(self) -> str:
        return f"OpenCVFiller(method={self.name!r}, radius={self.radius})"
