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

**A learned judge: the classifier two-sample test** (:func:`c2st`; Lopez-Paz & Oquab, ICLR 2017).
Statistics like the ones above can be gamed: forbid colour and a generator draws in luminance.
So a fresh, seeded classifier *learns* whatever gives a fill away. The crops are split by person
into two disjoint halves; the true hole content of one half's clean crops (label 0) is told apart
from the fill of the other half's crops (label 1), each cut to the hole's bounding box (plus a
4-pixel ring of real context, so a visible seam counts too). The score is the cross-validated
ROC AUC of the out-of-fold predictions with a 95 % DeLong interval:

    AUC = P(score(fill) > score(real)): 0.5 = indistinguishable, 1 = always told apart.

Two judges, no pretrained weights: a small CNN on the 32 × 32 box (random flips) and a logistic
regression on gradient-orientation histograms and colour statistics. The reported score is the
**larger** AUC: a weak judge flatters. Chroma spread and periodicity stay as diagnostics.

Per-crop fields are cached per condition (occlusion, filler) in ``cache_dir()/realism`` with the
embedding-cache format (one vector per crop), the C2ST per condition beside them as JSON, so a
re-run or a second recognizer costs nothing.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

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


# --- the learned judge: classifier two-sample test -----------------------------------------------------

#: Per-condition C2ST fields of a result row: the score (the larger judge's AUC) with its 95 % interval,
#: each judge's AUC, and how many real / filled hole contents were compared.
C2ST_FIELDS = ("c2st_auc", "c2st_low", "c2st_high", "c2st_cnn", "c2st_features", "c2st_n")
#: Bump when the judges change: cached C2ST results of older versions are recomputed.
C2ST_VERSION = "c2st-v2"
#: Each judge's interval is two-sided at 1 - 0.05 / 2 (Bonferroni for the larger of two judges).
Z_TWO_JUDGES = 2.241403
PATCH = 32            # side of the hole's bounding box as the judges see it
CONTEXT = 4           # pixels of real context kept around the hole's box
C2ST_MAX_CROPS = 1000  # a condition is judged on at most this many crops (seeded draw): about a minute
#: The C2ST fields of a condition that was not judged (the clean row, too few crops, a run without the judge).
NO_C2ST = dict.fromkeys(C2ST_FIELDS, math.nan)


class TooFewToJudge(ValueError):
    """Too few hole contents on one side for the cross-validated judges (tiny runs, e.g. the smoke profile)."""


@dataclass
class C2ST:
    """One classifier two-sample test: ``auc`` (the larger of the two judges) and its 95 % DeLong
    interval, each judge's out-of-fold AUC, and the sizes of the two samples."""

    auc: float
    low: float
    high: float
    cnn: float
    features: float
    n_real: int
    n_fill: int

    def fields(self) -> dict[str, float]:
        """The row fields of :data:`C2ST_FIELDS`."""
        return {"c2st_auc": self.auc, "c2st_low": self.low, "c2st_high": self.high, "c2st_cnn": self.cnn,
                "c2st_features": self.features, "c2st_n": self.n_real + self.n_fill}

    def as_dict(self) -> dict:
        return asdict(self)


def hole_box(mask: np.ndarray, context: int = CONTEXT) -> tuple[slice, slice] | None:
    """The hole's bounding box grown by ``context`` pixels (clipped to the crop); None without a hole."""
    ys, xs = np.nonzero(np.asarray(mask, bool))
    if not len(ys):
        return None
    h, w = mask.shape
    return (slice(max(0, ys.min() - context), min(h, ys.max() + 1 + context)),
            slice(max(0, xs.min() - context), min(w, xs.max() + 1 + context)))


