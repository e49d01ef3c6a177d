"""Pair-classification report, calibration error and pair scorers against scikit-learn."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_validate
from test_pair_scorers import _recordings

from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.metrics import (
    expected_calibration_error,
    pair_classification_report,
    pair_neg_brier_scorer,
    pair_neg_ece_scorer,
    pair_precision_scorer,
    pair_recall_scorer,
)
from skheatmap.pairs import label_pairs


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


# ------------------------------------------------ thresholded and calibration pair scorers


def _brier(labels, proba):
    return np.mean((proba - labels) ** 2)  # the definition, not sklearn's implementation


SCORERS = {
    "precision": (pair_precision_scorer, True, lambda y, p: precision_score(y, p)),
    "recall": (pair_recall_scorer, True, lambda y, p: recall_score(y, p)),
    "neg_brier": (pair_neg_brier_scorer, False, lambda y, p: -_brier(y, p)),
    "neg_ece": (pair_neg_ece_scorer, False, lambda y, p: -expected_calibration_error(y, p)),
}


def _oracle(name, model, X, y):
    """The metric of SCORERS[name] over every pair of (X, y), from the model's own outputs."""
    _, thresholded, metric = SCORERS[name]
    pairs, labels = label_pairs(y)
    if thresholded:
        return metric(labels, model.predict_pairs(X, pairs))
    return metric(labels, model.predict_pair_proba(X, pairs)[:, 1])


@pytest.fixture(scope="module")
def recordings():
    return _recordings()


@pytest.fixture(scope="module")
def fitted(recordings):
    X, y, _ = recordings
    return SoftDTWPairClassifier(max_epochs=3, random_state=0).fit(X[:6], y[:6])


@pytest.mark.parametrize("name", SCORERS)
def test_pair_scorer_is_its_metric_over_all_held_out_pairs(name, fitted, recordings):
    X, y, _ = recordings
    score = SCORERS[name][0](fitted, X[6:], y[6:])
    assert score == pytest.approx(_oracle(name, fitted, X[6:], y[6:]), rel=1e-12)


def test_loss_scorers_are_negated_so_that_greater_is_better(fitted, recordings):
    X, y, _ = recordings
    assert pair_neg_brier_scorer(fitted, X[6:], y[6:]) < 0
    assert repr(pair_neg_brier_scorer) == "<pair scorer: neg_brier>"


def test_pair_scorers_score_each_fold_of_a_group_cross_validation(recordings):
    X, y, groups = recordings
    result = cross_validate(
        SoftDTWPairClassifier(max_epochs=2, random_state=0), X, y, groups=groups,
        cv=GroupKFold(n_splits=2), scoring={name: s[0] for name, s in SCORERS.items()},
        return_estimator=True, return_indices=True,
    )  # fmt: skip
    for fold, (model, test) in enumerate(
        zip(result["estimator"], result["indices"]["test"], strict=True)
    ):
        for name in SCORERS:
            expected = _oracle(name, model, X[test], y[test])
            assert result[f"test_{name}"][fold] == pytest.approx(expected, rel=1e-12)
