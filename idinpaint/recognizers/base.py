"""The one interface every recognizer offers: ``embed(images) -> (N, D)`` L2-normalised."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from idinpaint.progress import progress_bar


def check_faces(images: np.ndarray, size: int = 112) -> np.ndarray:
    """Validate a batch of aligned faces: RGB uint8 (N, size, size, 3); a single face is promoted."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ValueError(
            f"expected aligned RGB uint8 faces shaped (N, {size}, {size}, 3), got {images.dtype} {images.shape}"
        )
    return images


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Recognizer(ABC):
    """A frozen face recognizer working on 112x112 ArcFace-aligned RGB uint8 crops."""

    name: str = "recognizer"
    dim: int = 0
    #: True when gradients reach the input (usable as a training loss network).
    differentiable: bool = False
    #: fastest batch on a 2-core CPU (see benchmarks/); GPUs want larger ones.
    default_batch_size: int = 64

    def embed(self, images: np.ndarray, batch_size: int | None = None, progress: bool = False, **kwargs) -> np.ndarray:
        """Embed faces in batches; returns float32 (N, dim), each row of unit length."""
        images = check_faces(images)
        batch_size = batch_size or self.default_batch_size
        chunks = []
        starts = range(0, len(images), batch_size)
        for start in progress_bar(starts, desc=f"embed[{self.name}]", disable=not progress):
            chunk_kwargs = {k: v[start:start + batch_size] for k, v in kwargs.items() if v is not None}
            chunks.append(self._embed_batch(images[start:start + batch_size], **chunk_kwargs))
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.concatenate(chunks).astype(np.float32))

    #: True when :meth:`embed_start` hands the work to other processes and returns at once.
    parallel: bool = False

    def embed_start(self, images: np.ndarray, batch_size: int | None = None, **kwargs):
        """Start embedding ``images``; returns a function that gives the :meth:`embed` vectors.
        Here the work is done now; a recognizer whose network runs in other processes
        (:attr:`parallel`) returns at once, so the caller can work while they compute."""
        vectors = self.embed(images, batch_size=batch_size, **kwargs)
        return lambda: vectors

    @abstractmethod
    def _embed_batch(self, images: np.ndarray, **kwargs) -> np.ndarray:
        """Raw (not yet normalised) embeddings of one validated batch."""
