"""``reference``: the hole gets real pixels of **another photo of the same person**, fitted to the
visible ring around the hole, matched in colour and light there, and Poisson-blended.

Exemplar-guided completion (Dolhansky & Canton Ferrer, *Eye In-Painting with Exemplar GANs*, CVPR 2018,
take another photo of the person as the reference) without a network: both crops are already on the
ArcFace 5-point template, so the reference needs only a small correction, found where both photos
show the face — the ring of visible pixels around the hole.

1. **Fit** (:func:`fit_reference`): the reference is shifted onto the occluded crop by an ECC alignment
   (Evangelidis & Psarakis, 2008; a translation, :data:`MOTION`) restricted to the ring — the visible
   face pixels within :data:`RING_WIDTH` of the hole (``cv2.findTransformECCWithMask``: the hole, which
   shows the occluder, and the background, which differs from photo to photo, never count). When ECC
   does not converge the 5-point alignment is kept. The fit is **refused**, with one line saying why,
   when the warp is far from a small shift (the 5-point alignments disagree: another pose or a bad
   landmark) or when the ring still differs after the fit (normalised cross-correlation of the grey
   ring under :data:`MIN_RING_NCC`). Both settings were chosen on half A's held-out validation faces
   (docs/experiments.md): a full affine ECC on the thin ring was unstable, and refusing below 0.25
   costs under 0.02 of the dlib recovery ratio.
2. **Colour and light** (:func:`match_colour`): per channel, the gain and offset that map the fitted
   reference's ring onto the crop's ring (least squares, the gain kept within :data:`GAIN_RANGE`).
3. **Blend**: the exact Poisson solver of :func:`idinpaint.blending.poisson_blend` — the hole takes the
   reference's gradients and meets the crop's own pixels at the hole's edge.

With several references the one whose ring fits best is used (:attr:`ReferenceFit.ncc`), never the one a
recogniser prefers. Every number it gives knows who the probe is: it is the "reference available"
track, kept apart from the blind protocol.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from idinpaint.blending import poisson_blend
from idinpaint.fillers.base import Filler, as_batch

#: Width (pixels of the 112 crop) of the visible ring around the hole on which the reference is fitted.
RING_WIDTH = 12
#: The face in the 112 crop: ellipse centre (x, y) and semi-axes, around the ArcFace template (eyes at
#: y 52, mouth corners at y 92, x 38-74).
FACE_ELLIPSE = ((56.0, 66.0), (40.0, 54.0))
#: A fit is refused when the grey ring's normalised cross-correlation after the fit is below this.
MIN_RING_NCC = 0.25
#: Bounds of the ECC warp (the two crops are both 5-point aligned: the correction is small).
MAX_SCALE_CHANGE = 0.15      # |scale - 1|
MAX_ROTATION_DEG = 12.0
MAX_SHIFT_PX = 10.0          # displacement of the hole's centre
MAX_ANISOTROPY = 1.2         # ratio of the warp's singular values (1 = a similarity)
#: The colour gain per channel is kept within this range.
GAIN_RANGE = (0.6, 1.6)
#: Changes when the fill's algorithm changes: part of the evaluation cache key.
REFERENCE_VERSION = 1
#: The ring alignment's motion model (``none`` keeps the 5-point alignment as it is).
MOTION = "translation"
MOTIONS = {"translation": cv2.MOTION_TRANSLATION, "euclidean": cv2.MOTION_EUCLIDEAN, "affine": cv2.MOTION_AFFINE}
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 80, 1e-5)


class ReferenceRefused(ValueError):
    """No reference could be fitted to this crop; the message is one line saying why."""


@dataclass
class ReferenceFit:
    """How one reference fits one occluded crop: ``ok`` or the ``reason`` it was refused, the ring's
    normalised cross-correlation after the fit (``ncc``), the warp (2x3, reference -> crop, for
    ``cv2.warpAffine`` with ``WARP_INVERSE_MAP``) and its scale, rotation and hole-centre shift."""

    ok: bool
    reason: str = ""
    ncc: float = float("nan")
    scale: float = float("nan")
    rotation_deg: float = float("nan")
    shift_px: float = float("nan")
    anisotropy: float = float("nan")
    index: int = 0
    warp: np.ndarray = field(default_factory=lambda: np.eye(2, 3, dtype=np.float32), repr=False)

    def summary(self) -> str:
        """One line: the fit's numbers, or why it was refused."""
        if not self.ok:
            return f"refused: {self.reason}"
        return (f"ring fit {self.ncc:.2f} (scale {self.scale:.3f}, rotation {self.rotation_deg:+.1f} deg, "
                f"shift {self.shift_px:.1f} px)")


