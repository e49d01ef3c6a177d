"""Pair scorers: sklearn's metrics over every pair of (X, y), for a classifier or a Pipeline."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.metrics import (
    pair_accuracy_scorer,
    pair_average_precision_scorer,
    pair_roc_auc_scorer,
)
from skheatmap.pairs import label_pairs


def _recordings(n_subjects=4, n_segments=3, T=24, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, T)
    X = [np.sin((k + 1) * t + rng.normal(0, 0.2))[:, None] + 0.3 * rng.normal(size=(T, 1))
         for _ in range(n_subjects) for k in range(n_segments)]  # fmt: skip
    y = np.tile(np.arange(n_segments), n_subjects)
    return np.array(X), y, np.repeat(np.arange(n_subjects), n_segments)


@pytest.fixture(scope="module")
def fitted():
    X, y, _ = _recordings()
    return SoftDTWPairClassifier(max_epochs=3, random_state=0).fit(X[:6], y[:6])


@pytest.mark.parametrize(
    "scorer, metric, thresholded",
    [
        (pair_accuracy_scorer, accuracy_score, True),
        (pair_roc_auc_scorer, roc_auc_score, False),
        (pair_average_precision_scorer, average_precision_score, False),
    ],
)
def test_scorer_equals_sklearn_metric_over_all_pairs(fitted, scorer, metric, thresholded):
    X, y, _ = _recordings()
    pairs, labels = label_pairs(y[6:])
    if thresholded:
        expected = metric(labels, fitted.predict_pairs(X[6:], pairs))
    else:
        expected = metric(labels, fitted.predict_pair_proba(X[6:], pairs)[:, 1])
    assert scorer(fitted, X[6:], y[6:]) == pytest.approx(expected)


def test_scorer_sees_through_a_pipeline(fitted):
    X, y, _ = _recordings()
    doubled = make_pipeline(FunctionTransformer(lambda Z: 2 * Z), fitted)
    pairs, labels = label_pairs(y[6:])
    expected = roc_auc_score(labels, fitted.predict_pair_proba(2 * X[6:], pairs)[:, 1])
    assert pair_roc_auc_scorer(doubled, X[6:], y[6:]) == pytest.approx(expected)


def test_scorers_drive_group_cross_validation():
    X, y, groups = _recordings()
    scores = cross_val_score(
        SoftDTWPairClassifier(max_epochs=2, random_state=0), X, y, groups=groups,
        cv=GroupKFold(n_splits=2), scoring=pair_average_precision_scorer,
    )  # fmt: skip
    assert scores.shape == (2,)
    assert np.all((scores > 0) & (scores <= 1))


def test_one_kind_of_pair_is_refused(fitted):
    X, _, _ = _recordings()
    with pytest.raises(ValueError, match="only different-label pairs"):
        pair_roc_auc_scorer(fitted, X[:3], [0, 1, 2])
