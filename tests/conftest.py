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
def smoke_data(lfw_root, tmp_path_factory) -> Path:
    """A data folder (what ``IDINPAINT_DATA`` names) holding the smoke profile's aligned crops in
    ``smoke/lfw-112``, made here by the real pipeline (``aligned_for_profile``, what notebook 00 does:
    162 photos, a few seconds), never in the repository's ``data/``. A test that runs a notebook or a
    command with the profile's default folder sets ``IDINPAINT_DATA`` to this folder."""
    from idinpaint.preprocess import aligned_for_profile

    data = tmp_path_factory.mktemp("data")
    aligned_for_profile("smoke", lfw_root, aligned_dir=data / "smoke" / "lfw-112", workers=2, progress=False)
    return data


@pytest.fixture(scope="session")
def smoke_crops(smoke_data) -> Path:
    """The smoke profile's aligned LFW crops (``<Name>/<Name>_NNNN.png`` + ``landmarks.csv``): every
    image of the 20 smoke pairs (1 same + 1 different per fold), the t-SNE people and more."""
    crops = smoke_data / "smoke" / "lfw-112"
    assert (crops / "landmarks.csv").is_file(), f"{crops}: aligning the smoke subset wrote no landmarks.csv"
    return crops


@pytest.fixture(scope="session")
def smoke_pairs(lfw_root):
    """The smoke profile's pairs: ``pairs_per_fold`` (1) same- and different-person pairs of each fold."""
    from idinpaint.config import load_profile
    from idinpaint.data.lfw import load_pairs, subset_pairs

    return subset_pairs(load_pairs(lfw_root), load_profile("smoke")["pairs_per_fold"])


@pytest.fixture(scope="session")
def smoke_lfw_root(lfw_root, smoke_pairs, tmp_path_factory) -> Path:
    """An LFW root whose pairs.txt holds only the smoke pairs (10 folds of 1 same + 1 different) and
    whose raw/ is the real one: a command given ``--lfw-root`` this and ``--aligned`` the smoke crops
    runs the protocol on those 20 pairs, without the full aligned LFW."""
    root = tmp_path_factory.mktemp("smoke_lfw")
    lines = ["10\t1"]
    for pair in smoke_pairs:
        (a, i), (b, j) = ((p.split("/")[0], int(Path(p).stem.rsplit("_", 1)[1])) for p in (pair.first, pair.second))
        lines.append(f"{a}\t{i}\t{j}" if pair.same else f"{a}\t{i}\t{b}\t{j}")
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    (root / "raw").symlink_to(lfw_root / "raw", target_is_directory=True)
    return root


#: Training batches of the tiny O-Detector below (its loss on fresh composites falls well within them).
TINY_DETECTOR_STEPS = 40


@pytest.fixture(scope="session")
def tiny_detector_run(lfw_root, smoke_crops, tmp_path_factory):
    """(config, result) of an O-Detector trained here for a few dozen batches on the smoke crops
    (half A; ``train_detector_pair``): no stub, trained once for the tests of tests/test_detector.py."""
    from idinpaint.config import load_training_config
    from idinpaint.training.pairs import train_detector_pair

    overrides = {"detector": {"network": {"widths": [8, 16, 16], "refine": 4}, "faces": 64, "background_photos": 6},
                 "data": {"batch_size": 8, "root": str(smoke_crops)}, "optim": {"detector": {"lr": 5e-3}},
                 "trainer": {"num_threads": 1, "val_every_n_steps": 20},
                 "stages": {"detector": {"steps": TINY_DETECTOR_STEPS}}}
    config = load_training_config(profile="detector_smoke", overrides=overrides)
    output = tmp_path_factory.mktemp("detector")
    return config, train_detector_pair("smoke", ["A"], lfw_root=lfw_root, output=output, overrides=overrides,
                                       log=lambda *a: None)[0]


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
