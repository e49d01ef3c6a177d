"""Generalisation: scores on held-out subjects and sessions, and the validation gap.

A model of facial thermal responses is only useful if it transfers to people
and sessions it has not seen. Recordings are split by a grouping (subject or
session) so that no group is on both sides of a split; the mean held-out score
is the generalisation score and ``mean train score − mean held-out score`` is
the validation gap (how much the model overfits what it was trained on).
The splitting and fitting are scikit-learn's :func:`~sklearn.model_selection.cross_validate`.
"""

import numpy as np
from sklearn.model_selection import GroupKFold, cross_validate

__all__ = ["generalisation_report", "grouped_cv_scores", "validation_gap"]


def validation_gap(train_scores, test_scores):
    """Mean training score minus mean held-out score.

    Positive when the model does better on what it was trained on.

    Examples
    --------
    >>> from skheatmap.metrics import validation_gap
    >>> validation_gap([0.9, 1.0], [0.7, 0.8])
    0.2
    """
    train_scores = np.asarray(train_scores, dtype=float)
    test_scores = np.asarray(test_scores, dtype=float)
    if train_scores.size == 0 or test_scores.size == 0:
        raise ValueError("validation_gap needs at least one training and one held-out score.")
    return round(float(train_scores.mean() - test_scores.mean()), 12)


def grouped_cv_scores(estimator, X, y, groups, *, cv=None, scoring=None, params=None, n_jobs=None):
    """Train and held-out scores of ``estimator`` over splits that keep groups apart.

    Parameters
    ----------
    estimator : estimator
        Cloned and fitted once per split.
    X : array-like of shape (n, ...)
    y : array-like of shape (n,)
    groups : array-like of shape (n,)
        Subject or session of each recording; a group is never on both sides
        of a split.
    cv : int or cross-validation splitter, default=None
        Number of :class:`~sklearn.model_selection.GroupKFold` folds (default
        ``min(5, n_groups)``) or a group-aware splitter such as
        :class:`~sklearn.model_selection.LeaveOneGroupOut`.
    scoring : str or callable, default=None
        ``None`` uses ``estimator.score`` (the pair ROC AUC for
        :class:`~skheatmap.classifier.SoftDTWPairClassifier`).
    params : dict, optional
        Fit parameters, sliced per split (e.g. ``{"groups": groups}``).
    n_jobs : int, optional
        Splits fitted in parallel.

    Returns
    -------
    scores : dict
        ``train_scores`` and ``test_scores`` (per split), ``train`` and
        ``test`` (means), ``test_std``, ``gap`` (:func:`validation_gap`) and
        ``n_splits``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skheatmap.metrics import grouped_cv_scores
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
    >>> scores = grouped_cv_scores(LogisticRegression(), X, y, np.repeat(np.arange(4), 10))
    >>> scores["n_splits"], scores["test"] > 0.8
    (4, True)
    """
    groups = np.asarray(groups)
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(
            f"grouped cross-validation needs at least 2 groups, got {n_groups}; "
            "pass the subject or session of each recording."
        )
    if cv is None:
        cv = GroupKFold(n_splits=min(5, n_groups))
    elif isinstance(cv, int):
        cv = GroupKFold(n_splits=cv)
    result = cross_validate(
        estimator, X, y, groups=groups, cv=cv, scoring=scoring, params=params,
        return_train_score=True, n_jobs=n_jobs, error_score="raise",
    )  # fmt: skip
    train, test = result["train_score"], result["test_score"]
    return {
        "train_scores": train.tolist(),
        "test_scores": test.tolist(),
        "train": float(train.mean()),
        "test": float(test.mean()),
        "test_std": float(test.std()),
        "gap": validation_gap(train, test),
        "n_splits": int(test.size),
    }


def generalisation_report(
    estimator, X, y, *, subjects, sessions=None, cv=None, scoring=None, params=None, n_jobs=None
):
    """Cross-subject and (when sessions are known) cross-session scores.

    Parameters
    ----------
    estimator, X, y, cv, scoring, params, n_jobs
        As in :func:`grouped_cv_scores`.
    subjects : array-like of shape (n,)
        Subject of each recording.
    sessions : array-like of shape (n,), optional
        Session of each recording; without it the cross-session entry is
        left out.

    Returns
    -------
    report : dict
        ``{"cross_subject": scores, "cross_session": scores}`` with the
        entries of :func:`grouped_cv_scores`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skheatmap.metrics import generalisation_report
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); y = (X[:, 0] > 0).astype(int)
    >>> report = generalisation_report(
    ...     LogisticRegression(), X, y, subjects=np.repeat(np.arange(4), 10),
    ...     sessions=np.tile([0, 1], 20))
    >>> sorted(report), report["cross_session"]["n_splits"]
    (['cross_session', 'cross_subject'], 2)
    """
    kwargs = dict(cv=cv, scoring=scoring, params=params, n_jobs=n_jobs)
    report = {"cross_subject": grouped_cv_scores(estimator, X, y, subjects, **kwargs)}
    if sessions is not None:
        report["cross_session"] = grouped_cv_scores(estimator, X, y, sessions, **kwargs)
    return report
