"""occluded crop + mask -> inpainted crop: one small interface for every filler.

A filler has a ``name`` and ``fill(images, masks) -> images``: images RGB uint8 (N, H, W, 3),
masks bool (N, H, W) with True = hole (a single (H, W, 3) image with an (H, W) mask also works and
returns a single image). Every filler changes pixels inside the hole only: :meth:`Filler.fill`
composites ``where(mask, filled, image)`` after the filler's own work, whatever that work did.

The registry (:data:`FILLERS`, :func:`get_filler`), one module per kind:

* :mod:`.classic` — ``none`` (the occluded face as is), ``telea`` / ``ns`` (OpenCV's inpainting);
* :mod:`.mean_face` — ``mean_face``, the per-pixel mean of training faces;
* :mod:`.donor` — ``donor``, the same pixels of *another* person's crop (a real face part, the wrong
  identity);
* :mod:`.reference` — ``reference``, real pixels of **another photo of the same person** fitted into the
  hole (it knows who the probe is: its numbers are the "reference available" track);
* :mod:`.learned` — ``ca`` and ``ca_id``, the trained inpainters (imported on first use: they need
  torch, which the other fillers do not).

:func:`build_filler` makes the LFW-protocol instances: ``mean_face`` fitted on, and ``donor`` drawn
from, LFW people in no pair.
"""
from __future__ import annotations

from typing import Callable, Iterable

from idinpaint.data.lfw import Pair
from idinpaint.fillers.base import Filler, as_batch
from idinpaint.fillers.classic import NoneFiller, OpenCVFiller
from idinpaint.fillers.donor import DONOR_COUNT, DONOR_SEED, DonorFiller, donor_filler
from idinpaint.fillers.mean_face import MEAN_FACE_COUNT, MEAN_FACE_SEED, MeanFaceFiller, fit_mean_face
from idinpaint.fillers.reference import ReferenceFiller, ReferenceRefused


def _learned(kind: str) -> Callable[..., Filler]:
    def make(checkpoint=None, **kwargs) -> Filler:
        from idinpaint.fillers.learned import make_learned_filler  # torch and the networks: loaded on first use only

        return make_learned_filler(kind, checkpoint, **kwargs)
    make.__name__ = f"make_{kind}_filler"
    return make


_REGISTRY: dict[str, Callable[..., Filler]] = {
    "none": NoneFiller,
    "telea": lambda radius=3.0: OpenCVFiller("telea", radius),
    "ns": lambda radius=3.0: OpenCVFiller("ns", radius),
    "mean_face": MeanFaceFiller,
    "donor": DonorFiller,
    "reference": ReferenceFiller,
    "ca": _learned("ca"),
    "ca_id": _learned("ca_id"),
}

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


def is_filler_name(name: str) -> bool:
    return name in _REGISTRY


def get_filler(name: str, **kwargs) -> Filler:
    """A filler by name; unknown names raise ValueError listing the registered ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown filler {name!r}; valid fillers: {', '.join(_REGISTRY)}")
    filler = _REGISTRY[name](**kwargs)
    if not isinstance(filler, Filler):
        raise TypeError(f"factory for {name!r} returned {type(filler).__name__}, not a Filler")
    return filler


def build_filler(filler, aligned_root=None, pairs: Iterable[Pair] | None = None, lfw_root=None,
                 exclude_people: Iterable[str] = (), mean_face_count: int = MEAN_FACE_COUNT) -> Filler:
    """A Filler instance from a name (``mean_face`` fitted on, ``donor`` drawn from, LFW people in no
    pair) or an instance as is."""
    if isinstance(filler, Filler):
        return filler
    if filler == "mean_face":
        return fit_mean_face(aligned_root, pairs, count=mean_face_count, exclude_people=exclude_people,
                             lfw_root=lfw_root)
    if filler == "donor":
        return donor_filler(aligned_root, pairs, count=mean_face_count, exclude_people=exclude_people,
                            lfw_root=lfw_root)
    return get_filler(filler)


__all__ = ["FILLERS", "Filler", "as_batch", "NoneFiller", "OpenCVFiller", "MeanFaceFiller", "DonorFiller",
           "ReferenceFiller", "ReferenceRefused", "MEAN_FACE_COUNT", "MEAN_FACE_SEED", "DONOR_COUNT", "DONOR_SEED", "fit_mean_face", "donor_filler",
           "register_filler", "is_filler_name", "get_filler", "build_filler"]
