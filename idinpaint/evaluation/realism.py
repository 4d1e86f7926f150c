"""Is it a face? Realism and fidelity of a fill against the clean crop, beside the identity numbers.

A face inpainter is judged on two axes: *is it this person* (verification, :mod:`.occluded`) and
*is it a face* (this module). Per filled crop, against the clean crop it came from:

* ``chroma_spread`` — the spread of CIELAB chroma inside the hole relative to the clean crop's:
  ``sqrt(var(a*) + var(b*))`` of the fill over the same of the clean pixels. Real skin and face
  parts give about 1; a blur gives less (the colour is averaged away); a coloured periodic
  pattern gives much more. This is the statistic that separates a recognizer-pleasing texture from
  a face (a real face part of another person pasted in scores about 1, the texture 1.4-2.8). Tables
  report the **median** over crops.
* ``chroma_error`` — mean ``|Δa*| + |Δb*|`` inside the hole (CIELAB units): wrong colours;
* ``hole_l1`` — mean absolute error inside the hole (RGB, 0-1);
* ``hole_psnr`` — PSNR inside the hole (dB, peak 1);
* ``ssim`` — SSIM of the whole 112x112 crop (torchmetrics, Gaussian window 11, sigma 1.5);
* ``periodicity`` — how strongly the fill's luminance detail repeats itself (:func:`periodicity`):
  0.32 for a real face part of another person (``donor``) and 0.26 for Telea on half A's held-out
  crops (hardest three regions), 0.51 for the shipped CA + ID's texture; a blur scores lower still. It catches what the chroma
  spread cannot: a *luminance* pattern (stripes, a tiled texture) drawn in the face's own colours.
  Tables report the median.

PSNR, L1 and SSIM measure *fidelity* to this photo and reward blur (a real face part of another
person scores lower than a blur); the chroma spread measures *realism*. Read them together. FID and
LPIPS are not computed: their backbones are downloaded from a hub at run time, which this project
does not do.

Cached per condition (occlusion, filler) in ``cache_dir()/realism`` with the embedding-cache
format (one vector per crop), so a re-run or a second recognizer costs nothing.
"""
from __future__ import annotations

import math
from typing import Mapping

import cv2
import numpy as np

#: Per-crop realism fields, in the order of the cached vectors.
REALISM_FIELDS = ("chroma_spread", "chroma_error", "hole_l1", "hole_psnr", "ssim", "periodicity")
#: How a condition's per-crop values are summarised in tables: the ratios and the periodicity by the median.
SUMMARY = {"chroma_spread": "median", "chroma_error": "mean", "hole_l1": "mean", "hole_psnr": "mean", "ssim": "mean",
           "periodicity": "median"}
PSNR_CAP = 100.0


def to_lab(images: np.ndarray) -> np.ndarray:
    """RGB uint8 (N, H, W, 3) -> float32 CIELAB (L in 0-100, a*, b* in their natural range)."""
    images = np.asarray(images)
    out = np.empty(images.shape, np.float32)
    for i, image in enumerate(images):
        out[i] = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return out


