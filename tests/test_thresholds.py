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
    assert table == {"sface": 0.31, "dlib": 0.93} and "6,000" in source


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
