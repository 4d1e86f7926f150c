import numpy as np
import pytest

from idinpaint.evaluation.verification import (
    best_threshold,
    compare_fold_accuracies,
    cosine_scores,
    kfold_accuracy,
    paired_fold_test,
    recovery_ratio,
    sign_flip_p_value,
    tar_at_far,
    verify,
)


def test_best_threshold_separates_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1], bool)
    threshold, accuracy = best_threshold(scores, labels)
    assert accuracy == 1.0 and 0.3 < threshold < 0.7


def test_best_threshold_with_ties_and_overlap():
    scores = np.array([0.5, 0.5, 0.5, 0.5, 0.9])
    labels = np.array([0, 0, 0, 1, 1], bool)
    threshold, accuracy = best_threshold(scores, labels)
    # The tie cannot be split: the best is to reject all four 0.5 scores and accept the 0.9.
    assert accuracy == pytest.approx(0.8) and 0.5 < threshold < 0.9


def test_kfold_thresholds_come_from_other_folds():
    # Fold 0's scores all sit between the other folds' classes: the threshold the other folds give
    # (~0.5) rejects all of fold 0, which a threshold fitted on fold 0 itself would not.
    rng = np.random.default_rng(0)
    labels = np.tile([True] * 50 + [False] * 50, 4)
    folds = np.repeat(np.arange(4), 100)
    scores = np.where(labels, 0.8, 0.2) + rng.normal(0, 0.01, 400)
    scores[folds == 0] = np.where(labels[folds == 0], 0.45, 0.35) + rng.normal(0, 0.01, 100)
    accuracies, thresholds = kfold_accuracy(scores, labels, folds)
    assert accuracies[0] == pytest.approx(0.5) and abs(thresholds[0] - 0.5) < 0.05
    assert accuracies[1:].min() == 1.0 and np.all(np.abs(thresholds[1:] - 0.4) < 0.05)


def test_tar_at_far_and_verify_on_random_scores():
    rng = np.random.default_rng(1)
    labels = np.tile([True] * 300 + [False] * 300, 10)
    folds = np.repeat(np.arange(10), 600)
    result = verify(rng.uniform(-1, 1, 6000), labels, folds)
    assert abs(result.accuracy - 0.5) < 0.05 and abs(result.auc - 0.5) < 0.05
    assert result.tar_at_far["0.001"] < 0.02 and abs(result.similarity_gap) < 0.05
    perfect = verify(np.where(labels, 0.9, 0.1), labels, folds)
    assert perfect.accuracy == 1.0 and perfect.auc == 1.0 and perfect.tar_at_far["0.0001"] == 1.0
    assert perfect.similarity_gap == pytest.approx(0.8) and perfect.similarity_gap_std == pytest.approx(0.0)


def test_tar_at_far_picks_the_allowed_point():
    scores = np.array([0.9, 0.8, 0.7, 0.85, 0.1, 0.2])
    labels = np.array([1, 1, 1, 0, 0, 0], bool)
    assert tar_at_far(scores, labels, 0.0) == pytest.approx(1 / 3)  # only 0.9 beats the 0.85 impostor
    assert tar_at_far(scores, labels, 0.34) == pytest.approx(1.0)


def test_cosine_and_recovery_ratio():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[2.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(cosine_scores(a, b), [1.0, 0.0])
    assert recovery_ratio(0.95, 0.90, 1.0) == pytest.approx(0.5)
    assert recovery_ratio(0.85, 0.90, 1.0) == pytest.approx(-0.5)
    assert np.isnan(recovery_ratio(0.9, 0.9, 0.9))


def test_sign_flip_p_value_is_exact():
    # All ten differences positive: only the all-plus and all-minus assignments reach the mean.
    assert sign_flip_p_value(np.full(10, 0.01)) == pytest.approx(2 / 1024)
    # No difference at all is no evidence.
    assert sign_flip_p_value(np.zeros(10)) == 1.0
    # Symmetric differences (+a, -a) have mean 0: p = 1.
    assert sign_flip_p_value(np.array([0.02, -0.02, 0.01, -0.01])) == 1.0
    # Three of four positive, one equal negative: |mean| is reached by 2 * (1 + 3) of 16 assignments.
    assert sign_flip_p_value(np.array([0.01, 0.01, 0.01, -0.01])) == pytest.approx(10 / 16)
    with pytest.raises(ValueError, match="paired values"):
        sign_flip_p_value(np.zeros(0))


def test_paired_fold_test_finds_a_real_improvement_and_not_a_fake_one():
    rng = np.random.default_rng(1)
    labels = np.tile([True] * 60 + [False] * 60, 10)
    folds = np.repeat(np.arange(10), 120)
    baseline = np.where(labels, 0.6, 0.4) + rng.normal(0, 0.15, labels.size)
    better = np.where(labels, 0.7, 0.3) + rng.normal(0, 0.15, labels.size)
    result = paired_fold_test(better, baseline, labels, folds)
    assert result.mean_difference > 0.05 and result.folds_better == 10 and result.p_value < 0.01
    same = paired_fold_test(baseline, baseline, labels, folds)
    assert same.mean_difference == 0 and same.p_value == 1.0 and same.folds_better == same.folds_worse == 0
    with pytest.raises(ValueError, match="one length"):
        compare_fold_accuracies(np.zeros(10), np.zeros(9))
