"""Source-recovery score of nonlinear ICA: the mean correlation coefficient."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = ["mean_correlation_coefficient"]


def _as_components(values, name):
    """``(N, K)`` view of components given as ``(N, K)`` or ``(n, T, K)``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (n_samples, n_components) or (n, T, n_components), got "
            f"shape {values.shape}."
        )
    return values.reshape(-1, values.shape[-1])


def _standardised(columns):
    centred = columns - columns.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)
    # a constant component carries no signal: its correlation with anything is 0
    return np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)


@validate_params(
    {
        "s_true": ["array-like"],
        "s_est": ["array-like"],
        "method": [StrOptions({"pearson", "spearman"})],
    },
    prefer_skip_nested_validation=True,
)
def mean_correlation_coefficient(s_true, s_est, *, method="pearson"):
    """Mean absolute correlation of true and estimated sources after optimal matching.

    The standard score of nonlinear ICA: the absolute correlation matrix
    between true and estimated components is matched one-to-one by the
    Hungarian algorithm (maximising the total), and the matched values are
    averaged. With ``K`` true and ``L`` estimated components, ``min(K, L)``
    pairs are matched.

    Parameters
    ----------
    s_true : array-like of shape (n_samples, K) or (n, T, K)
        True sources (for TCL, transform them as the method recovers them,
        e.g. ``np.abs(s)`` for Laplace sources).
    s_est : array-like of shape (n_samples, L) or (n, T, L)
        Estimated sources, with the same samples in the same order.
    method : {"pearson", "spearman"}, default="pearson"
        Correlation coefficient; Spearman's is invariant to monotone
        component-wise transforms.

    Returns
    -------
    mcc : float
        In [0, 1]. Samples where either array has a NaN (padding) are left
        out; a constant component has correlation 0.

    Raises
    ------
    ValueError
        If the numbers of samples differ or fewer than two complete samples
        remain.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import mean_correlation_coefficient
    >>> s = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    >>> mean_correlation_coefficient(s, -s[:, ::-1])
    1.0
    """
    s_true = _as_components(s_true, "s_true")
    s_est = _as_components(s_est, "s_est")
    if len(s_true) != len(s_est):
        raise ValueError(
            f"s_true has {len(s_true)} samples but s_est has {len(s_est)}; pass the sources "
            "of the same samples."
        )
    complete = ~(np.isnan(s_true).any(axis=1) | np.isnan(s_est).any(axis=1))
    if complete.sum() < 2:
        raise ValueError(
            f"only {int(complete.sum())} sample(s) have no NaN in s_true and s_est; the "
            "correlation needs at least 2."
        )
    s_true, s_est = s_true[complete], s_est[complete]
    if method == "spearman":
        s_true, s_est = rankdata(s_true, axis=0), rankdata(s_est, axis=0)
    correlation = np.abs(_standardised(s_true).T @ _standardised(s_est))
    rows, cols = linear_sum_assignment(correlation, maximize=True)
    return float(np.clip(correlation[rows, cols], 0.0, 1.0).mean())
