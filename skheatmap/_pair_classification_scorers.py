"""Pair scorers for thresholded decisions and for calibration.

They extend the ranking scorers of :mod:`skheatmap._pair_scorers` with the
same machinery (``scorer(estimator, X, y)`` over every pair of ``(X, y)``):

- :data:`pair_precision_scorer`, :data:`pair_recall_scorer`: thresholded at
  the classifier's ``threshold_``, 0 when nothing is predicted positive;
- :data:`pair_neg_brier_scorer`, :data:`pair_neg_ece_scorer`: the Brier score
  and the expected calibration error of the pair probabilities, *negated*
  as scikit-learn's ``neg_brier_score`` is, so that greater is better in
  every search and ``cross_validate`` (``-scores`` gives the losses back).

Examples
--------
>>> import numpy as np
>>> from skheatmap import SoftDTWPairClassifier
>>> from skheatmap.metrics import pair_neg_brier_scorer, pair_recall_scorer
>>> wave = np.sin(np.linspace(0, 6, 20))[:, None]
>>> X = np.stack([wave, wave + 0.1, -wave, 0.1 - wave, wave**2, wave**2 + 0.1])
>>> y = [0, 0, 1, 1, 2, 2]
>>> clf = SoftDTWPairClassifier(max_epochs=3, random_state=0).fit(X, y)
>>> pair_recall_scorer(clf, X, y)
1.0
>>> -1.0 <= pair_neg_brier_scorer(clf, X, y) <= 0.0
True
"""

import functools

from sklearn.metrics import brier_score_loss, precision_score, recall_score

from ._pair_metrics import expected_calibration_error
from ._pair_scorers import _PairScorer

__all__ = [
    "pair_neg_brier_scorer",
    "pair_neg_ece_scorer",
    "pair_precision_scorer",
    "pair_recall_scorer",
]


class _PairLossScorer(_PairScorer):
    """A pair scorer of a loss, negated so that greater is better."""

    def __call__(self, estimator, X, y):
        return -super().__call__(estimator, X, y)

    def __repr__(self):
        return f"<pair scorer: neg_{self.name}>"


pair_precision_scorer = _PairScorer(
    "precision", functools.partial(precision_score, zero_division=0.0), needs_threshold=True
)
pair_recall_scorer = _PairScorer(
    "recall", functools.partial(recall_score, zero_division=0.0), needs_threshold=True
)
pair_neg_brier_scorer = _PairLossScorer("brier", brier_score_loss, needs_threshold=False)
pair_neg_ece_scorer = _PairLossScorer("ece", expected_calibration_error, needs_threshold=False)
