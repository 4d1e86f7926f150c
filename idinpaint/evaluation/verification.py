"""Pair verification metrics: the standard LFW 10-fold protocol, ROC/AUC, TAR@FAR, similarity gap.

10-fold accuracy follows the LFW View-2 protocol: for each fold, the cosine threshold that maximises
accuracy on the *other nine* folds is applied to the held-out fold; we report mean ± std over folds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def cosine_scores(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) embedding arrays."""
    a = first / np.maximum(np.linalg.norm(first, axis=1, keepdims=True), 1e-12)
    b = second / np.maximum(np.linalg.norm(second, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Threshold maximising accuracy of ``score >= t`` (midpoint between neighbours); (t, accuracy)."""
    order = np.argsort(scores)
    sorted_scores, sorted_labels = scores[order], labels[order].astype(bool)
    n = len(scores)
    # Accepting everything above position k: negatives below k are right, positives at/above k are right.
    negatives_below = np.concatenate([[0], np.cumsum(~sorted_labels)])
    positives_above = sorted_labels.sum() - np.concatenate([[0], np.cumsum(sorted_labels)])
    correct = negatives_below + positives_above
    # Only split between distinct scores.
    valid = np.ones(n + 1, dtype=bool)
    valid[1:n] = sorted_scores[1:] != sorted_scores[:-1]
    correct = np.where(valid, correct, -1)
    k = int(np.argmax(correct))
    if k == 0:
        threshold = sorted_scores[0] - 1e-6
    elif k == n:
        threshold = sorted_scores[-1] + 1e-6
    else:
        threshold = 0.5 * (sorted_scores[k - 1] + sorted_scores[k])
    return float(threshold), float(correct[k] / n)


def kfold_accuracy(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray):
    """Per-fold accuracies and thresholds of the LFW protocol."""
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        threshold, _ = best_threshold(scores[train], labels[train])
        accuracies.append(float(np.mean((scores[test] >= threshold) == labels[test].astype(bool))))
        thresholds.append(threshold)
    return np.array(accuracies), np.array(thresholds)


def tar_at_far(scores: np.ndarray, labels: np.ndarray, far: float) -> float:
    """True-accept rate at the largest ROC point whose false-accept rate does not exceed ``far``."""
    false_rates, true_rates, _ = roc_curve(labels.astype(int), scores)
    allowed = false_rates <= far
    return float(true_rates[allowed].max()) if allowed.any() else 0.0


@dataclass
class VerificationResult:
    accuracy: float
    accuracy_std: float
    fold_accuracies: list[float]
    thresholds: list[float]
    auc: float
    tar_at_far: dict[str, float]
    same_mean: float
    same_std: float
    different_mean: float
    different_std: float
    similarity_gap: float
    similarity_gap_std: float  # spread of the gap over the 10 folds
    pairs: int
    protocol: str = "10-fold"  # or "subfolds": one fold given, split into 10 balanced sub-folds
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        tars = ", ".join(f"TAR@FAR={k}: {100 * v:.2f}%" for k, v in self.tar_at_far.items())
        return (f"accuracy {100 * self.accuracy:.2f} ± {100 * self.accuracy_std:.2f} %, AUC {self.auc:.4f}, "
                f"{tars}, similarity gap {self.similarity_gap:.3f} ± {self.similarity_gap_std:.3f}")


def similarity_gap(scores: np.ndarray, labels: np.ndarray) -> float:
    labels = labels.astype(bool)
    return float(scores[labels].mean() - scores[~labels].mean())


def balanced_subfolds(labels: np.ndarray, k: int = 10) -> np.ndarray:
    """Sub-fold ids for a single fold: the i-th same pair and the i-th different pair go to i % k."""
    labels = np.asarray(labels).astype(bool)
    ids = np.zeros(len(labels), dtype=int)
    for value in (True, False):
        where = np.flatnonzero(labels == value)
        ids[where] = np.arange(len(where)) % k
    return ids


def protocol_folds(labels: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, str]:
    """(fold ids, protocol): the given folds, or with a single fold its 10 balanced sub-folds, so
    every threshold is chosen on other pairs than those it scores."""
    folds = np.asarray(folds)
    if len(np.unique(folds)) < 2:
        return balanced_subfolds(labels), "subfolds"
    return folds, "10-fold"


def verify(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray,
           fars: tuple[float, ...] = (1e-3, 1e-4)) -> VerificationResult:
    """All verification numbers for one condition from pair scores.

    With a single fold (e.g. ``--folds 10``) there are no other folds to pick a threshold on, so the
    fold is split into 10 balanced sub-folds and the threshold stays cross-validated
    (``protocol="subfolds"``) — never tuned on the pairs it scores.
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    folds, protocol = protocol_folds(labels, folds)
    accuracies, thresholds = kfold_accuracy(scores, labels, folds)
    gaps = [similarity_gap(scores[folds == f], labels[folds == f]) for f in np.unique(folds)]
    return VerificationResult(
        accuracy=float(accuracies.mean()), accuracy_std=float(accuracies.std()),
        fold_accuracies=accuracies.tolist(), thresholds=thresholds.tolist(),
        auc=float(roc_auc_score(labels.astype(int), scores)),
        tar_at_far={f"{far:g}": tar_at_far(scores, labels, far) for far in fars},
        same_mean=float(scores[labels].mean()), same_std=float(scores[labels].std()),
        different_mean=float(scores[~labels].mean()), different_std=float(scores[~labels].std()),
        similarity_gap=similarity_gap(scores, labels), similarity_gap_std=float(np.std(gaps)),
        pairs=int(len(scores)), protocol=protocol,
    )


def recovery_ratio(acc_filled: float, acc_occluded: float, acc_clean: float) -> float:
    """Share of the accuracy lost to occlusion that a filler wins back (1 = all, 0 = none, < 0 = worse)."""
    lost = acc_clean - acc_occluded
    return float("nan") if abs(lost) < 1e-12 else float((acc_filled - acc_occluded) / lost)


def sign_flip_p_value(differences: np.ndarray) -> float:
    """Exact two-sided p-value of a paired sign-flip (permutation) test that the mean difference is 0.

    Under the null each fold's difference is as likely positive as negative, so all 2**k sign
    assignments are equally likely; p is the share whose |mean| reaches the observed one. With
    k = 10 folds the smallest p possible is 2/1024 ≈ 0.002. Folds are few, so this is exact, not sampled.
    """
    diffs = np.asarray(differences, dtype=np.float64)
    k = len(diffs)
    if k == 0 or k > 20:
        raise ValueError(f"sign-flip test needs 1..20 paired values, got {k}")
    signs = 1 - 2 * ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1)  # (2**k, k) of ±1
    means = np.abs(signs @ diffs) / k
    observed = abs(diffs.mean())
    return float(np.mean(means >= observed - 1e-12))


@dataclass
class PairedComparison:
    """Method minus baseline on the same pairs, fold by fold (accuracy in [0, 1])."""
    fold_differences: list[float]
    mean_difference: float
    std_difference: float
    folds_better: int
    folds_worse: int
    p_value: float  # exact two-sided sign-flip test over folds

    def line(self) -> str:
        return (f"{100 * self.mean_difference:+.2f} ± {100 * self.std_difference:.2f} points "
                f"(better on {self.folds_better}/{len(self.fold_differences)} folds, p = {self.p_value:.3f})")


def compare_fold_accuracies(method: np.ndarray, baseline: np.ndarray) -> PairedComparison:
    """Paired comparison of per-fold accuracies (same folds, same pairs) of a method and a baseline."""
    method, baseline = np.asarray(method, np.float64), np.asarray(baseline, np.float64)
    if method.shape != baseline.shape or method.ndim != 1:
        raise ValueError(f"per-fold accuracies must be two 1-D arrays of one length, got {method.shape} and {baseline.shape}")
    diffs = method - baseline
    return PairedComparison(fold_differences=diffs.tolist(), mean_difference=float(diffs.mean()),
                            std_difference=float(diffs.std()), folds_better=int(np.sum(diffs > 0)),
                            folds_worse=int(np.sum(diffs < 0)), p_value=sign_flip_p_value(diffs))


def paired_fold_test(method_scores: np.ndarray, baseline_scores: np.ndarray, labels: np.ndarray,
                     folds: np.ndarray) -> PairedComparison:
    """Is a method's 10-fold accuracy really above a baseline's on the same pairs? Each gets its own
    cross-validated thresholds (as in :func:`kfold_accuracy`); the per-fold accuracies are compared
    with an exact sign-flip test, so the fold-to-fold spread both methods share cancels out."""
    labels = np.asarray(labels).astype(bool)
    method_acc, _ = kfold_accuracy(np.asarray(method_scores, np.float64), labels, np.asarray(folds))
    baseline_acc, _ = kfold_accuracy(np.asarray(baseline_scores, np.float64), labels, np.asarray(folds))
    return compare_fold_accuracies(method_acc, baseline_acc)
