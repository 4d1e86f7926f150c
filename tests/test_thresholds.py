"""The recognisers' same/different thresholds: one calibration path (the scores of `evaluate lfw`), the
shipped file `recover` reads by default, and one-line errors for a broken file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from idinpaint.evaluation.thresholds import (
    SHIPPED_THRESHOLDS,
    load_thresholds,
    threshold_entry,
    write_thresholds,
)


def test_the_threshold_splits_same_from_different_where_most_pairs_are_right():
    scores = np.array([0.1, 0.2, 0.3, 0.55, 0.6, 0.7, 0.15])
    labels = np.array([False, False, False, True, True, True, True])  # one same pair scores low
    entry = threshold_entry(scores, labels)
    assert 0.3 < entry["threshold"] < 0.55
    assert entry["accuracy"] == pytest.approx(6 / 7, abs=1e-4) and entry["pairs"] == 7


def test_a_written_file_loads_back_with_where_it_came_from(tmp_path):
    path = write_thresholds(tmp_path / "t.json", {"sface": {"threshold": 0.31, "accuracy": 0.99, "pairs": 6000},
                                                  "dlib": {"threshold": 0.93, "accuracy": 0.98, "pairs": 6000}},
                            "data/lfw-112")
    stored = json.loads(path.read_text())
    assert stored["git_sha"] and stored["argv"]  # the commit and the command that made it
    table, source = load_thresholds(path)
    assert table == {"sface": 0.31, "dlib": 0.93, "dlib_torch": 0.93} and "6,000" in source  # the same network


def test_a_missing_file_means_cosines_only_and_a_broken_one_is_one_line(tmp_path):
    table, why = load_thresholds(tmp_path / "none.json")
    assert table == {} and "cosines only" in why and "--calibrate" in why
    broken = tmp_path / "broken.json"
    broken.write_text('{"thresholds": {"sface": 0.3}}')
    with pytest.raises(ValueError, match="not a thresholds file") as err:
        load_thresholds(broken)
    assert str(broken) in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_thresholds_cover_both_recognisers_on_all_pairs():
    if not SHIPPED_THRESHOLDS.is_file():
        pytest.fail(f"{SHIPPED_THRESHOLDS} is missing: `recover` would verify with cosines only")
    stored = json.loads(SHIPPED_THRESHOLDS.read_text())
    assert set(stored["thresholds"]) == {"sface", "dlib"}
    for name, entry in stored["thresholds"].items():
        assert entry["pairs"] == 6000 and 0.97 < entry["accuracy"] <= 1.0, name
        assert -1.0 < entry["threshold"] < 1.0, name


# --- recalibrating on request -------------------------------------------------------------------------

@pytest.fixture
def tiny_lfw(tmp_path):
    """A pairs.txt of 2 folds x (4 same + 4 different) and its synthetic aligned crops."""
    from test_protocol import FREE_PEOPLE, PAIR_PEOPLE, make_folder, make_pairs

    root, aligned = tmp_path / "lfw", tmp_path / "aligned"
    root.mkdir()
    lines = ["2 4"]
    for pair in make_pairs():
        (a, i), (b, j) = ((p.split("/")[0], int(p.rsplit("_", 1)[1][:4])) for p in (pair.first, pair.second))
        lines.append(f"{a} {i} {j}" if pair.same else f"{a} {i} {b} {j}")
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    make_folder(aligned, {**{p: 3 for p in PAIR_PEOPLE}, **{p: 2 for p in FREE_PEOPLE}})
    make_folder(root / "raw", {PAIR_PEOPLE[0]: 1})  # a non-empty raw/ (the registry checks it is there)
    return root, aligned


def test_a_calibration_says_what_it_does_and_how_long_then_is_cached(tiny_lfw, tmp_path, monkeypatch):
    from idinpaint.evaluation.thresholds import announce_calibration, calibrate, crops_to_embed

    monkeypatch.setenv("IDINPAINT_CACHE", str(tmp_path / "cache"))
    root, aligned = tiny_lfw
    assert crops_to_embed(["sface"], aligned, root) == {"sface": 18}  # every distinct image of the pairs
    line = announce_calibration(["sface"], aligned, root)
    assert line.startswith("calibrating the same/different thresholds of sface on the 16 clean LFW pairs")
    assert "sface 18 crops" in line and "resumes" in line
    entry = calibrate(["sface"], aligned, root, progress=False)["sface"]
    assert entry["pairs"] == 16 and 0.5 <= entry["accuracy"] <= 1.0 and -1 < entry["threshold"] < 1
    assert crops_to_embed(["sface"], aligned, root) == {"sface": 0}, "a second calibration embeds nothing"
    assert "seconds (embeddings cached)" in announce_calibration(["sface"], aligned, root)
