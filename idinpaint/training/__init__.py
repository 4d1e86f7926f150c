"""Training of the CA inpainter and the identity-guided Fusor (Lightning, staged, one YAML file).

* :mod:`.masks` — the training mask sampler (regions, blocks, free-form strokes, MaskTheFace);
* :mod:`.data` — :class:`FaceFolderDataset` and LFW's identity-disjoint halves;
* :mod:`.modules` — :class:`CAModule`, :class:`FusorModule` (manual optimisation);
* :mod:`.stages` — :func:`run_training`: the staged run with checkpoints, resume and provenance.

Importing this package is cheap; Lightning is imported by :mod:`.modules` / :mod:`.stages` only.
"""
from __future__ import annotations

from .data import (FaceFolderDataset, lfw_half_pairs, lfw_half_people, lfw_training_files, lfw_training_people,
                   split_by_identity)
from .masks import MASK_KINDS, MaskSampler

__all__ = ["FaceFolderDataset", "MaskSampler", "MASK_KINDS", "lfw_half_pairs", "lfw_half_people",
           "lfw_training_files", "lfw_training_people", "split_by_identity", "run_training", "CAModule",
           "FusorModule", "NonFiniteLossError"]


def __getattr__(name):  # lazy: keep `import idinpaint.training` free of Lightning
    if name == "run_training":
        from .stages import run_training

        return run_training
    if name in ("CAModule", "FusorModule", "NonFiniteLossError"):
        from . import modules

        return getattr(modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
