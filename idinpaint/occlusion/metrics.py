"""How well a predicted hole matches the true one: per-image counts, IoU and Dice, pooled precision
and recall, the predicted area and the clean-face false alarms (the O-Detector's validation during
training and its tables in :mod:`idinpaint.evaluation.detector` use the same numbers)."""
from __future__ import annotations

import math

import numpy as np

#: A clean face whose predicted hole is larger than this share of the crop is a false alarm.
FALSE_ALARM_FRACTION = 0.01


def mask_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image counts and scores of bool masks (N, H, W): ``intersection``, ``predicted``,
    ``truth``, ``union`` (pixels), ``iou`` and ``dice`` (1 when both masks are empty), ``area`` and
    ``truth_area`` (predicted and true share of the image)."""
    predicted, truth = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted masks {predicted.shape} and truth {truth.shape} differ in shape")
    if predicted.ndim == 2:
        predicted, truth = predicted[None], truth[None]
    inter = (predicted & truth).sum(axis=(1, 2)).astype(np.float64)
    pred = predicted.sum(axis=(1, 2)).astype(np.float64)
    true = truth.sum(axis=(1, 2)).astype(np.float64)
    union = pred + true - inter
    empty = union == 0
    iou = np.where(empty, 1.0, inter / np.maximum(union, 1))
    dice = np.where(empty, 1.0, 2 * inter / np.maximum(pred + true, 1))
    pixels = float(predicted.shape[1] * predicted.shape[2])
    return {"intersection": inter, "predicted": pred, "truth": true, "union": union, "iou": iou, "dice": dice,
            "area": pred / pixels, "truth_area": true / pixels}


def summarize_metrics(metrics: dict[str, np.ndarray]) -> dict[str, float]:
    """One row of a table: mean per-image IoU and Dice; precision and recall over all pixels pooled
    (|P & T| / |P|, |P & T| / |T|; NaN when nothing was predicted / true); ``pred_area`` the mean
    predicted share of the crop, ``false_alarm_rate`` the share of images whose predicted area
    exceeds :data:`FALSE_ALARM_FRACTION` (what counts on clean faces)."""
    inter, pred, true = (float(metrics[k].sum()) for k in ("intersection", "predicted", "truth"))
    return {
        "n": int(len(metrics["iou"])),
        "iou": float(np.mean(metrics["iou"])) if len(metrics["iou"]) else math.nan,
        "dice": float(np.mean(metrics["dice"])) if len(metrics["dice"]) else math.nan,
        "precision": inter / pred if pred else math.nan,
        "recall": inter / true if true else math.nan,
        "pred_area": float(np.mean(metrics["area"])) if len(metrics["area"]) else math.nan,
        "true_area": float(np.mean(metrics["truth_area"])) if len(metrics["truth_area"]) else math.nan,
        "false_alarm_rate": (float(np.mean(metrics["area"] > FALSE_ALARM_FRACTION)) if len(metrics["area"])
                             else math.nan),
    }


def rounded(row: dict) -> dict:
    """A row with its floats rounded to 4 digits (NaN kept)."""
    return {k: (round(v, 4) if isinstance(v, float) and not math.isnan(v) else v) for k, v in row.items()}
