"""Finding what is occluded on an aligned crop: the one door to the O-Detector, as
:func:`idinpaint.fillers.get_filler` is the door to the fillers.

:func:`get_detector` gives one detector file as a :class:`~idinpaint.models.detector.Detector`, or
the LFW-half pair (``odetector_<recipe>_half{A,B}.pt``, default ``checkpoints/``) as an
:class:`LFWHalvesDetector`: each crop goes to the detector that never saw its person, through the
same router as the learned fillers (:class:`~idinpaint.data.lfw.LFWHalvesRouter`).

Where the rest lives: the network and its runtime (mask settings, :func:`postprocess`) in
:mod:`idinpaint.models.detector`; the file format and the shipped pair in
:mod:`idinpaint.checkpoints`; the composites it learns from in :mod:`idinpaint.occlusion.composites`;
its training (a ``model: detector`` stage of ``config/train.yaml``) in
:mod:`idinpaint.training.detector`; its tables in :mod:`idinpaint.evaluation.detector`; its figure
in :func:`idinpaint.figures.detector_examples_figure`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from idinpaint.checkpoints import (
    DETECTOR_DIR_ENV,
    SHIPPED_DIR,
    SHIPPED_RECIPE,
    load_detector,
    save_detector,
    shipped_detectors,
)
from idinpaint.data.lfw import LFWHalvesRouter
from idinpaint.imageio import overlay
from idinpaint.models.detector import DEFAULT_MASK, NOTHING_FRACTION, Detector, postprocess
from idinpaint.paths import results_dir

__all__ = ["DEFAULT_MASK", "DETECTOR_DIR_ENV", "detector_folder", "NOTHING_FRACTION", "SHIPPED_DIR", "Detector", "LFWHalvesDetector",
           "get_detector", "load_detector", "overlay", "postprocess", "save_detector", "shipped_detectors"]


class LFWHalvesDetector:
    """Two detectors, one per LFW half, routed by :class:`~idinpaint.data.lfw.LFWHalvesRouter`:
    people of pairs folds 1-5 to half A's, 6-10 to half B's; crops of people in no pair, of people
    outside LFW, or without paths go to ``default_half`` (an error when it is None)."""

    def __init__(self, detectors: dict[str, Detector], pairs=None, lfw_root=None, default_half: str | None = None):
        self.router = LFWHalvesRouter(dict(sorted(detectors.items())), pairs, lfw_root, default_half, "detectors")
        self.detectors, self.default_half = self.router.members, self.router.default_half
        self.name, self.mask = "odetector", self.detectors["A"].mask

    def half_for(self, relative) -> str:
        return self.router.half_for(relative)

    def probabilities(self, crops):
        return self.router.default().probabilities(crops)

    def masks(self, crops):
        return self.router.default().masks(crops)

    def predict_for(self, crops: np.ndarray, relatives: Sequence[str] | None = None) -> np.ndarray:
        if relatives is None:
            return self.masks(crops)
        crops = np.asarray(crops)
        return self.router.route(lambda detector, chosen: detector.masks(chosen), crops, relatives,
                                 np.zeros(crops.shape[:3], dtype=bool))

    @property
    def fingerprint(self) -> str:
        return "LFWHalvesDetector(" + "; ".join(f"{h}: {d.fingerprint}" for h, d in self.detectors.items()) + ")"

    def __repr__(self) -> str:
        inner = ", ".join(f"{h}={d.sha256}" for h, d in self.detectors.items())
        return f"LFWHalvesDetector({inner}, default_half={self.default_half!r})"


def get_detector(checkpoint=None, folder=None, recipe: str = SHIPPED_RECIPE, default_half: str | None = None,
                 pairs=None, lfw_root=None, device=None, **mask_settings):
    """One file (``checkpoint``) as a :class:`Detector`, else the pair ``odetector_<recipe>_half{A,B}.pt``
    in ``folder`` (default ``$IDINPAINT_DETECTOR_DIR`` or ``checkpoints/``) as an :class:`LFWHalvesDetector`."""
    if checkpoint is not None:
        return load_detector(checkpoint, device, **mask_settings)
    files = shipped_detectors(recipe, folder)
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no O-Detector here; train the pair with `idinpaint detector train "
                                f"--recipe {recipe}` (or point {DETECTOR_DIR_ENV} at a folder holding "
                                f"odetector_{recipe}_half{{A,B}}.pt)")
    detectors = {half: load_detector(path, device, **mask_settings) for half, path in files.items()}
    return LFWHalvesDetector(detectors, pairs=pairs, lfw_root=lfw_root, default_half=default_half)


def detector_folder(recipe: str = SHIPPED_RECIPE, folder=None) -> Path:
    """Where a recipe's pair is: ``folder``, else ``$IDINPAINT_DETECTOR_DIR``, else ``checkpoints/`` for
    the shipped ``cpu`` pair and ``results/detector/<recipe>`` (where ``detector train`` writes) otherwise."""
    if folder:
        return Path(folder)
    if os.environ.get(DETECTOR_DIR_ENV):
        return Path(os.environ[DETECTOR_DIR_ENV])
    return SHIPPED_DIR if recipe == SHIPPED_RECIPE else results_dir() / "detector" / recipe
