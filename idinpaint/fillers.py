"""occluded crop + mask -> inpainted crop: one small interface for every filler.

A filler has a ``name`` and ``fill(images, masks) -> images``: images RGB uint8 (N, H, W, 3),
masks bool (N, H, W) with True = hole (a single (H, W, 3) image with an (H, W) mask also works and
returns a single image). Every filler changes pixels inside the hole only: :meth:`Filler.fill`
composites ``where(mask, filled, image)`` after the filler's own work, whatever that work did.

Built in: ``none`` (the occluded face as is), ``telea`` / ``ns`` (OpenCV's classical inpainting),
``mean_face`` (the per-pixel mean of training faces) and ``donor`` (the same pixels of an aligned
crop of *another* person, Poisson-blended: a realistic face part with the wrong identity). Learned fillers (``ca``, ``ca_id``)
register themselves with :func:`register_filler`.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from idinpaint.blending import poisson_blend
from idinpaint.imageio import _atomic_write_bytes, as_mask


def as_batch(images, masks) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate and return (images (N, H, W, 3) uint8, masks (N, H, W) bool, was_single)."""
    images = np.asarray(images)
    masks = np.asarray(masks)
    single = images.ndim == 3
    if single:
        images, masks = images[None], masks[None]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"images must be RGB uint8 (N, H, W, 3) or (H, W, 3), got {images.dtype} {np.shape(images)}")
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W) (or (H, W) for one image), got shape {masks.shape}")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"masks shape {masks.shape} does not match images {images.shape[:3]}")
    # as_mask checks dtype and 0/1 values; one call on the stacked rows covers the whole batch
    checked = as_mask(masks.reshape(-1, masks.shape[2]), name="masks").reshape(masks.shape)
    return images, checked, single


class Filler:
    """Base class: subclasses set ``name`` and implement ``_fill`` on validated batches."""

    name = "filler"

    def fill(self, images, masks) -> np.ndarray:
        images, masks, single = as_batch(images, masks)
        if len(images):
            filled = np.asarray(self._fill(images, masks))
            if filled.shape != images.shape or filled.dtype != np.uint8:
                raise RuntimeError(f"{self.name}: filler returned {filled.dtype} {filled.shape}, expected uint8 {images.shape}")
            out = np.where(masks[..., None], filled, images)
        else:
            out = images.copy()
        return out[0] if single else out

    def fill_for(self, images, masks, relatives=None) -> np.ndarray:
        """``fill`` for crops whose dataset paths are known (``Name/Name_0001.png``): fillers that
        depend on who is in the picture (LFW half routing) override this; others ignore the paths."""
        return self.fill(images, masks)

    def _fill(self, images: np.ndarray, masks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class NoneFiller(Filler):
    """Leaves the occluded face as it is (the 'no inpainting' baseline)."""

    name = "none"

    def _fill(self, images, masks):
        return images.copy()


class OpenCVFiller(Filler):
    """``cv2.inpaint`` with Telea's fast-marching method or Navier-Stokes, per image."""

    METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}

    def __init__(self, method: str = "telea", radius: float = 3.0):
        if method not in self.METHODS:
            raise ValueError(f"unknown OpenCV inpainting method {method!r}; valid: {', '.join(self.METHODS)}")
        if not radius > 0:
            raise ValueError(f"radius must be > 0 pixels, got {radius!r}")
        self.name = method
        self.radius = float(radius)
        self._flag = self.METHODS[method]

    def _fill(self, images, masks):
        out = np.empty_like(images)
        for i, (image, mask) in enumerate(zip(images, masks)):
            if not mask.any():
                out[i] = image
                continue
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            hole = mask.astype(np.uint8) * 255
            out[i] = cv2.cvtColor(cv2.inpaint(bgr, hole, self.radius, self._flag), cv2.COLOR_BGR2RGB)
        return out

    def __repr__(self) -> str:
        return f"OpenCVFiller(method={self.name!r}, radius={self.radius})"


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
        _atomic_write_bytes(path, buffer.getvalue())
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


