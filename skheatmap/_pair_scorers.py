"""Scorers that rate a pair classifier on every pair formed from ``(X, y)``.

A scorer is called as ``scorer(estimator, X, y)``, like scikit-learn's, so it
works in ``cross_val_score`` and ``GridSearchCV(scoring=...)``. The estimator
is a :class:`~skheatmap.SoftDTWPairClassifier` or a ``Pipeline`` ending in one;
every unordered pair of rows of ``X`` is scored, with label 1 when both rows
have the same ``y``. ``pair_accuracy_scorer`` thresholds at the classifier's
``threshold_``; the two others rank the pair probabilities.

Examples
--------
>>> import numpy as np
>>> from skheatmap import SoftDTWPairClassifier
>>> from skheatmap.metrics import pair_accuracy_scorer, pair_roc_auc_scorer
>>> wave = np.sin(np.linspace(0, 6, 20))[:, None]
>>> X = np.stack([wave, wave + 0.1, -wave, 0.1 - wave, wave**2, wave**2 + 0.1])
>>> y = [0, 0, 1, 1, 2, 2]
>>> clf = SoftDTWPairClassifier(max_epochs=3, random_state=0).fit(X, y)
>>> pair_roc_auc_scorer(clf, X, y)
1.0
"""

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
from sklearn.pipeline import Pipeline

from .pairs import label_pairs

__all__ = ["pair_accuracy_scorer", "pair_average_precision_scorer", "pair_roc_auc_scorer"]


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
    def __init__(self, name, score, needs_threshold):
        self.name = name
        self.score = score
        self.needs_threshold = needs_threshold

    def __call__(self, estimator, X, y):
        pairs, labels = _all_pairs(y)
        model, X = _pair_model(estimator, X)
        if self.needs_threshold:
            return float(self.score(labels, model.predict_pairs(X, pairs)))
        return float(self.score(labels, model.predict_pair_proba(X, pairs)[:, 1]))

    def __repr__(self):
        return f"<pair scorer: {self.name}>"


pair_accuracy_scorer = _PairScorer("accuracy", accuracy_score, needs_threshold=True)
pair_roc_auc_scorer = _PairScorer("roc_auc", roc_auc_score, needs_threshold=False)
pair_average_precision_scorer = _PairScorer(
    "average_precision", average_precision_score, needs_threshold=False
)
