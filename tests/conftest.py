"""Shared fixtures: real LFW where it is available (it is in CI: ../shared/data/lfw)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from idinpaint.data.registry import DatasetError, dataset_root

# Pairs from fold 1 of pairs.txt: two same-person pairs and one different-person pair.
SAMPLE_FILES = [
    "Abel_Pacheco/Abel_Pacheco_0001.jpg", "Abel_Pacheco/Abel_Pacheco_0004.jpg",
    "Akhmed_Zakayev/Akhmed_Zakayev_0001.jpg", "Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg",
    "Abdel_Madi_Shabneh/Abdel_Madi_Shabneh_0001.jpg", "Dean_Barker/Dean_Barker_0001.jpg",
]


def lfw_missing_reason() -> str | None:
    """None when real LFW is found; else why not, naming the folders looked in."""
    from idinpaint.paths import data_dir, shared_dir

    try:
        dataset_root("lfw")
    except DatasetError as err:
        if os.environ.get("IDINPAINT_LFW_ROOT"):
            places = [f"IDINPAINT_LFW_ROOT={os.environ['IDINPAINT_LFW_ROOT']}"]
        else:
            places = [str(shared_dir() / "data" / "lfw"), str(data_dir() / "lfw")]
        return f"needs real LFW (raw/ + pairs.txt), not found in {' or '.join(places)}: {err}"
    return None


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    reason = lfw_missing_reason()
    if reason:
        pytest.skip(reason)
    return dataset_root("lfw")


@pytest.fixture(scope="session")
def sample_aligned(lfw_root, tmp_path_factory):
    """A handful of real LFW photos aligned by the real pipeline: (folder, relative .png paths)."""
    from idinpaint.data.aligned import aligned_name
    from idinpaint.preprocess import preprocess_folder

    folder = tmp_path_factory.mktemp("aligned")
    report = preprocess_folder(lfw_root / "raw", folder, files=SAMPLE_FILES, progress=False)
    assert not report.failures, report.failures
    return folder, [aligned_name(f) for f in SAMPLE_FILES]


@pytest.fixture(scope="session")
def sample_faces(sample_aligned) -> np.ndarray:
    from idinpaint.data.aligned import read_faces

    folder, relatives = sample_aligned
    return read_faces(folder, relatives)


@pytest.fixture(autouse=True, scope="session")
def _quiet_threads():
    os.environ.setdefault("OMP_NUM_THREADS", "2")
