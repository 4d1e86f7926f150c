"""``mean_face``: the per-pixel mean of training faces copied into the hole; fitted on LFW people
in no View-2 pair (:func:`fit_mean_face`), never on the people it is scored on."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Iterable

import numpy as np

from idinpaint.data.aligned import read_faces
from idinpaint.data.lfw import Pair, default_aligned_root, load_pairs, unpaired_crops
from idinpaint.fillers.base import Filler
from idinpaint.imageio import atomic_write_bytes
from idinpaint.paths import cache_dir
from idinpaint.runinfo import write_json

#: The mean face of the protocol: one crop each of 300 people in no pair, drawn with seed 0.
MEAN_FACE_COUNT = 300
MEAN_FACE_SEED = 0


class MeanFaceFiller(Filler):
    """Copies the per-pixel mean of training faces into the hole.

    Build it from an array of faces (``MeanFaceFiller(faces)``), fit it (``.fit(images)``; images
    may be one (N, H, W, 3) array or an iterable of such batches / single images, so a large set
    can be streamed) or load a saved mean (``MeanFaceFiller.load(path)`` / ``path=``).
    """

    name = "mean_face"

    def __init__(self, faces=None, mean: np.ndarray | None = None, path=None):
        self.mean: np.ndarray | None = None
        given = sum(x is not None for x in (faces, mean, path))
        if given > 1:
            raise ValueError("give at most one of faces, mean, path")
        if faces is not None:
            self.fit(faces)
        elif mean is not None:
            self.mean = self._check_mean(mean, "mean")
        elif path is not None:
            self.mean = self._read(path)

    @staticmethod
    def _check_mean(mean, where) -> np.ndarray:
        mean = np.asarray(mean)
        numeric = np.issubdtype(mean.dtype, np.floating) or mean.dtype == np.uint8
        if mean.ndim != 3 or mean.shape[2] != 3 or not numeric:
            raise ValueError(f"{where}: a mean face must be (H, W, 3) float or uint8, got {mean.dtype} {mean.shape}")
        mean = mean.astype(np.float32)
        if not np.isfinite(mean).all() or mean.min() < 0 or mean.max() > 255:
            raise ValueError(f"{where}: mean face values must be finite and within [0, 255]")
        return mean

    def fit(self, images) -> "MeanFaceFiller":
        total, count = None, 0
        batches: Iterable = [images] if isinstance(images, np.ndarray) else images
        for batch in batches:
            batch = np.asarray(batch)
            if batch.ndim == 3:
                batch = batch[None]
            if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[3] != 3:
                raise ValueError(f"mean_face.fit: images must be RGB uint8 (N, H, W, 3), got {batch.dtype} {batch.shape}")
            if total is None:
                total = np.zeros(batch.shape[1:], dtype=np.float64)
            elif batch.shape[1:] != total.shape:
                raise ValueError(f"mean_face.fit: image size {batch.shape[1:3]} differs from earlier {total.shape[:2]}")
            total += batch.sum(axis=0, dtype=np.float64)
            count += len(batch)
        if not count:
            raise ValueError("mean_face.fit: no images given")
        self.mean = (total / count).astype(np.float32)
        return self

    def _require(self, shape) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("mean_face is not fitted: pass faces, call .fit(images) or load a saved mean")
        if self.mean.shape != tuple(shape):
            raise ValueError(f"mean_face was fitted on {self.mean.shape[:2]} images, got {tuple(shape)[:2]}")
        return self.mean

    def _fill(self, images, masks):
        mean = np.clip(np.rint(self._require(images.shape[1:])), 0, 255).astype(np.uint8)
        return np.broadcast_to(mean, images.shape).copy()

    def save(self, path) -> Path:
        """Atomically write the mean as a float32 .npy file."""
        if self.mean is None:
            raise RuntimeError("mean_face is not fitted: nothing to save")
        mean = self.mean
        path = Path(path)
        if path.suffix != ".npy":
            raise ValueError(f"{path}: mean face files are .npy")
        buffer = io.BytesIO()
        np.save(buffer, mean, allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def _read(cls, path) -> np.ndarray:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: mean face file not found (fit one and .save() it)")
        try:
            mean = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: not a readable .npy mean face ({err})") from None
        return cls._check_mean(mean, str(path))

    @classmethod
    def load(cls, path) -> "MeanFaceFiller":
        return cls(path=path)


def fit_mean_face(aligned_root=None, pairs: Iterable[Pair] | None = None, count: int = MEAN_FACE_COUNT,
                  seed: int = MEAN_FACE_SEED, exclude_people: Iterable[str] = (), lfw_root=None,
                  use_cache: bool = True) -> MeanFaceFiller:
    """A :class:`MeanFaceFiller` fitted on non-pair identities (one crop each of ``count`` people in no pair, :func:`~idinpaint.data.lfw.unpaired_crops`; ``pairs``
    default to all of LFW View-2). Cached as ``cache_dir()/mean_face_<folder>_<key>.npy`` with a
    ``.json`` listing the crops. The filler gets a ``training_files`` attribute."""
    root = Path(aligned_root or default_aligned_root()).resolve()
    pairs = load_pairs(lfw_root) if pairs is None else list(pairs)
    files = unpaired_crops(root, pairs, count, seed, exclude_people)
    key = hashlib.sha1(("\n".join([str(root), *files])).encode()).hexdigest()[:12]
    path = cache_dir() / f"mean_face_{root.name}_{key}.npy"
    if use_cache and path.is_file():
        filler = MeanFaceFiller.load(path)
    else:
        filler = MeanFaceFiller()
        filler.fit(read_faces(root, files[start:start + 64]) for start in range(0, len(files), 64))
        if use_cache:
            filler.save(path)
            write_json(path.with_suffix(".json"), {"aligned_root": str(root), "count": len(files), "seed": seed,
                                                   "people": len({f.split('/')[0] for f in files}),
                                                   "files": files})
    filler.training_files = files
    return filler