class DonorFiller(Filler):
    """The hole gets the same pixels of another person's aligned crop, Poisson-blended.

    A bracketing baseline: the fill is a real face part (realistic by construction) of the wrong
    person. ``faces`` (N, H, W, 3) uint8 are the donor crops and ``people`` their identities (LFW
    people in no evaluation pair, see :func:`idinpaint.evaluation.occluded.donor_filler`). The donor
    of a crop is a deterministic pick from its dataset path (``fill_for``), never a crop of the same
    person; without paths (``fill``) crops take donors in order.
    """

    name = "donor"

    def __init__(self, faces, people, seed: int = 0):
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[3] != 3 or faces.dtype != np.uint8 or not len(faces):
            raise ValueError(f"donor: faces must be a non-empty RGB uint8 (N, H, W, 3) array, got {faces.dtype} {faces.shape}")
        if len(people) != len(faces):
            raise ValueError(f"donor: {len(faces)} faces but {len(people)} identities")
        if len(set(people)) < 2:
            raise ValueError("donor: needs crops of at least two people")
        self.faces, self.people, self.seed = faces, [str(p) for p in people], int(seed)

    def donor_index(self, relative: str) -> int:
        """The donor of the crop at ``relative`` (``Name/Name_0001.png``): hashed, never the same person."""
        import hashlib

        person = Path(relative).parts[0] if Path(relative).parts else ""
        start = int.from_bytes(hashlib.sha256(f"{Path(relative).as_posix()}|{self.seed}".encode()).digest()[:8], "little")
        for step in range(len(self.faces)):
            index = (start + step) % len(self.faces)
            if self.people[index] != person:
                return index
        raise ValueError(f"donor: no crop of a person other than {person!r}")

    def fill_for(self, images, masks, relatives=None) -> np.ndarray:
        if relatives is None:
            return self.fill(images, masks)
        images, masks, single = as_batch(images, masks)
        self._indices = [self.donor_index(rel) for rel in relatives]
        try:
            out = self.fill(images, masks)
        finally:
            self._indices = None
        return out[0] if single else out

    def _fill(self, images, masks):
        indices = getattr(self, "_indices", None) or [i % len(self.faces) for i in range(len(images))]
        out = np.empty_like(images)
        for i, (image, mask, index) in enumerate(zip(images, masks, indices)):
            donor = self.faces[index]
            if donor.shape != image.shape:
                donor = cv2.resize(donor, image.shape[1::-1], interpolation=cv2.INTER_AREA)
            out[i] = poisson_blend(image, donor, mask)
        return out

    def __repr__(self) -> str:  # the evaluation cache key: the donor pool and its seed
        import hashlib

        digest = hashlib.sha1(self.faces.tobytes() + "|".join(self.people).encode()).hexdigest()[:16]
        return f"DonorFiller(n={len(self.faces)}, seed={self.seed}, pool={digest})"


# --- registry ----------------------------------------------------------------------------------

_REGISTRY: dict[str, Callable[..., Filler]] = {}

#: Names of the registered fillers (a live view: names registered later appear here too).
FILLERS = _REGISTRY.keys()


def register_filler(name: str, factory: Callable[..., Filler], overwrite: bool = False) -> None:
    """Make ``get_filler(name, **kwargs)`` call ``factory(**kwargs)``.

    The factory must return a :class:`Filler` subclass instance: its ``fill`` does the validation
    and the hole-only compositing, so a new filler only implements ``_fill``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"filler names must be identifiers like 'ca_id', got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"filler {name!r} is already registered (pass overwrite=True to replace it)")
    _REGISTRY[name] = factory


#: Fillers whose module registers them on import (kept lazy: they pull in torch models).
_LAZY_FILLERS = {"ca": "idinpaint.inpaint", "ca_id": "idinpaint.inpaint"}


def is_filler_name(name: str) -> bool:
    """Registered now, or registered by a module loaded on first use (``ca``, ``ca_id``)."""
    return name in _REGISTRY or name in _LAZY_FILLERS


def get_filler(name: str, **kwargs) -> Filler:
    """A filler by name; unknown names raise ValueError listing the registered ones."""
    if name not in _REGISTRY and name in _LAZY_FILLERS:
        import importlib

        importlib.import_module(_LAZY_FILLERS[name])
    if name not in _REGISTRY:
        raise ValueError(f"unknown filler {name!r}; valid fillers: {', '.join(_REGISTRY)}")
    filler = _REGISTRY[name](**kwargs)
    if not isinstance(filler, Filler):
        raise TypeError(f"factory for {name!r} returned {type(filler).__name__}, not a Filler")
    return filler


register_filler("none", NoneFiller)
register_filler("telea", lambda radius=3.0: OpenCVFiller("telea", radius))
register_filler("ns", lambda radius=3.0: OpenCVFiller("ns", radius))
register_filler("mean_face", MeanFaceFiller)
register_filler("donor", DonorFiller)