def face_region(shape: tuple[int, int]) -> np.ndarray:
    """bool (H, W): the face in an aligned crop, an ellipse around the ArcFace template's landmarks
    (:data:`FACE_ELLIPSE`, scaled to the crop). Background and hair differ from photo to photo of one
    person; the fit is judged on the face."""
    height, width = shape
    (cx, cy), (ax, ay) = FACE_ELLIPSE
    yy, xx = np.mgrid[:height, :width]
    scale = width / 112.0
    return ((xx - cx * scale) / (ax * scale)) ** 2 + ((yy - cy * scale) / (ay * scale)) ** 2 <= 1.0


def ring_mask(mask: np.ndarray, width: int = RING_WIDTH) -> np.ndarray:
    """bool (H, W): the visible face pixels within ``width`` of the hole (True = ring): the hole grown
    by ``width``, less the hole, within :func:`face_region`."""
    mask = np.asarray(mask, bool)
    size = 2 * int(width) + 1
    grown = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))) > 0
    return grown & ~mask & face_region(mask.shape)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def warp_reference(reference: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """The reference in the occluded crop's frame (bilinear, the border replicated)."""
    height, width = reference.shape[:2]
    return cv2.warpAffine(reference, warp.astype(np.float32), (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def _warp_geometry(warp: np.ndarray, centre: np.ndarray) -> tuple[float, float, float, float]:
    """(scale, rotation in degrees, displacement of ``centre`` in pixels, anisotropy) of a 2x3 warp."""
    linear = warp[:, :2].astype(np.float64)
    singular = np.linalg.svd(linear, compute_uv=False)
    scale = float(np.sqrt(abs(np.linalg.det(linear))))
    rotation = float(np.degrees(np.arctan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1])))
    moved = linear @ centre + warp[:, 2]
    return scale, rotation, float(np.hypot(*(moved - centre))), float(singular[0] / max(singular[1], 1e-9))


def fit_reference(probe: np.ndarray, mask: np.ndarray, reference: np.ndarray, ring: int = RING_WIDTH,
                  min_ncc: float = MIN_RING_NCC, motion: str | None = None) -> ReferenceFit:
    """Fit ``reference`` (an aligned crop of the same person) to the occluded ``probe`` on the visible
    ring around ``mask`` (True = hole). Never raises for a poor fit: returns ``ok=False`` with the
    reason (see the module docstring)."""
    mask = np.asarray(mask, bool)
    motion = motion or MOTION
    if reference.shape != probe.shape:
        return ReferenceFit(False, f"the reference is {reference.shape[1]}x{reference.shape[0]}, the crop "
                                   f"{probe.shape[1]}x{probe.shape[0]}")
    around = ring_mask(mask, ring)
    if around.sum() < 50:
        return ReferenceFit(False, f"only {int(around.sum())} visible pixels around the hole to fit on")
    template, moving = _grey(probe), _grey(reference)
    warp = np.eye(2, 3, dtype=np.float32)  # motion "none": the 5-point alignment as it is
    if motion != "none":
        try:
            _, warp = cv2.findTransformECCWithMask(template, moving, around.astype(np.uint8) * 255,
                                                   np.full(moving.shape, 255, np.uint8), warp, MOTIONS[motion],
                                                   _ECC_CRITERIA, 5)
        except cv2.error:  # ECC did not converge: keep the 5-point alignment
            warp = np.eye(2, 3, dtype=np.float32)
    ys, xs = np.nonzero(mask)
    centre = np.array([xs.mean(), ys.mean()]) if len(xs) else np.array(probe.shape[1::-1]) / 2
    scale, rotation, shift, anisotropy = _warp_geometry(warp, centre)
    geometry = dict(scale=scale, rotation_deg=rotation, shift_px=shift, anisotropy=anisotropy, warp=warp)
    for bad, why in ((abs(scale - 1) > MAX_SCALE_CHANGE, f"scale {scale:.2f}"),
                     (abs(rotation) > MAX_ROTATION_DEG, f"rotation {rotation:+.0f} deg"),
                     (shift > MAX_SHIFT_PX, f"shift {shift:.0f} px"),
                     (anisotropy > MAX_ANISOTROPY, f"a {anisotropy:.2f}:1 stretch")):
        if bad:
            return ReferenceFit(False, f"pose too far off: fitting it needs {why}", **geometry)
    fitted = _grey(warp_reference(reference, warp))
    ncc = _ncc(template[around], fitted[around])
    if ncc < min_ncc:
        return ReferenceFit(False, f"the visible ring does not match (fit {ncc:.2f} < {min_ncc:.2f})", ncc=ncc,
                            **geometry)
    return ReferenceFit(True, ncc=ncc, **geometry)


def match_colour(source: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``source`` with each channel mapped by the gain and offset that best take its ``region`` pixels
    to ``target``'s (least squares; gain within :data:`GAIN_RANGE`). RGB uint8 in and out."""
    out = np.empty(source.shape, np.float32)
    for c in range(3):
        s = source[..., c][region].astype(np.float64)
        t = target[..., c][region].astype(np.float64)
        variance = s.var()
        gain = float(np.clip(((s - s.mean()) * (t - t.mean())).mean() / variance, *GAIN_RANGE)) if variance > 1e-6 else 1.0
        out[..., c] = gain * source[..., c] + (t.mean() - gain * s.mean())
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def fill_from(probe: np.ndarray, mask: np.ndarray, reference: np.ndarray, fit: ReferenceFit,
              ring: int = RING_WIDTH) -> np.ndarray:
    """The probe with its hole filled from a fitted reference: warped, colour-matched on the ring,
    Poisson-blended. Only hole pixels change."""
    mask = np.asarray(mask, bool)
    aligned = warp_reference(reference, fit.warp)
    matched = match_colour(aligned, probe, ring_mask(mask, ring))
    return poisson_blend(probe, matched, mask)


def best_fit(probe: np.ndarray, mask: np.ndarray, references: Sequence[np.ndarray], ring: int = RING_WIDTH,
             min_ncc: float = MIN_RING_NCC, motion: str | None = None) -> ReferenceFit:
    """The best-fitting of ``references`` (by the ring's fit, never by a recogniser), with ``index``
    set; when every one is refused, the refusal of the best-fitting one (its reason)."""
    fits = []
    for index, reference in enumerate(references):
        fit = fit_reference(probe, mask, np.asarray(reference), ring, min_ncc, motion)
        fit.index = index
        fits.append(fit)
    if not fits:
        return ReferenceFit(False, "no reference photo")
    accepted = [f for f in fits if f.ok]
    pool = accepted or fits
    return max(pool, key=lambda f: -np.inf if np.isnan(f.ncc) else f.ncc)


def reference_fill(probe: np.ndarray, mask: np.ndarray, references: Sequence[np.ndarray] | np.ndarray,
                   ring: int = RING_WIDTH, min_ncc: float = MIN_RING_NCC,
                   motion: str | None = None) -> tuple[np.ndarray, ReferenceFit]:
    """(filled probe, the fit used) from the best-fitting reference; :class:`ReferenceRefused` (one
    line) when none fits. ``references``: one aligned crop (H, W, 3) or several (k, H, W, 3)."""
    references = np.asarray(references)
    if references.ndim == 3:
        references = references[None]
    fit = best_fit(probe, mask, references, ring, min_ncc, motion)
    if not fit.ok:
        plural = "s" if len(references) > 1 else ""
        raise ReferenceRefused(f"no reference fits ({len(references)} photo{plural}; the best: {fit.reason})")
    return fill_from(probe, mask, references[fit.index], fit, ring), fit


class ReferenceFiller(Filler):
    """The ``reference`` filler: each crop's hole filled from another photo of the same person.

    Where the references come from: ``fill(images, masks, references=...)`` takes them per call (one
    crop for every image, or a list with one crop or a stack of crops per image); ``references`` given
    here are used for every image; ``references_for(relative) -> (k, H, W, 3)`` gives them by dataset
    path in ``fill_for`` (e.g. :func:`idinpaint.evaluation.reference.lfw_references`).

    A crop with no reference, or none that fits, is filled by ``fallback`` (a Filler, e.g. Telea) when
    one is given, else :class:`ReferenceRefused` is raised naming the crop. :attr:`fits` holds, after
    each call, one :class:`ReferenceFit` per image (``ok=False`` where the fallback filled it).
    """

    name = "reference"

    def __init__(self, references=None, references_for: Callable[[str], np.ndarray] | None = None,
                 fallback: Filler | None = None, ring: int = RING_WIDTH, min_ncc: float = MIN_RING_NCC,
                 motion: str | None = None, key: str = ""):
        self.references = None if references is None else np.asarray(references)
        self.references_for = references_for
        self.fallback = fallback
        self.ring, self.min_ncc, self.motion = int(ring), float(min_ncc), motion or MOTION
        if self.motion not in (*MOTIONS, "none"):
            raise ValueError(f"reference: unknown motion {self.motion!r}; valid: none, {', '.join(MOTIONS)}")
        self.key = key  # what decides the references (e.g. the LFW rule): part of the cache key
        self.fits: list[ReferenceFit] = []
        #: after each call, the reference crop used for each image (None where the fallback filled it)
        self.chosen: list[np.ndarray | None] = []

    def fill(self, images, masks, references=None) -> np.ndarray:
        images, masks, single = as_batch(images, masks)
        per_image = self._per_image(references if references is not None else self.references, len(images))
        out = self.composite(images, masks, self._fill_each(images, masks, per_image, [None] * len(images)))
        return out[0] if single else out

    def fill_for(self, images, masks, relatives=None) -> np.ndarray:
        if relatives is None or self.references_for is None:
            return self.fill(images, masks)
        images, masks, single = as_batch(images, masks)
        if len(relatives) != len(images):
            raise ValueError(f"reference: {len(relatives)} paths for {len(images)} images")
        per_image = [self.references_for(rel) for rel in relatives]
        out = self.composite(images, masks, self._fill_each(images, masks, per_image, list(relatives)))
        return out[0] if single else out

    def _fill(self, images, masks):
        return self._fill_each(images, masks, self._per_image(self.references, len(images)), [None] * len(images))

    @staticmethod
    def _per_image(references, count: int) -> list:
        if references is None:
            return [None] * count
        if isinstance(references, np.ndarray) and references.ndim in (3, 4):
            return [references] * count  # one set for every image
        references = list(references)
        if len(references) != count:
            raise ValueError(f"reference: {len(references)} reference sets for {count} images")
        return references

    def _fill_each(self, images, masks, per_image, names) -> np.ndarray:
        out = np.empty_like(images)
        self.fits, self.chosen = [], []
        refused = []
        for i, (image, mask, refs) in enumerate(zip(images, masks, per_image)):
            refs = None if refs is None else np.asarray(refs)
            if refs is not None and refs.ndim == 3:
                refs = refs[None]
            fit = (best_fit(image, mask, refs, self.ring, self.min_ncc, self.motion) if refs is not None and len(refs)
                   else ReferenceFit(False, "no reference photo"))
            self.fits.append(fit)
            self.chosen.append(refs[fit.index] if fit.ok else None)
            if fit.ok:
                out[i] = fill_from(image, mask, refs[fit.index], fit, self.ring)
            else:
                refused.append(i)
        if refused and self.fallback is None:
            i = refused[0]
            name = names[i] or f"image {i}"
            raise ReferenceRefused(f"{name}: {self.fits[i].reason} (and {len(refused) - 1} more)" if len(refused) > 1
                                   else f"{name}: {self.fits[i].reason}")
        if refused:
            out[refused] = self.fallback.fill(images[refused], masks[refused])
        return out

    def __repr__(self) -> str:  # the evaluation cache key: the algorithm, its settings and the reference rule
        given = "" if self.references is None else f", given={hashlib.sha1(self.references.tobytes()).hexdigest()[:12]}"
        fallback = "" if self.fallback is None else f", fallback={self.fallback!r}"
        return (f"ReferenceFiller(v{REFERENCE_VERSION}, ring={self.ring}, min_ncc={self.min_ncc}, motion={self.motion}{given}"
                f"{', key=' + self.key if self.key else ''}{fallback})")
