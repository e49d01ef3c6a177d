"""Figures of search results: score against complexity, and successive-halving traces.

Both take a ``cv_results_``-like dict of columns: that of
:class:`~skheatmap.search.TwoStageSearchCV` (``branch``, ``stage``,
``trial``, ``fidelity``, ``n_params``, ``flops``...) or of scikit-learn's
``HalvingRandomSearchCV`` (``iter``, ``n_resources``, ``params``...).
"""

import numpy as np

from ._base import new_axes, pyplot

__all__ = ["plot_halving_traces", "plot_search_results"]

# complexity column -> axis label with its unit
_COMPLEXITY_LABELS = {
    "n_params": "trainable parameters (count)",
    "flops": "FLOPs per recording (count)",
    "transform_latency": "transform latency (s per recording)",
    "mean_fit_time": "mean fit time (s)",
}
# Stage-A resource of TwoStageSearchCV -> axis label of its fidelity
_RESOURCE_LABELS = {
    "n_samples": "training recordings (count)",
    "epochs": "fraction of the training epochs",
    "downsample": "fraction of the frames kept",
}


def _column(cv_results, key):
    if key not in cv_results:
        raise ValueError(
            f"cv_results has no column {key!r}; available: {sorted(cv_results)}."
        )
    return np.asarray(cv_results[key])


def _branches(cv_results, branch):
    """The branch of each row: the ``branch`` column, else one branch for all."""
    n = len(_column(cv_results, "mean_test_score"))
    if branch is None:
        branch = "branch" if "branch" in cv_results else None
    if branch is None:
        return np.full(n, "all candidates", dtype=object)
    return np.asarray([_short_tag(str(b)) for b in _column(cv_results, branch)], dtype=object)


def _short_tag(tag):
    """``"step__param=value,..."`` -> ``"param=value, ..."`` (step names are implied)."""
    return ", ".join(part.rsplit("__", 1)[-1] for part in tag.split(","))


def _scale_and_legend(ax, values):
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() > 10 * finite.min():
        ax.set_xscale("log")
    ax.legend(title="branch", fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))


def _branch_colours(names):
    names = list(dict.fromkeys(names))
    colours = pyplot().get_cmap("tab10" if len(names) <= 10 else "tab20").colors
    return {name: colours[k % len(colours)] for k, name in enumerate(dict.fromkeys(names))}


def plot_search_results(cv_results, *, complexity="n_params", score="mean_test_score",
                        branch=None, score_label="pair ROC AUC", ax=None):  # fmt: skip
    """Score against complexity of every evaluated candidate, one colour per branch.

    Parameters
    ----------
    cv_results : dict of array-like
        Search results (``search.cv_results_``).
    complexity : str, default="n_params"
        Column of the complexity proxy (``"n_params"``, ``"flops"``,
        ``"transform_latency"``, ``"mean_fit_time"`` or any other); drawn on a
        log scale when positive and spread over more than a decade.
    score : str, default="mean_test_score"
        Column of the score; ``std_test_score`` (when present) gives error bars.
    branch : str, optional
        Column naming each row's branch (default ``"branch"`` when present).
    score_label : str, default="pair ROC AUC"
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skheatmap.plotting import plot_search_results
    >>> results = {"branch": ["db4", "db4", "haar"], "mean_test_score": [0.7, 0.8, 0.6],
    ...            "n_params": [10, 40, 5]}
    >>> fig = plot_search_results(results)
    >>> fig.axes[0].get_xlabel()
    'trainable parameters (count)'
    """
    scores = _column(cv_results, score).astype(float)
    cost = _column(cv_results, complexity).astype(float)
    branches = _branches(cv_results, branch)
    errors = None
    if score == "mean_test_score" and "std_test_score" in cv_results:
        errors = np.asarray(cv_results["std_test_score"], dtype=float)
    fig, ax = new_axes(ax, figsize=(9.0, 4.5))
    for name, colour in _branch_colours(branches).items():
        rows = branches == name
        ax.errorbar(cost[rows], scores[rows], yerr=None if errors is None else errors[rows],
                    fmt="o", color=colour, alpha=0.8, capsize=2, label=name)  # fmt: skip
    ax.set_xlabel(_COMPLEXITY_LABELS.get(complexity, complexity))
    ax.set_ylabel(f"{score_label} (mean over folds)")
    ax.set_title("search: score vs complexity")
    _scale_and_legend(ax, cost)
    return fig


def _halving_rows(cv_results):
    """Resource, candidate identity and mask of the successive-halving rows."""
    n = len(_column(cv_results, "mean_test_score"))
    stage_a = np.ones(n, dtype=bool)
    if "stage" in cv_results:
        stage_a = np.asarray(cv_results["stage"]) == "A"
    if "n_resources" in cv_results:
        resource, label = _column(cv_results, "n_resources"), "resource (recordings)"
    else:
        name = str(np.asarray(cv_results["resource"])[0]) if "resource" in cv_results else ""
        resource = _column(cv_results, "fidelity")
        label = _RESOURCE_LABELS.get(name, f"fidelity ({name or 'resource'})")
    if "trial" in cv_results:
        candidate = [str(t) for t in cv_results["trial"]]
    else:
        candidate = [repr(sorted(p.items())) for p in _column(cv_results, "params")]
    return resource.astype(float), np.asarray(candidate, dtype=object), stage_a, label


def plot_halving_traces(cv_results, *, score="mean_test_score", branch=None,
                        score_label="pair ROC AUC", ax=None):  # fmt: skip
    """Score of each candidate across successive-halving rungs, one colour per branch.

    A line follows one candidate from rung to rung while it survives; the
    resource is ``n_resources`` (scikit-learn's halving searches) or
    ``fidelity`` (Stage A of :class:`~skheatmap.search.TwoStageSearchCV`,
    in the unit of its ``resource`` column).

    Examples
    --------
    >>> from skheatmap.plotting import plot_halving_traces
    >>> results = {"iter": [0, 0, 1], "n_resources": [8, 8, 24],
    ...            "mean_test_score": [0.6, 0.7, 0.8],
    ...            "params": [{"a": 1}, {"a": 2}, {"a": 2}]}
    >>> fig = plot_halving_traces(results)
    >>> fig.axes[0].get_xlabel()
    'resource (recordings)'
    """
    scores = _column(cv_results, score).astype(float)
    resource, candidate, rows, resource_label = _halving_rows(cv_results)
    branches = _branches(cv_results, branch)
    fig, ax = new_axes(ax, figsize=(9.0, 4.5))
    colours = _branch_colours(branches[rows])
    labelled = set()
    for key in dict.fromkeys(zip(branches[rows], candidate[rows], strict=True)):
        mine = rows & (branches == key[0]) & (candidate == key[1])
        order = np.argsort(resource[mine])
        ax.plot(resource[mine][order], scores[mine][order], "o-", color=colours[key[0]],
                alpha=0.75, label=None if key[0] in labelled else key[0])  # fmt: skip
        labelled.add(key[0])
    ax.set_xlabel(resource_label)
    ax.set_ylabel(f"{score_label} (mean over folds)")
    ax.set_title("successive halving: candidates across rungs")
    _scale_and_legend(ax, resource[rows])
    return fig
