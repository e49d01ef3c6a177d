"""Pair classification and calibration metrics.

Ranking and thresholded scores come from scikit-learn; what is added here is
the expected calibration error and one report that gathers them.
"""

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

__all__ = ["expected_calibration_error", "pair_classification_report"]


def _check_binary(y_true, y_prob):
    y_true = np.asarray(y_true)
    y_prob = np.asarray(y_prob, dtype=float)
    if y_true.shape != y_prob.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_prob must be 1-D of the same length, got shapes {y_true.shape} "
            f"and {y_prob.shape}."
        )
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError(f"y_true must hold 0/1 pair labels, got {np.unique(y_true).tolist()}.")
    # NaN first: nanmin of an all-NaN array would warn before the error
    if y_prob.size and (np.isnan(y_prob).any() or y_prob.min() < 0 or y_prob.max() > 1):
        raise ValueError("y_prob must hold probabilities in [0, 1] without NaN.")
    return y_true, y_prob


def expected_calibration_error(y_true, y_prob, *, n_bins=10, strategy="uniform"):
    """Expected calibration error: the bin-weighted gap between confidence and frequency.

    ``ECE = Σ_b (n_b / n) · |mean(y_true in b) − mean(y_prob in b)|`` over
    probability bins, the binning being that of
    :func:`sklearn.calibration.calibration_curve`.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        0/1 labels.
    y_prob : array-like of shape (n,)
        Predicted probabilities of the positive class.
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins, or bins holding equal numbers of predictions.

    Returns
    -------
    ece : float

    Examples
    --------
    >>> from skheatmap.metrics import expected_calibration_error
    >>> expected_calibration_error([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], n_bins=2)
    0.175
    """
    y_true, y_prob = _check_binary(y_true, y_prob)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(y_prob, np.linspace(0, 100, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}.")
    # the same bin assignment as sklearn.calibration.calibration_curve
    bins = np.searchsorted(edges[1:-1], y_prob)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(
        np.bincount(bins, weights=y_true, minlength=n_bins)
        - np.bincount(bins, weights=y_prob, minlength=n_bins)
    )
    return float(gap.sum() / max(counts.sum(), 1))


def pair_classification_report(y_true, y_prob, *, threshold=0.5, n_bins=10):
    """Every pair-classification score of the evaluation protocol at once.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        1 for same-segment pairs, 0 otherwise.
    y_prob : array-like of shape (n_pairs,)
        Predicted probability that a pair is positive.
    threshold : float, default=0.5
        Decision threshold for accuracy, precision and recall.
    n_bins : int, default=10
        Bins of the expected calibration error.

    Returns
    -------
    report : dict
        ``accuracy``, ``precision``, ``recall``, ``roc_auc``,
        ``average_precision``, ``brier`` and ``ece``; the ranking scores are
        NaN when only one class is present.

    Examples
    --------
    >>> from skheatmap.metrics import pair_classification_report
    >>> report = pair_classification_report([0, 0, 1, 1], [0.1, 0.6, 0.7, 0.9])
    >>> report["roc_auc"], report["accuracy"]
    (1.0, 0.75)
    """
    y_true, y_prob = _check_binary(y_true, y_prob)
    y_pred = (y_prob >= threshold).astype(int)
    both_classes = np.unique(y_true).size == 2
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0.0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0.0)),
        "roc_auc": float(roc_auc_score(y_true, y_prob)) if both_classes else float("nan"),
        "average_precision": (
            float(average_precision_score(y_true, y_prob)) if both_classes else float("nan")
        ),
        "brier": float(brier_score_loss(y_true, y_prob)),
        "ece": expected_calibration_error(y_true, y_prob, n_bins=n_bins),
    }
