"""Fit and score candidates on cross-validation splits (joblib-parallel, so dask can run them)."""

import inspect
import time
import traceback

import numpy as np
from joblib import Parallel, delayed
from joblib.parallel import get_active_backend
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from ._complexity import complexity_proxies

__all__ = ["cross_validate_candidates", "fit_and_score", "routed_fit_params"]


def _accepts(method, name):
    return name in inspect.signature(method).parameters


def routed_fit_params(estimator, groups):
    """``fit`` keyword arguments that hand ``groups`` to the step that takes them.

    The final step of a Pipeline (e.g. :class:`~skheatmap.SoftDTWPairClassifier`,
    which holds out whole subjects for early stopping) or the estimator itself.
    """
    if groups is None:
        return {}
    if isinstance(estimator, Pipeline):
        name, final = estimator.steps[-1]
        return {f"{name}__groups": groups} if _accepts(final.fit, "groups") else {}
    return {"groups": groups} if _accepts(estimator.fit, "groups") else {}


def continues_by_partial_fit(estimator):
    """Whether more epochs can be added to a fitted ``estimator`` with ``partial_fit``."""
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return hasattr(final, "partial_fit")


def _train_more(state, estimator, X, y, groups, epochs):
    """Bring a ``partial_fit`` candidate to ``epochs`` epochs, fitting transformers once."""
    if state is None:
        state = {"estimator": estimator, "epochs": 0}
        if isinstance(estimator, Pipeline):
            state["features"] = estimator[:-1].fit_transform(X, y)
        else:
            state["features"] = X
    final = state["estimator"]
    final = final.steps[-1][1] if isinstance(final, Pipeline) else final
    extra = {}
    if _accepts(final.partial_fit, "classes"):
        extra["classes"] = np.unique(y)
    if groups is not None and _accepts(final.partial_fit, "groups"):
        extra["groups"] = groups
    for _ in range(epochs - state["epochs"]):
        final.partial_fit(state["features"], y, **extra)
    state["epochs"] = max(epochs, state["epochs"])
    return state


def fit_and_score(
    estimator, params, X, y, groups, train, test, fidelity, scorer, *,
    random_state=None, error_score=np.nan, state=None, measure=True,
):  # fmt: skip
    """Fit one candidate on one split at ``fidelity`` and score it on the test part.

    With ``state`` (a dict, possibly empty) and an estimator that has
    ``partial_fit``, training continues from the epochs already done, and the
    updated state is returned under ``"state"``.

    Returns
    -------
    result : dict
        ``score``, ``fit_time``, ``score_time``, ``error`` (None or the
        traceback), ``n_train`` and, when ``measure``, the complexity proxies.
    """
    rows = fidelity.training_rows(train, y, random_state)
    X_train, X_test = fidelity.frames(X[rows]), fidelity.frames(X[test])
    g_train = None if groups is None else groups[rows]
    result = {"n_train": len(rows), "error": None}
    start = time.perf_counter()
    try:
        if state is not None and continues_by_partial_fit(estimator):
            fresh = state.get("estimator") is None
            model = clone(estimator).set_params(**params) if fresh else None
            state = _train_more(None if fresh else state, model, X_train, y[rows], g_train,
                                int(fidelity.value))  # fmt: skip
            fitted = state["estimator"]
            result["state"] = state
        else:
            # the fidelity scales the candidate's own settings (a searched max_epochs too)
            fitted = clone(estimator).set_params(**params)
            fitted.set_params(**fidelity.params(fitted))
            fitted.fit(X_train, y[rows], **routed_fit_params(fitted, g_train))
        result["fit_time"] = time.perf_counter() - start
        start = time.perf_counter()
        result["score"] = float(scorer(fitted, X_test, y[test]))
        result["score_time"] = time.perf_counter() - start
        if measure:
            result.update(complexity_proxies(fitted, X_test))
    except Exception:
        if isinstance(error_score, str) and error_score == "raise":
            raise
        result.update(score=error_score, error=traceback.format_exc())
        result.setdefault("fit_time", time.perf_counter() - start)
        result.setdefault("score_time", 0.0)
    return result


def summarize(fold_results):
    """Per-candidate summary of its per-split results."""
    scores = np.array([r["score"] for r in fold_results], dtype=float)
    summary = {f"split{i}_test_score": s for i, s in enumerate(scores)}
    finite = scores[np.isfinite(scores)]
    summary["mean_test_score"] = float(finite.mean()) if finite.size == scores.size else np.nan
    summary["std_test_score"] = float(finite.std()) if finite.size == scores.size else np.nan
    summary["mean_fit_time"] = float(np.mean([r["fit_time"] for r in fold_results]))
    summary["mean_score_time"] = float(np.mean([r["score_time"] for r in fold_results]))
    summary["n_train"] = int(np.mean([r["n_train"] for r in fold_results]))
    for key in ("n_params", "flops", "transform_latency"):
        values = [r[key] for r in fold_results if key in r]
        summary[key] = float(np.mean(values)) if values else np.nan
    errors = [r["error"] for r in fold_results if r["error"]]
    summary["error"] = errors[0] if errors else None
    return summary


def cross_validate_candidates(
    estimator, candidates, X, y, groups, splits, fidelity, scorer, *,
    n_jobs=None, random_state=None, error_score=np.nan, verbose=0,
):  # fmt: skip
    """Cross-validate every candidate (a dict of parameters) at one fidelity, in parallel.

    All ``len(candidates) * len(splits)`` fits are one joblib call, so the
    active joblib backend (loky, threads, or dask with
    ``joblib.parallel_config(backend="dask")``) spreads them.

    Yields
    ------
    summary : dict
        One :func:`summarize` dict per candidate, in order, as soon as its
        fits are done (when the backend returns results as they come; else
        once all are).
    """
    tasks = [
        delayed(fit_and_score)(
            estimator, params, X, y, groups, train, test, fidelity, scorer,
            random_state=random_state, error_score=error_score,
        )  # fmt: skip
        for params in candidates
        for train, test in splits
    ]
    streams = get_active_backend()[0].supports_return_generator
    results = Parallel(n_jobs=n_jobs, verbose=verbose,
                       return_as="generator" if streams else "list")(tasks)  # fmt: skip
    folds = []
    for result in results:
        folds.append(result)
        if len(folds) == len(splits):
            yield summarize(folds)
            folds = []
