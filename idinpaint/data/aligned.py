"""The aligned-crops folder format, written by ``idinpaint preprocess`` and read by every later stage.

``<aligned>/<Name>/<Name>_0001.png`` (PNG whatever the source format: lossless) beside
``landmarks.csv``: one row per aligned source image — its relative source path, YuNet's score and
box, and the five landmarks in *source-image* pixels (where they land in the crop is
:func:`idinpaint.occlusion.landmarks.crop_landmarks_of`).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from idinpaint.imageio import BadImageError, read_rgb

LANDMARKS_FILE = "landmarks.csv"
LANDMARK_COLUMNS = ["path", "score", "box_x", "box_y", "box_w", "box_h"] + [
    f"{axis}{i}" for i in range(5) for axis in ("x", "y")]


def aligned_name(relative: str | Path) -> str:
    """Crops are PNG (lossless) whatever the source format."""
    return str(Path(relative).with_suffix(".png"))


def read_landmarks(aligned_dir) -> dict[str, np.ndarray]:
    """Source-image landmarks (5, 2) per relative source path; tolerates a torn last line."""
    path = Path(aligned_dir) / LANDMARKS_FILE
    found = {}
    if not path.is_file():
        return found
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if len(row) != len(LANDMARK_COLUMNS) or row[0] == "path":
                continue
            try:
                found[row[0]] = np.array(row[6:], dtype=np.float64).reshape(5, 2)
            except ValueError:
                continue
    return found


def read_faces(folder, relatives: list[str]) -> np.ndarray:
    """Load aligned crops as one (N, 112, 112, 3) batch; a missing crop is a clear error."""
    folder = Path(folder)
    faces = []
    for rel in relatives:
        try:
            faces.append(read_rgb(folder / rel))
        except BadImageError as err:
            raise BadImageError(err.path, f"{err.reason} (was the dataset aligned? run `idinpaint preprocess`)") from None
    return np.stack(faces) if faces else np.zeros((0, 112, 112, 3), np.uint8)