def ssim_batch(filled: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Per-image SSIM (N,) of RGB uint8 crops (torchmetrics' Gaussian SSIM, data range 1)."""
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    a = torch.from_numpy(np.ascontiguousarray(filled)).permute(0, 3, 1, 2).float() / 255.0
    b = torch.from_numpy(np.ascontiguousarray(clean)).permute(0, 3, 1, 2).float() / 255.0
    values = structural_similarity_index_measure(a, b, data_range=1.0, reduction="none")
    return values.reshape(-1).numpy().astype(np.float64)


#: Directions along which the autocorrelation of the detail layer is followed (pixels per step).
_RAYS = ((0, 1), (1, 0), (1, 1), (1, -1))


def periodicity(filled: np.ndarray, mask: np.ndarray, max_lag: int = 16, sigma: float = 3.0) -> float:
    """How much the fill's luminance detail repeats: the largest *rebound* of its autocorrelation.

    The detail layer is the luminance minus its Gaussian blur (``sigma``), inside the hole. Its
    normalised autocorrelation (over the pixel pairs that both lie in the hole) is followed along
    four directions for lags 1..``max_lag``; the rebound at lag k is ``ac(k) - min(ac(1..k-1))``
    (k >= 4). A smooth fill decays monotonically (rebound ≈ 0), real skin and face parts rebound a
    little, a pattern with a period of a few pixels falls below zero at half its period and comes
    back at the period (rebound well above 0.5). 0 for a hole without detail."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return math.nan
    luminance = cv2.cvtColor(np.ascontiguousarray(filled), cv2.COLOR_RGB2GRAY).astype(np.float64)
    detail = luminance - cv2.GaussianBlur(luminance, (0, 0), sigma)
    ys, xs = np.nonzero(mask)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    inside = mask[box].astype(np.float64)
    values = detail[box] * inside
    values -= values.sum() / inside.sum() * inside
    variance = float((values ** 2).sum() / inside.sum())
    if variance < 1e-9:
        return 0.0
    shape = (2 * values.shape[0], 2 * values.shape[1])  # zero-padded: no wrap-around
    spectrum, support = np.fft.rfft2(values, shape), np.fft.rfft2(inside, shape)
    products = np.fft.irfft2(spectrum * np.conj(spectrum), shape)
    pairs = np.fft.irfft2(support * np.conj(support), shape)
    best = 0.0
    for step_y, step_x in _RAYS:
        ac = []
        for k in range(1, max_lag + 1):
            at = ((step_y * k) % shape[0], (step_x * k) % shape[1])
            if pairs[at] < 0.25 * inside.sum():  # too few pixel pairs this far apart
                break
            ac.append(products[at] / pairs[at] / variance)
        for k in range(3, len(ac)):
            best = max(best, ac[k] - min(ac[:k]))
    return float(best)


def realism_metrics(filled: np.ndarray, clean: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-crop realism of ``filled`` against ``clean`` (both RGB uint8 (N, H, W, 3)) inside
    ``masks`` (bool (N, H, W), True = hole). Returns {field: (N,) float64}; NaN where a crop has no
    hole (or, for the spread, where the clean hole has no colour variation at all)."""
    filled, clean, masks = np.asarray(filled), np.asarray(clean), np.asarray(masks, bool)
    if filled.shape != clean.shape or filled.ndim != 4 or filled.shape[3] != 3 or masks.shape != filled.shape[:3]:
        raise ValueError(f"realism_metrics: filled {filled.shape}, clean {clean.shape}, masks {masks.shape} do not match")
    n = len(filled)
    out = {field: np.full(n, math.nan) for field in REALISM_FIELDS}
    if not n:
        return out
    lab_f, lab_c = to_lab(filled), to_lab(clean)
    diff = filled.astype(np.float64) / 255.0 - clean.astype(np.float64) / 255.0
    for i in range(n):
        hole = masks[i]
        count = int(hole.sum())
        if count == 0:
            continue
        chroma_f, chroma_c = lab_f[i][hole][:, 1:], lab_c[i][hole][:, 1:]
        spread_c = math.sqrt(float(chroma_c.var(axis=0).sum()))
        if count > 1 and spread_c > 1e-6:
            out["chroma_spread"][i] = math.sqrt(float(chroma_f.var(axis=0).sum())) / spread_c
        out["chroma_error"][i] = float(np.abs(chroma_f - chroma_c).sum(axis=1).mean())
        error = diff[i][hole]
        out["hole_l1"][i] = float(np.abs(error).mean())
        mse = float((error ** 2).mean())
        out["hole_psnr"][i] = PSNR_CAP if mse <= 10 ** (-PSNR_CAP / 10) else 10 * math.log10(1.0 / mse)
        out["periodicity"][i] = periodicity(filled[i], hole)
    out["ssim"] = ssim_batch(filled, clean)
    return out


def as_vectors(metrics: Mapping[str, np.ndarray]) -> np.ndarray:
    """{field: (N,)} -> (N, len(REALISM_FIELDS)) float32, in :data:`REALISM_FIELDS` order."""
    return np.stack([np.asarray(metrics[f], np.float64) for f in REALISM_FIELDS], axis=1).astype(np.float32)


def summarize(values: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, float]:
    """One number per field over crops (:data:`SUMMARY`: median spread, other means), NaNs ignored."""
    if not isinstance(values, Mapping):
        values = {f: np.asarray(values)[:, k] for k, f in enumerate(REALISM_FIELDS)}
    out = {}
    for field in REALISM_FIELDS:
        column = np.asarray(values[field], np.float64)
        column = column[np.isfinite(column)]
        if not len(column):
            out[field] = math.nan
        else:
            out[field] = float(np.median(column) if SUMMARY[field] == "median" else column.mean())
    return out
