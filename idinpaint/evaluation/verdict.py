"""The one pair verifier: *same person* or *different people*, for every recogniser, at its threshold.

A recogniser says *same person* when the cosine of two faces is at least its threshold
(:func:`verdict`: ``cosine >= threshold``). Where each threshold comes from is decided here, once,
for ``idinpaint recover``, the notebooks and any figure that prints a verdict
(:meth:`PairVerifier.resolve`):

1. thresholds given by the caller (``recover --thresholds NAME=COSINE``);
2. else the shipped ones, ``checkpoints/recognizer_thresholds.json``
   (:func:`~idinpaint.evaluation.thresholds.load_thresholds`), or, when asked, calibrated now on the
   clean LFW pairs (:func:`~idinpaint.evaluation.thresholds.calibrate`, ``recover --calibrate``);
3. else the one fallback, :meth:`PairVerifier.calibrated_on`: the threshold of best accuracy on the
   clean pairs at hand (:func:`~idinpaint.evaluation.thresholds.threshold_entry`, what
   :func:`~idinpaint.evaluation.thresholds.calibrate` computes, on fewer pairs); without scores a
   recogniser has no threshold and its verdict is ``None`` (cosines only).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from idinpaint.data.lfw import default_aligned_root
from idinpaint.evaluation.thresholds import announce_calibration, calibrate, load_thresholds, threshold_entry


def verdict(cosine, threshold: float | None):
    """``cosine >= threshold``: True for the same person; an array of them for an array of cosines;
    None without a threshold."""
    if threshold is None:
        return None
    same = cosine >= threshold
    return bool(same) if np.ndim(same) == 0 else np.asarray(same)


@dataclass
class PairVerifier:
    """Each recogniser's threshold (``thresholds``, by recogniser name) and where it came from
    (``source``: one line for a person)."""

    thresholds: dict[str, float] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def of(cls, thresholds) -> "PairVerifier":
        """A verifier as it is, or one made from a ``{name: threshold}`` mapping (None: no thresholds)."""
        return thresholds if isinstance(thresholds, PairVerifier) else cls(dict(thresholds or {}))

    @classmethod
    def resolve(cls, names: Sequence[str], given: dict | None = None, calibrate_now: bool = False, aligned=None,
                lfw_root=None, path=None, say: Callable[[str], None] = print) -> "PairVerifier":
        """The thresholds of ``names``: ``given`` ones first; the others shipped (the file at ``path``,
        default ``checkpoints/recognizer_thresholds.json``), or with ``calibrate_now`` computed on the
        clean LFW pairs of ``aligned`` first (minutes; ``say`` gets what and how long)."""
        given = dict(given or {})
        missing = [name for name in names if name not in given]
        source = None
        if missing and calibrate_now:
            aligned = Path(aligned or default_aligned_root())
            say(announce_calibration(missing, aligned, lfw_root))
            found = {name: entry["threshold"] for name, entry in
                     calibrate(missing, aligned, lfw_root, workers=os.cpu_count() or 1).items()}
            source = f"calibrated now on the clean LFW pairs of {aligned} (--calibrate)"
        elif missing:
            found, source = load_thresholds(path)
        else:
            found = {}
        chosen = {**{name: found[name] for name in missing if name in found}, **given}
        if given:
            source = "given with --thresholds" + (f"; the others {source}" if missing else "")
        return cls(chosen, source)

    def has(self, name: str) -> bool:
        return name in self.thresholds

    def threshold(self, name: str) -> float | None:
        return self.thresholds.get(name)

    def calibrated_on(self, name: str, scores, labels) -> float:
        """The fallback for a recogniser without a threshold: the one of best accuracy on these clean
        pairs (``scores`` their cosines, ``labels`` True for the same person), kept and returned."""
        self.thresholds[name] = float(threshold_entry(scores, labels)["threshold"])
        return self.thresholds[name]

    def shifted(self, shift: float) -> "PairVerifier":
        """Every threshold moved by ``shift`` (stricter above 0)."""
        if not shift:
            return self
        return PairVerifier({name: value + shift for name, value in self.thresholds.items()},
                            f"{self.source}, moved by {shift:+.2f}" if self.source else None)

    def same(self, name: str, cosine):
        """:func:`verdict` at ``name``'s threshold (None when it has none)."""
        return verdict(cosine, self.threshold(name))

    def says(self, name: str, cosines) -> np.ndarray:
        """``"same"`` / ``"different"`` for each cosine (``""`` without a threshold)."""
        same = self.same(name, np.asarray(cosines))
        if same is None:
            return np.full(np.shape(cosines), "", dtype=object)
        return np.where(same, "same", "different")

    def report(self, name: str, cosines: dict) -> dict:
        """``{"threshold", <version>: {"cosine", "same"}}`` for one recogniser's cosines by version
        (what ``recover`` writes): numbers rounded to 4 places, the verdicts on the exact values."""
        threshold = self.threshold(name)
        return {"threshold": None if threshold is None else round(float(threshold), 4),
                **{version: {"cosine": round(float(c), 4), "same": self.same(name, c)}
                   for version, c in cosines.items()}}
