"""The one pair verifier: every same/different verdict is ``cosine >= threshold``, thresholds come from
one place (given, shipped or calibrated now) and one fallback (best accuracy on the pairs at hand)."""
from __future__ import annotations

import numpy as np
import pytest

from idinpaint.evaluation.thresholds import SHIPPED_THRESHOLDS, load_thresholds, threshold_entry, write_thresholds
from idinpaint.evaluation.verdict import PairVerifier, verdict


def test_the_verdict_is_cosine_at_least_the_threshold():
    assert verdict(0.5, 0.5) is True and verdict(0.49, 0.5) is False and verdict(0.9, None) is None
    np.testing.assert_array_equal(verdict(np.array([0.1, 0.5, 0.7], np.float32), 0.5), [False, True, True])
    verifier = PairVerifier({"sface": 0.33})
    assert verifier.same("sface", 0.4) is True and verifier.same("dlib", 0.99) is None
    assert list(verifier.says("sface", [0.2, 0.5])) == ["different", "same"]
    assert list(verifier.says("dlib", [0.2])) == [""]
    assert verifier.shifted(0.1).same("sface", 0.4) is False and verifier.shifted(0.0) is verifier
    report = verifier.report("sface", {"occluded": np.float32(0.123456), "telea": 0.5})
    assert report == {"threshold": 0.33, "occluded": {"cosine": 0.1235, "same": False},
                      "telea": {"cosine": 0.5, "same": True}}


def test_thresholds_are_given_then_shipped(tmp_path):
    shipped, source = load_thresholds()
    verifier = PairVerifier.resolve(["sface", "dlib"])
    assert verifier.thresholds == {n: shipped[n] for n in ("sface", "dlib")} and verifier.source == source
    assert SHIPPED_THRESHOLDS.name in verifier.source
    verifier = PairVerifier.resolve(["sface", "dlib"], {"sface": 0.3})
    assert verifier.threshold("sface") == 0.3 and verifier.threshold("dlib") == shipped["dlib"]
    assert verifier.source.startswith("given with --thresholds; the others shipped in")
    assert PairVerifier.resolve(["sface"], {"sface": 0.3}).source == "given with --thresholds"
    path = write_thresholds(tmp_path / "t.json", {"sface": {"threshold": 0.31, "accuracy": 0.99, "pairs": 10}}, "x")
    verifier = PairVerifier.resolve(["sface", "dlib"], path=path)
    assert verifier.thresholds == {"sface": 0.31} and not verifier.has("dlib")
    assert "cosines only" in PairVerifier.resolve(["sface"], path=tmp_path / "none.json").source


def test_the_one_fallback_is_best_accuracy_on_the_pairs_at_hand():
    scores = np.array([0.1, 0.2, 0.3, 0.55, 0.6, 0.7, 0.15])
    labels = np.array([False, False, False, True, True, True, True])
    verifier = PairVerifier()
    assert verifier.calibrated_on("sface", scores, labels) == pytest.approx(threshold_entry(scores, labels)["threshold"])
    assert verifier.has("sface") and 0.3 < verifier.threshold("sface") < 0.55
