"""Stage A: coarse screening of every branch by successive halving at low fidelity."""

import math

import numpy as np
from sklearn.utils import check_random_state

from ._evaluation import cross_validate_candidates
from ._fidelity import FRACTIONAL, Fidelity, epoch_parameters

__all__ = ["halving_schedule", "screen_branches"]


def _full_amount(resource, estimator, n_train):
    if resource == "n_samples":
        return n_train
    if resource == "epochs":
        epochs = epoch_parameters(estimator)
        if not epochs:
            raise ValueError(
                "resource='epochs' needs a step with a max_epochs parameter; "
                f"{type(estimator).__name__} has none. Use 'n_samples' or 'downsample'."
            )
        return max(epochs.values())
    if resource in FRACTIONAL:
        return 1.0
    return estimator.get_params(deep=True)[resource]


def halving_schedule(resource, estimator, n_train, n_classes, *, factor, min_resources,
                     max_resources, n_candidates, n_survivors):  # fmt: skip
    """The fidelities of the successive-halving rungs, coarse to fine.

    As many rungs as both the resource range (``max / min`` in powers of
    ``factor``) and the candidate count (down to ``n_survivors``) allow;
    the last rung uses ``max_resources``.
    """
    full = _full_amount(resource, estimator, n_train)
    top = full if max_resources == "auto" else max_resources
    if resource in FRACTIONAL:
        if not 0 < top <= 1:
            raise ValueError(
                f"max_resources for {resource!r} is a fraction in (0, 1], got {top!r}."
            )
        low = (1 / factor**3) if min_resources == "auto" else min_resources
    elif min_resources == "auto":
        low = min(top, 2 * n_classes) if resource == "n_samples" else 1
    else:
        low = min_resources
    if not 0 < low <= top:
        raise ValueError(
            f"min_resources={low!r} must be positive and at most max_resources={top!r}."
        )
    by_resource = 1 + int(math.floor(math.log(top / low) / math.log(factor) + 1e-9))
    by_candidates = 1 + max(0, math.ceil(math.log(n_candidates / n_survivors) / math.log(factor)))
    n_rungs = min(by_resource, by_candidates)
    integral = resource not in FRACTIONAL
    fidelities = []
    for i in range(n_rungs):
        amount = top / factor ** (n_rungs - 1 - i)
        if integral:
            amount = max(int(low), int(amount))
        fidelities.append(Fidelity(resource, amount, full=amount >= full))
    return fidelities


def screen_branches(estimator, space, X, y, groups, splits, scorer, schedule, *,
                    n_candidates_per_branch, factor, top_k, n_jobs, random_state,
                    error_score, verbose, store=None):  # fmt: skip
    """Successive halving over ``n_candidates_per_branch`` points of every branch.

    The first point of a branch is the centre of Θ_c (the defaults), the others
    are random. After each rung the best ``1/factor`` of the candidates (at
    least ``top_k``) move on to the next, richer, fidelity.

    With a :class:`~skheatmap.search._storage.ScreeningStore`, every
    evaluation is stored as soon as its fits are done, and one already
    stored (by an interrupted run, or a peer process) is taken from there
    instead of being fitted again. An evaluation is identified by its rung,
    candidate, point and subsampling seed, so only a run drawing the same
    ones (the same ``random_state``) reuses it.

    Returns
    -------
    rows : list of dict
        One row per candidate and rung: ``branch`` (index), ``numbers``, the
        fidelity and the :func:`summarize` columns.
    ranking : list of int
        Branch indices, best first: by the highest rung reached, then score.
    best : dict
        Branch index → ``(sort key, numbers, fidelity, score, summary)`` of its
        best candidate.
    n_evaluated : int
        Evaluations fitted by this call (the others came from ``store``).
    """
    rng = check_random_state(random_state)
    candidates = []
    for index, branch in enumerate(space):
        candidates.append((index, branch.center()))
        candidates.extend((index, branch.sample(rng)) for _ in range(n_candidates_per_branch - 1))
    alive = list(range(len(candidates)))
    rows, best, n_evaluated = [], {}, 0
    for rung, fidelity in enumerate(schedule):
        seed = rng.randint(np.iinfo(np.int32).max)
        keys, stored = {}, {}
        if store is not None:
            keys = {c: store.key(rung, c, seed, candidates[c][1]) for c in alive}
            stored = store.finished()
        summaries = {c: stored[keys[c]] for c in alive if keys.get(c) in stored}
        missing = [c for c in alive if c not in summaries]
        evaluated = cross_validate_candidates(
            estimator, [space[candidates[c][0]].params(candidates[c][1]) for c in missing],
            X, y, groups, splits, fidelity, scorer, n_jobs=n_jobs, random_state=seed,
            error_score=error_score, verbose=verbose,
        )  # fmt: skip
        for c, summary in zip(missing, evaluated, strict=True):
            if store is not None:
                store.record(keys[c], summary, fidelity, branch=space[candidates[c][0]].tag,
                             rung=rung, candidate=c)  # fmt: skip
            summaries[c] = summary
        n_evaluated += len(missing)
        for c in alive:
            branch, numbers = candidates[c]
            summary = summaries[c]
            rows.append({"candidate": c, "branch": branch, "numbers": numbers, "rung": rung,
                         "fidelity": fidelity, **summary})  # fmt: skip
            key = (rung, _finite(summary["mean_test_score"]))
            if branch not in best or key > best[branch][0]:
                best[branch] = (key, numbers, fidelity, summary["mean_test_score"], summary)
        if rung + 1 < len(schedule):
            order = np.argsort(
                [-_finite(summaries[c]["mean_test_score"]) for c in alive], kind="stable"
            )
            n_keep = max(top_k, math.ceil(len(alive) / factor))
            alive = [alive[i] for i in np.sort(order[:n_keep])]
    ranking = sorted(best, key=lambda b: best[b][0], reverse=True)
    return rows, ranking, best, n_evaluated


def _finite(score):
    return score if np.isfinite(score) else -np.inf
