"""Training of the CA inpainter, the identity-guided Fusor and the O-Detector (Lightning, staged, one YAML file).

* :mod:`.masks` — the training mask sampler (weighted specs of the occlusion grammar);
* :mod:`.data` — :class:`FaceFolderDataset` (which crops it reads: :mod:`idinpaint.data.lfw`);
* :mod:`.modules` — :class:`CAModule`, :class:`FusorModule` (manual optimisation);
* :mod:`.detector` — :class:`DetectorModule` and its composite datasets (the O-Detector, a ``model:
  detector`` stage); :mod:`.budget` — the ``trainer.max_minutes`` cap;
* :mod:`.stages` — :func:`run_training`: the staged run with checkpoints, resume and provenance, for
  every model (one loader: :func:`idinpaint.config.load_training_config`; one run folder: :mod:`idinpaint.runs`);
* :mod:`.pairs` — an LFW-half pair trained and named as the shipped one (``idinpaint detector train``).

Importing this package is cheap; Lightning is imported by :mod:`.modules`, :mod:`.detector`, :mod:`.budget`
and :mod:`.stages` only.
"""
from __future__ import annotations

from idinpaint.training.data import FaceFolderDataset
from idinpaint.training.masks import MASK_KINDS, MaskSampler

__all__ = ["FaceFolderDataset", "MaskSampler", "MASK_KINDS", "run_training", "CAModule", "FusorModule",
           "NonFiniteLossError"]


def __getattr__(name):  # lazy: keep `import idinpaint.training` free of Lightning
    if name == "run_training":
        from idinpaint.training.stages import run_training  # Lightning: on use only

        return run_training
    if name in ("CAModule", "FusorModule", "NonFiniteLossError"):
        from idinpaint.training import modules  # Lightning: on use only

        return getattr(modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
