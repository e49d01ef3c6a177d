"""Single-axis ablations: vary one categorical axis at a time around a base point."""

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.utils import get_tags

from ._evaluation import cross_validate_candidates
from ._fidelity import Fidelity
from ._results import rows_to_columns
from ._space import _DEFAULT_AXES, _resolve_axes, _same

__all__ = ["single_axis_ablation"]

# A search's default axes, plus the padding mode: robustness to padding is one of the seeds'
# checks, though padding is rarely worth searching.
_ABLATION_AXES = {
    **_DEFAULT_AXES,
    "WaveletBandReconstructor": (*_DEFAULT_AXES["WaveletBandReconstructor"], "mode"),
}


def single_axis_ablation(estimator, X, y, *, axes=None, base_params=None, groups=None,
                         cv=None, scoring=None, n_jobs=None, error_score=np.nan,
                         as_frame=False):  # fmt: skip
    """Score the effect of each axis alone: one value changed, everything else at the base.

    The seeds' robustness checks: sensitivity to padding
    (``waveletbandreconstructor__mode``), filter length
    (``waveletbandreconstructor__wavelet``, e.g. ``haar``/``db4``/``sym8`` with
    2/8/16 taps), the level, and every categorical axis, each measured as
    the change of the cross-validated score from the base point.

    Parameters
    ----------
    estimator : estimator
        A Pipeline of skheatmap stages (or any estimator with ``score``).
    X : array-like of shape (n, ...)
    y : array-like of shape (n,)
    axes : dict, list of str or None, default=None
        As in :func:`categorical_space`: path → values, or known axis paths.
        None: :func:`categorical_space`'s default axes and, for a
        :class:`~skheatmap.WaveletBandReconstructor`, its padding ``mode``.
    base_params : dict or None, default=None
        The base point; parameters not named keep the estimator's values.
    groups : array-like of shape (n,), optional
        Subjects; with ``cv`` None or an int the splits are ``GroupKFold``.
    cv : int, cross-validation generator or None, default=None
    scoring : str, callable or None, default=None
    n_jobs : int or None, default=None
    error_score : "raise" or float, default=np.nan
    as_frame : bool, default=False
        Return a pandas DataFrame (needs pandas) instead of a dict of arrays.

    Returns
    -------
    table : dict of ndarray or pandas.DataFrame
        One row per evaluated point (the base first): ``axis`` ("base" for
        the base point), ``value``, ``is_base``, ``mean_test_score``,
        ``std_test_score``, ``delta`` (score minus the base score),
        ``split{i}_test_score``, ``mean_fit_time``, ``n_params``, ``flops``,
        ``transform_latency``, ``error`` and ``params``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.datasets import make_classification
    >>> from skheatmap.search import single_axis_ablation
    >>> X, y = make_classification(n_samples=60, random_state=0)
    >>> table = single_axis_ablation(LogisticRegression(), X, y, axes={"C": [0.01, 1.0]},
    ...                              base_params={"C": 1.0}, cv=3)
    >>> list(table["axis"]), list(table["value"])
    (['base', 'C'], [None, 0.01])
    >>> bool(table["delta"][0] == 0.0)
    True
    """
    X, y = np.asarray(X), np.asarray(y)
    groups = None if groups is None else np.asarray(groups)
    axes = _resolve_axes(estimator, axes, _ABLATION_AXES)
    base = dict(base_params or {})
    current = estimator.get_params(deep=True)
    points = [("base", None, base)]
    for path, values in axes.items():
        reference = base.get(path, current[path])
        points.extend(
            (path, value, {**base, path: value})
            for value in values
            if not _same(value, reference)
        )
    if groups is not None and (cv is None or isinstance(cv, int)):
        cv = GroupKFold(n_splits=5 if cv is None else cv)
    cv = check_cv(cv, y, classifier=get_tags(estimator).estimator_type == "classifier")
    splits = list(cv.split(X, y, groups))
    summaries = list(cross_validate_candidates(
        estimator, [params for *_, params in points], X, y, groups, splits,
        Fidelity("n_samples", np.inf, full=True), check_scoring(estimator, scoring=scoring),
        n_jobs=n_jobs, error_score=error_score,
    ))  # fmt: skip
    base_score = summaries[0]["mean_test_score"]
    rows = [
        {"axis": axis, "value": value, "is_base": axis == "base", **summary,
         "delta": summary["mean_test_score"] - base_score, "params": params}
        for (axis, value, params), summary in zip(points, summaries, strict=True)
    ]  # fmt: skip
    table = rows_to_columns(rows)
    if not as_frame:
        return table
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError("as_frame=True needs pandas; `pip install pandas`.") from error
    return pd.DataFrame({k: list(v) if v.dtype == object else v for k, v in table.items()})
