"""The 10 face-part regions of the FROM / ID-Inpainter occlusion protocol, on the 112x112 crop.

Boxes are ``(x1, y1, x2, y2)`` in pixels of the aligned 112x112 ArcFace crop, with ``x2`` and ``y2``
exclusive (so a box covers ``(x2 - x1) * (y2 - y1)`` pixels).

"left" and "right" mean the **image's** left and right, i.e. the subject's right and left. This is
the same ordering as :data:`idinpaint.align.ARCFACE_TEMPLATE`, whose first landmark (``eye_left``,
at x ~ 38) is the eye on the image's left; ``left_eye`` is the box around that landmark.

Given by the protocol: ``left_eye``, ``two_eyes``, ``nose``, ``mouth``, ``center_block``.
Derived here:

* ``right_eye`` mirrors ``left_eye`` about the vertical centre line of the crop (pixel column
  ``c`` maps to ``111 - c``), giving (54, 30, 94, 70) around the right eye landmark (x ~ 73.5);
* ``upper_face`` (0, 0, 112, 66): the full width from the top down to y = 66, covering both eyes
  and brows and the nose bridge, stopping just above the nose tip (landmark y ~ 71.7);
* ``lower_face`` (0, 66, 112, 112): its complement, nose tip, mouth and chin;
* ``left_face`` (0, 0, 56, 112) and ``right_face`` (56, 0, 112, 112): the image's left and right
  halves, split on the crop's vertical centre line (the template's midline is at x ~ 56).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from idinpaint.align import CROP_SIZE

REGIONS: "OrderedDict[str, tuple[int, int, int, int]]" = OrderedDict(
    [
        ("left_eye", (18, 30, 58, 70)),
        ("right_eye", (54, 30, 94, 70)),
        ("two_eyes", (18, 30, 98, 70)),
        ("nose", (42, 48, 70, 86)),
        ("mouth", (33, 82, 83, 107)),
        ("upper_face", (0, 0, 112, 66)),
        ("lower_face", (0, 66, 112, 112)),
        ("left_face", (0, 0, 56, 112)),
        ("right_face", (56, 0, 112, 112)),
        ("center_block", (32, 32, 80, 80)),
    ]
)
REGION_NAMES: tuple[str, ...] = tuple(REGIONS)


def check_size(size) -> int:
    """``size`` as an int: a square crop's side in pixels; ValueError for anything else."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer (pixels of a square crop), got {size!r}")
    return int(size)


def region_box(name: str, size: int = CROP_SIZE) -> tuple[int, int, int, int]:
    """The box of region ``name`` on a ``size`` x ``size`` crop (scaled from the 112 definition)."""
    if name not in REGIONS:
        raise ValueError(f"unknown region {name!r}; valid regions: {', '.join(REGION_NAMES)}")
    size = check_size(size)
    if size == CROP_SIZE:
        return REGIONS[name]
    scale = size / CROP_SIZE
    return tuple(int(round(v * scale)) for v in REGIONS[name])  # type: ignore[return-value]


def region_mask(name: str, size: int = CROP_SIZE) -> np.ndarray:
    """Bool (size, size) mask, True inside region ``name``. Unknown names raise ValueError."""
    x1, y1, x2, y2 = region_box(name, size)
    mask = np.zeros((size, size), dtype=bool)
    mask[y1:y2, x1:x2] = True
    return mask
