"""Alignment of encoded trajectories: soft-lag correlation within vs between segments.

A good encoder maps recordings of the same stimulus segment to trajectories
that agree up to a small delay, and recordings of different segments to
trajectories that do not. The protocol measures this with the soft-lag
correlation ``ρ̃`` of :mod:`skheatmap.lag`, averaged over the *within-segment*
pairs (same label) and over the *between-segment* pairs (different labels);
their difference is the alignment gap (higher is better, at most 2).

Each channel of a recording is centred on its mean first (``center=True``), so
``ρ`` is a Pearson-type correlation that a constant offset cannot inflate.
NaN-padded recordings are compared over the frames both of them have.
"""

import numpy as np
from sklearn.metrics import make_scorer

from ._validation import lengths_of
from .lag import soft_lag_correlation, soft_lag_correlation_pairwise
from .pairs import label_pairs

__all__ = ["alignment_gap", "alignment_report", "alignment_scorer", "pairwise_soft_lag"]


def _as_trajectories(Z):
    Z = np.asarray(Z)
    if Z.dtype.kind not in "fiu":
        raise TypeError(f"Z must hold real numbers, got dtype {Z.dtype}.")
    Z = Z.astype(np.float64, copy=False)
    if Z.ndim == 2:
        Z = Z[:, :, np.newaxis]
    if Z.ndim != 3:
        raise ValueError(f"Z must have shape (n, T) or (n, T, L), got {Z.shape}.")
    return Z


def _centred(Z, lengths):
    out = Z.copy()
    for i, length in enumerate(lengths):
        out[i, :length] -= out[i, :length].mean(axis=0)
    return out


def pairwise_soft_lag(Z, *, max_lag, beta, center=True):
    """Soft-lag correlation of every pair of encoded recordings.

    Parameters
    ----------
    Z : array-like of shape (n, T, L) or (n, T)
        Encoded trajectories, NaN-padded at the end (tslearn layout).
    max_lag : int
        Largest lag in frames.
    beta : float
        Temperature of the soft maximum over lags.
    center : bool, default=True
        Subtract each recording's channel means first.

    Returns
    -------
    rho : ndarray of shape (n, n)
        Symmetric; padded pairs are compared over their common length.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import pairwise_soft_lag
    >>> t = np.arange(64)
    >>> Z = np.stack([np.sin(t / 4), np.sin((t - 2) / 4), np.cos(t / 1.3)])[:, :, None]
    >>> pairwise_soft_lag(Z, max_lag=3, beta=50.0).round(2)[0]
    array([1.01, 1.01, 0.04])
    """
    Z = _as_trajectories(Z)
    lengths = lengths_of(Z)
    if np.any(lengths == 0):
        raise ValueError("Z holds an empty (all-NaN) recording; remove it first.")
    if np.isnan(Z).sum() != np.sum(Z.shape[1] - lengths) * Z.shape[2]:
        raise ValueError(
            "Z contains NaN inside recordings; only trailing all-NaN frames (padding) "
            "are allowed."
        )
    if center:
        Z = _centred(Z, lengths)
    if np.all(lengths == Z.shape[1]):
        return soft_lag_correlation_pairwise(Z, max_lag=max_lag, beta=beta)
    rho = np.empty((Z.shape[0], Z.shape[0]))
    for i in range(Z.shape[0]):
        for j in range(i, Z.shape[0]):
            common = min(lengths[i], lengths[j])
            rho[i, j] = rho[j, i] = soft_lag_correlation(
                Z[i, :common], Z[j, :common], max_lag=max_lag, beta=beta
            )
    return rho


def alignment_report(y, Z, *, max_lag, beta, groups=None, across_groups=False, center=True):
    """Mean soft-lag correlation within and between segments, and their gap.

    Parameters
    ----------
    y : array-like of shape (n,)
        Segment label of each recording.
    Z : array-like of shape (n, T, L) or (n, T)
        Encoded trajectories.
    max_lag : int
        Largest lag in frames.
    beta : float
        Temperature of the soft maximum over lags.
    groups : array-like of shape (n,), optional
        Subject of each recording, needed by ``across_groups``.
    across_groups : bool, default=False
        Count only pairs of recordings of different subjects (so a subject's
        own signature cannot make its recordings look aligned).
    center : bool, default=True
        Subtract each recording's channel means first.

    Returns
    -------
    report : dict
        ``within`` and ``between`` (mean ``ρ̃``), ``gap`` (``within − between``),
        ``n_within`` and ``n_between`` (pair counts). A mean over no pair is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import alignment_report
    >>> t = np.arange(64)
    >>> Z = np.stack([np.sin(t / 4), np.sin((t - 2) / 4), np.cos(t / 1.3)])
    >>> report = alignment_report([0, 0, 1], Z, max_lag=3, beta=50.0)
    >>> round(report["within"], 2), report["n_within"], report["n_between"]
    (1.01, 1, 2)
    """
    Z = _as_trajectories(Z)
    y = np.asarray(y)
    if y.shape != (Z.shape[0],):
        raise ValueError(
            f"y must have shape ({Z.shape[0]},), one label per recording; got {y.shape}."
        )
    if across_groups and groups is None:
        raise ValueError("across_groups=True needs groups (the subject of each recording).")
    pairs, same = label_pairs(y)
    if across_groups:
        groups = np.asarray(groups)
        keep = groups[pairs[:, 0]] != groups[pairs[:, 1]]
        pairs, same = pairs[keep], same[keep]
    rho = pairwise_soft_lag(Z, max_lag=max_lag, beta=beta, center=center)[pairs[:, 0], pairs[:, 1]]
    within = float(rho[same == 1].mean()) if np.any(same == 1) else float("nan")
    between = float(rho[same == 0].mean()) if np.any(same == 0) else float("nan")
    return {
        "within": within,
        "between": between,
        "gap": within - between,
        "n_within": int(np.sum(same == 1)),
        "n_between": int(np.sum(same == 0)),
    }


def alignment_gap(y, Z, *, max_lag, beta, center=True):
    """Within-segment minus between-segment mean soft-lag correlation.

    The score behind :func:`alignment_scorer`; see :func:`alignment_report`.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import alignment_gap
    >>> t = np.arange(64)
    >>> Z = np.stack([np.sin(t / 4), np.sin((t - 2) / 4), np.cos(t / 1.3)])
    >>> round(alignment_gap([0, 0, 1], Z, max_lag=3, beta=50.0), 2)
    0.97
    """
    return alignment_report(y, Z, max_lag=max_lag, beta=beta, center=center)["gap"]


def alignment_scorer(*, max_lag, beta, center=True):
    """An sklearn scorer of the alignment gap of an estimator's encoded output.

    The estimator's ``transform`` (a pipeline of stages) or ``encode`` (a
    :class:`~skheatmap.classifier.SoftDTWPairClassifier`) gives the
    trajectories; ``y`` gives the segments. Greater is better.

    Examples
    --------
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> import numpy as np
    >>> from skheatmap.metrics import alignment_scorer
    >>> t = np.arange(64)
    >>> X = np.stack([np.sin(t / 4), np.sin((t - 2) / 4), np.cos(t / 1.3)])[:, :, None]
    >>> scorer = alignment_scorer(max_lag=3, beta=50.0)
    >>> round(scorer(FunctionTransformer().fit(X), X, [0, 0, 1]), 2)
    0.97
    """
    return make_scorer(
        alignment_gap,
        response_method=("transform", "encode"),
        max_lag=max_lag,
        beta=beta,
        center=center,
    )
