"""Figures of pair classification: distance distributions, ROC and reliability curves."""

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve

from .._pair_metrics import expected_calibration_error
from ._base import new_axes

__all__ = ["plot_pair_distances", "plot_reliability", "plot_roc"]


def _check_pairs(pair_labels, values, name):
    pair_labels = np.asarray(pair_labels)
    values = np.asarray(values, dtype=float)
    if pair_labels.ndim != 1 or pair_labels.shape != values.shape:
        raise ValueError(
            f"pair_labels and {name} must be 1-D of one length, got shapes {pair_labels.shape} "
            f"and {values.shape}."
        )
    if not np.isin(pair_labels, (0, 1)).all() or np.unique(pair_labels).size < 2:
        raise ValueError("pair_labels must hold both 0 (different segment) and 1 (same segment).")
    return pair_labels, values


def _unit_square(ax, xlabel, ylabel, title, *, legend_at):
    """Labels and limits of a curve drawn in the unit square of rates or probabilities."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc=legend_at, fontsize="small")


def plot_pair_distances(pair_labels, distances, *, bins=20, unit="soft-DTW divergence", ax=None):
    """Histograms of the distances of same-segment and different-segment pairs.

    Parameters
    ----------
    pair_labels : array-like of shape (n_pairs,)
        1 for same-segment pairs, 0 otherwise.
    distances : array-like of shape (n_pairs,)
    bins : int, default=20
    unit : str, default="soft-DTW divergence"
        What the distance is, for the axis label.
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skheatmap.plotting import plot_pair_distances
    >>> fig = plot_pair_distances([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    >>> fig.axes[0].get_ylabel()
    'density (1 / distance unit)'
    """
    pair_labels, distances = _check_pairs(pair_labels, distances, "distances")
    fig, ax = new_axes(ax, figsize=(5.5, 3.8))
    edges = np.histogram_bin_edges(distances, bins=bins)
    for label, colour, name in ((1, "C0", "same segment"), (0, "C3", "different segment")):
        chosen = distances[pair_labels == label]
        ax.hist(chosen, bins=edges, density=True, alpha=0.55, color=colour,
                label=f"{name} (n = {chosen.size})")  # fmt: skip
    ax.set_xlabel(f"pair distance ({unit}, a.u.)")
    ax.set_ylabel("density (1 / distance unit)")
    ax.set_title("pair distances of held-out recordings")
    ax.legend(fontsize="small")
    return fig


def plot_roc(pair_labels, proba, *, ax=None):
    """ROC curve of pair probabilities, with its AUC and the chance diagonal.

    Examples
    --------
    >>> from skheatmap.plotting import plot_roc
    >>> fig = plot_roc([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.1])
    >>> fig.axes[0].get_legend_handles_labels()[1][0]
    'pairs (AUC = 0.75)'
    """
    pair_labels, proba = _check_pairs(pair_labels, proba, "proba")
    fpr, tpr, _ = roc_curve(pair_labels, proba)
    fig, ax = new_axes(ax, figsize=(4.5, 4.2))
    auc = roc_auc_score(pair_labels, proba)
    ax.plot(fpr, tpr, color="C0", lw=2, label=f"pairs (AUC = {auc:.2f})")
    ax.plot([0, 1], [0, 1], "k:", label="chance")
    _unit_square(ax, "false positive rate (fraction of different-segment pairs)",
                 "true positive rate (fraction of same-segment pairs)",
                 "ROC of held-out pairs", legend_at="lower right")  # fmt: skip
    return fig


def plot_reliability(pair_labels, proba, *, n_bins=10, ax=None):
    """Reliability curve of pair probabilities: observed frequency against confidence.

    The bins are :func:`sklearn.calibration.calibration_curve`'s; the legend
    gives the expected calibration error and the Brier score.

    Examples
    --------
    >>> from skheatmap.plotting import plot_reliability
    >>> fig = plot_reliability([1, 1, 0, 0], [0.9, 0.6, 0.7, 0.1], n_bins=2)
    >>> fig.axes[0].get_xlabel()
    'predicted probability of same segment'
    """
    pair_labels, proba = _check_pairs(pair_labels, proba, "proba")
    frequency, confidence = calibration_curve(pair_labels, proba, n_bins=n_bins)
    ece = expected_calibration_error(pair_labels, proba, n_bins=n_bins)
    brier = brier_score_loss(pair_labels, proba)
    fig, ax = new_axes(ax, figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
    ax.plot(confidence, frequency, "o-", color="C2",
            label=f"model (ECE = {ece:.3f}, Brier = {brier:.3f})")  # fmt: skip
    _unit_square(ax, "predicted probability of same segment",
                 "observed fraction of same-segment pairs",
                 "reliability of pair probabilities", legend_at="upper left")  # fmt: skip
    return fig
