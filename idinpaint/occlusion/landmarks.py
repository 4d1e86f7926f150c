"""Where a source photo's five landmarks land in its aligned crop: MaskTheFace occluders are placed
on these (a crop's own landmarks, not the template, so an occluder follows a turned head)."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np

from idinpaint.align import ARCFACE_TEMPLATE, apply_transform, similarity_transform
from idinpaint.data.aligned import LANDMARKS_FILE, aligned_name, read_landmarks


def to_crop(points: np.ndarray) -> np.ndarray:
    """Source-image landmarks (5, 2) -> the same points in the 112 crop alignment made of them."""
    return apply_transform(similarity_transform(points, ARCFACE_TEMPLATE), points)


@functools.lru_cache(maxsize=4)
def _crop_landmark_table(root: str, mtime: float) -> dict[str, np.ndarray]:
    return {aligned_name(source): to_crop(points) for source, points in read_landmarks(root).items()}


def crop_landmarks_of(aligned_dir):
    """callable(relatives) -> list of (5, 2) crop landmarks (None where unknown) from the aligned
    folder's ``landmarks.csv``; None when the folder has no such file."""
    path = Path(aligned_dir) / LANDMARKS_FILE
    if not path.is_file():
        return None
    table = _crop_landmark_table(str(Path(aligned_dir)), path.stat().st_mtime)

    def lookup(relatives: Sequence[str]) -> list:
        return [table.get(aligned_name(rel)) for rel in relatives]

    return lookup


def crop_landmarks(aligned_dir, relative: str) -> np.ndarray:
    """The crop landmarks (5, 2) of one source image (``relative``: its source or crop path)."""
    found = crop_landmarks_of(aligned_dir)
    points = found([relative])[0] if found else None
    if points is None:
        raise KeyError(f"{Path(aligned_dir) / LANDMARKS_FILE}: no landmarks for {relative}")
    return points


def landmarks_or_none(aligned_dir, relatives: Sequence[str]) -> list:
    """The crop landmarks of ``relatives`` (None where unknown, or all None without ``landmarks.csv``)."""
    lookup = crop_landmarks_of(aligned_dir)
    return lookup(relatives) if lookup is not None else [None] * len(relatives)
