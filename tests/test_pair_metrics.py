"""Pair-classification report and calibration error against scikit-learn."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

from skheatmap.metrics import expected_calibration_error, pair_classification_report


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_agrees_with_sklearn_calibration_curve(strategy):
    rng = np.random.default_rng(0)
    y_prob = rng.random(500)
    y_true = (rng.random(500) < y_prob**1.5).astype(int)
    prob_true, prob_pred = calibration_curve(y_true, y_prob, n_bins=8, strategy=strategy)
    edges = (np.linspace(0, 1, 9) if strategy == "uniform"
             else np.percentile(y_prob, np.linspace(0, 100, 9)))  # fmt: skip
    counts = np.bincount(np.searchsorted(edges[1:-1], y_prob), minlength=8)
    counts = counts[counts > 0]
    expected = np.sum(counts / 500 * np.abs(prob_true - prob_pred))
    got = expected_calibration_error(y_true, y_prob, n_bins=8, strategy=strategy)
    assert got == pytest.approx(expected, rel=1e-12)


def test_ece_of_a_perfectly_calibrated_constant_is_zero():
    assert expected_calibration_error([0, 1, 0, 1], [0.5] * 4) == 0.0


def test_report_matches_sklearn_and_hand_values():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.2, 0.7, 0.6, 0.9, 0.4])
    report = pair_classification_report(y, p)
    assert report["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert report["accuracy"] == pytest.approx(3 / 5)
    assert report["precision"] == pytest.approx(2 / 3)
    assert report["recall"] == pytest.approx(2 / 3)
    assert report["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_report_with_one_class_has_nan_ranking_scores():
    report = pair_classification_report([1, 1], [0.9, 0.8])
    assert np.isnan(report["roc_auc"]) and np.isnan(report["average_precision"])
    assert report["accuracy"] == 1.0


@pytest.mark.parametrize(
    "y, p, match",
    [([0, 2], [0.1, 0.2], "0/1 pair labels"), ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
     ([0, 1], [0.1], "same length")],
)  # fmt: skip
def test_report_rejects_bad_input(y, p, match):
    with pytest.raises(ValueError, match=match):
        pair_classification_report(y, p)