def hole_patches(images: np.ndarray, masks: np.ndarray, size: int = PATCH) -> np.ndarray:
    """Each crop's hole box (see :func:`hole_box`) resized to ``size`` × ``size``: uint8 (N, size, size, 3).
    Crops without a hole are dropped."""
    out = []
    for image, mask in zip(np.asarray(images), np.asarray(masks, bool)):
        box = hole_box(mask)
        if box is not None:
            out.append(cv2.resize(np.ascontiguousarray(image[box]), (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def person_split(relatives: Sequence[str], seed: int = 0) -> np.ndarray:
    """bool (N,): True for crops in the first half, drawn by **person** (the folder, else the name up
    to ``_NNNN``), so the two samples share no face and no identity. Seeded, stable."""
    import hashlib

    def person(rel: str) -> str:
        parts = str(rel).replace("\\", "/").split("/")
        if len(parts) > 1:
            return parts[-2]
        name, _, number = parts[-1].rsplit(".", 1)[0].rpartition("_")
        return name if name and number.isdigit() else parts[-1]  # Name_0001.png -> Name; a bare name as is

    return np.array([int(hashlib.sha1(f"{seed}|{person(r)}".encode()).hexdigest()[:8], 16) % 2 == 0
                     for r in relatives])


def delong_interval(labels: np.ndarray, scores: np.ndarray, z: float = 1.959964) -> tuple[float, float, float]:
    """(AUC, low, high): ROC AUC of ``scores`` for ``labels`` (1 = fill) with DeLong's variance
    (DeLong et al., 1988), the interval clipped to [0, 1]."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, np.float64)
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return math.nan, math.nan, math.nan
    # structural components: for each positive, the share of negatives below it (ties count half)
    order = np.sort(neg)
    v10 = (np.searchsorted(order, pos, "left") + np.searchsorted(order, pos, "right")) / (2.0 * len(neg))
    order = np.sort(pos)
    v01 = 1.0 - (np.searchsorted(order, neg, "left") + np.searchsorted(order, neg, "right")) / (2.0 * len(pos))
    auc = float(v10.mean())
    var = (v10.var(ddof=1) / len(pos) if len(pos) > 1 else 0.0) + (v01.var(ddof=1) / len(neg) if len(neg) > 1 else 0.0)
    half = z * math.sqrt(max(var, 0.0))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def patch_features(patches: np.ndarray, cells: int = 4, bins: int = 9) -> np.ndarray:
    """Hand-made features of uint8 patches (N, S, S, 3) for the feature judge: gradient-orientation
    histograms (``cells`` × ``cells`` cells, ``bins`` unsigned orientations, magnitude-weighted, each
    cell L2-normalised) of the luminance, and colour statistics (CIELAB mean and standard deviation,
    mean absolute Laplacian per channel, gradient magnitude mean and spread). (N, D) float32."""
    patches = np.asarray(patches)
    rows = []
    for patch in patches:
        lab = cv2.cvtColor(patch.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        gray = lab[..., 0] / 100.0
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
        magnitude = np.hypot(gx, gy)
        angle = np.mod(np.arctan2(gy, gx), np.pi)
        which = np.minimum((angle / np.pi * bins).astype(int), bins - 1)
        size = patch.shape[0] // cells
        hog = []
        for cy in range(cells):
            for cx in range(cells):
                box = (slice(cy * size, (cy + 1) * size), slice(cx * size, (cx + 1) * size))
                hist = np.bincount(which[box].ravel(), magnitude[box].ravel(), minlength=bins)
                hog.append(hist / (np.linalg.norm(hist) + 1e-6))
        laplace = np.abs(cv2.Laplacian(lab, cv2.CV_32F)).reshape(-1, 3).mean(axis=0)
        flat = lab.reshape(-1, 3)
        rows.append(np.concatenate([np.concatenate(hog), flat.mean(axis=0) / 50.0, flat.std(axis=0) / 20.0,
                                    laplace / 10.0, [magnitude.mean(), magnitude.std()]]))
    return np.asarray(rows, np.float32)


def _folds(labels: np.ndarray, folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels)


def feature_judge_scores(patches: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold decision values of a logistic regression on :func:`patch_features`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = patch_features(patches)
    out = np.zeros(len(labels))
    for train, test in _folds(labels, folds, seed):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        model.fit(x[train], labels[train])
        out[test] = model.decision_function(x[test])
    return out


def _judge_cnn(width: int = 16):
    import torch.nn as nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]

    return nn.Sequential(*block(3, width), *block(width, 2 * width), *block(2 * width, 4 * width),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, 1))


def cnn_judge_scores(patches: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0, epochs: int = 12,
                     batch_size: int = 64, lr: float = 2e-3) -> np.ndarray:
    """Out-of-fold logits of a small CNN (three stride-2 conv blocks, global pooling, a linear head),
    trained from scratch per fold (seeded) with random horizontal flips."""
    import torch
    import torch.nn.functional as F

    x_all = torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    y_all = torch.from_numpy(np.asarray(labels, np.float32))
    out = np.zeros(len(labels))
    for k, (train, test) in enumerate(_folds(labels, folds, seed)):
        generator = torch.Generator().manual_seed(seed * 1000 + k)
        torch.manual_seed(seed * 1000 + k)
        model = _judge_cnn()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        x, y = x_all[train], y_all[train]
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                if len(idx) < 2:
                    continue
                xb = x[idx]
                flip = torch.rand(len(idx), generator=generator) < 0.5
                xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(3), xb)
                loss = F.binary_cross_entropy_with_logits(model(xb).squeeze(1), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            xt = x_all[test]
            out[test] = (0.5 * (model(xt) + model(xt.flip(3)))).squeeze(1).numpy()
    return out


def c2st_patches(real: np.ndarray, fill: np.ndarray, seed: int = 0, folds: int = 5) -> C2ST:
    """The classifier two-sample test of two sets of hole patches (uint8 (N, S, S, 3)): both judges,
    5-fold out-of-fold AUC each; the score is the larger AUC. Its interval allows for taking the larger
    of two: each judge's DeLong interval at 97.5 % (Bonferroni), and the score's interval runs from the
    larger of the two lower ends to the larger of the two upper ends, which holds the larger of the two
    true AUCs with at least 95 % (so clean against clean contains 0.5 at least 95 % of the time)."""
    real, fill = np.asarray(real), np.asarray(fill)
    if len(real) < 2 * folds or len(fill) < 2 * folds:
        raise TooFewToJudge(f"c2st: too few hole contents to judge ({len(real)} real, {len(fill)} filled; "
                         f"at least {2 * folds} of each)")
    patches = np.concatenate([real, fill])
    labels = np.concatenate([np.zeros(len(real), int), np.ones(len(fill), int)])
    results = {}
    for name, judge in (("cnn", cnn_judge_scores), ("features", feature_judge_scores)):
        results[name] = delong_interval(labels, judge(patches, labels, folds=folds, seed=seed), z=Z_TWO_JUDGES)
    return C2ST(auc=max(r[0] for r in results.values()), low=max(r[1] for r in results.values()),
                high=max(r[2] for r in results.values()), cnn=results["cnn"][0], features=results["features"][0],
                n_real=len(real), n_fill=len(fill))


def c2st(clean: np.ndarray, filled: np.ndarray, masks: np.ndarray, relatives: Sequence[str] | None = None,
         seed: int = 0, folds: int = 5) -> C2ST:
    """Is the fill told apart from real hole content? ``clean`` and ``filled`` are the same crops (RGB
    uint8 (N, H, W, 3)) before and after, ``masks`` their holes. The crops are split in two by person
    (:func:`person_split` with ``relatives``, else by a seeded draw): the first half gives the real
    samples (clean hole content), the second the filled ones, so no face is seen both ways."""
    clean, filled, masks = np.asarray(clean), np.asarray(filled), np.asarray(masks, bool)
    if relatives is not None:
        first = person_split(relatives, seed)
    else:
        first = np.random.default_rng(seed).permutation(len(clean)) < (len(clean) + 1) // 2
    return c2st_patches(hole_patches(clean[first], masks[first]), hole_patches(filled[~first], masks[~first]),
                        seed=seed, folds=folds)


def c2st_fields(clean: np.ndarray, filled: np.ndarray, masks: np.ndarray, relatives: Sequence[str] | None = None,
                seed: int = 0) -> dict[str, float]:
    """The row fields (:data:`C2ST_FIELDS`) of :func:`c2st`, or NaN for each when there are too few
    crops to judge (:class:`TooFewToJudge`): a tiny run still gets its other numbers."""
    try:
        return c2st(clean, filled, masks, relatives, seed=seed).fields()
    except TooFewToJudge:
        return dict(NO_C2ST)


def c2st_draw(relatives: Sequence[str], max_crops: int = C2ST_MAX_CROPS, seed: int = 0) -> list[str]:
    """At most ``max_crops`` of the distinct ``relatives``, a seeded and stable draw (the crops whose
    hash of (seed, path) is smallest), kept in their given order. The draw of a crop does not depend
    on the order of the list, and a crop drawn from a set stays drawn from any subset of it."""
    import hashlib

    unique = list(dict.fromkeys(relatives))
    if len(unique) <= max_crops:
        return unique
    rank = {rel: hashlib.sha1(f"{seed}|{rel}".encode()).hexdigest() for rel in unique}
    kept = set(sorted(unique, key=rank.__getitem__)[:max_crops])
    return [rel for rel in unique if rel in kept]
