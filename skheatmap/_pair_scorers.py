"""Scorers that rate a pair classifier on every pair formed from ``(X, y)``.

A scorer is called as ``scorer(estimator, X, y)``, like scikit-learn's, so it
works in ``cross_val_score`` and ``GridSearchCV(scoring=...)``. The estimator
is a :class:`~skheatmap.SoftDTWPairClassifier` or a ``Pipeline`` ending in one;
every unordered pair of rows of ``X`` is scored, with label 1 when both rows
have the same ``y``.

- :data:`pair_accuracy_scorer`, :data:`pair_precision_scorer`,
  :data:`pair_recall_scorer`: thresholded at the classifier's ``threshold_``
  (precision and recall are 0 when nothing is predicted positive);
- :data:`pair_roc_auc_scorer`, :data:`pair_average_precision_scorer`: rank
  the pair probabilities;
- :data:`pair_neg_brier_scorer`, :data:`pair_neg_ece_scorer`: the Brier score
  and the expected calibration error of the pair probabilities, *negated* as
  scikit-learn's ``neg_brier_score`` is, so that greater is better in every
  search and ``cross_validate`` (``-scores`` gives the losses back).

Examples
--------
>>> import numpy as np
>>> from skheatmap import SoftDTWPairClassifier
>>> from skheatmap.metrics import pair_neg_brier_scorer, pair_roc_auc_scorer
>>> wave = np.sin(np.linspace(0, 6, 20))[:, None]
>>> X = np.stack([wave, wave + 0.1, -wave, 0.1 - wave, wave**2, wave**2 + 0.1])
>>> y = [0, 0, 1, 1, 2, 2]
>>> clf = SoftDTWPairClassifier(max_epochs=3, random_state=0).fit(X, y)
>>> pair_roc_auc_scorer(clf, X, y)
1.0
>>> -1.0 <= pair_neg_brier_scorer(clf, X, y) <= 0.0
True
"""

import functools

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from ._pair_metrics import expected_calibration_error
from .pairs import label_pairs

__all__ = [
    "pair_accuracy_scorer",
    "pair_average_precision_scorer",
    "pair_neg_brier_scorer",
    "pair_neg_ece_scorer",
    "pair_precision_scorer",
    "pair_recall_scorer",
    "pair_roc_auc_scorer",
]


def _pair_model(estimator, X):
    """The pair classifier and the input it expects (a Pipeline's head transforms X)."""
    if isinstance(estimator, Pipeline):
        return estimator[-1], estimator[:-1].transform(X)
    return estimator, X


def _all_pairs(y):
    pairs, labels = label_pairs(np.asarray(y))
    if np.unique(labels).size < 2:
        raise ValueError(
            "a pair score needs both same-label and different-label pairs in y; got only "
            f"{'same' if labels.all() else 'different'}-label pairs."
        )
    return pairs, labels


class _PairScorer:
    """``score(pair labels, decisions or probabilities)``, negated for a loss."""

    def __init__(self, name, score, needs_threshold, *, loss=False):
        self.name = name
        self.score = score
        self.needs_threshold = needs_threshold
        self.sign = -1.0 if loss else 1.0

    def __call__(self, estimator, X, y):
        pairs, labels = _all_pairs(y)
        model, X = _pair_model(estimator, X)
        if self.needs_threshold:
            value = self.score(labels, model.predict_pairs(X, pairs))
        else:
            value = self.score(labels, model.predict_pair_proba(X, pairs)[:, 1])
        return self.sign * float(value)

    def __repr__(self):
        return f"<pair scorer: {'neg_' if self.sign < 0 else ''}{self.name}>"


pair_accuracy_scorer = _PairScorer("accuracy", accuracy_score, needs_threshold=True)
pair_roc_auc_scorer = _PairScorer("roc_auc", roc_auc_score, needs_threshold=False)
pair_average_precision_scorer = _PairScorer(
    "average_precision", average_precision_score, needs_threshold=False
)
pair_precision_scorer = _PairScorer(
    "precision", functools.partial(precision_score, zero_division=0.0), needs_threshold=True
)
pair_recall_scorer = _PairScorer(
    "recall", functools.partial(recall_score, zero_division=0.0), needs_threshold=True
)
pair_neg_brier_scorer = _PairScorer("brier", brier_score_loss, needs_threshold=False, loss=True)
pair_neg_ece_scorer = _PairScorer(
    "ece", expected_calibration_error, needs_threshold=False, loss=True
)
