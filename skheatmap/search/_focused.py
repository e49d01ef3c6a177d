"""Stage B: Optuna TPE over the continuous space Θ_c of one branch, with Hyperband pruning."""

import math
import os

import numpy as np
from joblib import Parallel, delayed

from ._evaluation import continues_by_partial_fit, fit_and_score, summarize
from ._fidelity import Fidelity, epoch_parameters
from ._optuna import import_optuna
from ._storage import FINISHED, json_record

__all__ = ["epoch_rungs", "optimize_branch"]


def epoch_rungs(estimator, factor, pruning):
    """Fidelities at which a Stage-B trial reports: epochs ``E/factor^k ... E``.

    Without a ``max_epochs`` parameter (or without pruning) a trial is
    evaluated once, at full fidelity.
    """
    epochs = epoch_parameters(estimator)
    largest = max(epochs.values(), default=0)
    if not pruning or largest <= 1:
        return [Fidelity("epochs", largest, full=True)] if largest else [
            Fidelity("n_samples", np.inf, full=True)
        ]
    amounts = sorted({max(1, math.ceil(largest / factor**k))
                      for k in range(int(math.log(largest, factor) + 1e-9) + 1)})  # fmt: skip
    return [Fidelity("epochs", a, full=a == largest) for a in amounts]


def _objective(branch, estimator, X, y, groups, splits, scorer, rungs, *, n_jobs,
               random_state, error_score):  # fmt: skip
    optuna = import_optuna()
    continues = len(rungs) > 1 and continues_by_partial_fit(estimator)

    def objective(trial):
        params = branch.params(branch.suggest(trial))
        trial.set_user_attr("pid", os.getpid())
        states = [{} if continues else None] * len(splits)
        score, n_fits, fit_time = np.nan, 0, 0.0
        for fidelity in rungs:
            results = Parallel(n_jobs=n_jobs)(
                delayed(fit_and_score)(
                    estimator, params, X, y, groups, train, test, fidelity, scorer,
                    random_state=random_state, error_score=error_score, state=state,
                )  # fmt: skip
                for (train, test), state in zip(splits, states, strict=True)
            )
            if continues:
                states = [r.pop("state", {}) for r in results]
            summary = summarize(results)
            n_fits += len(results)
            fit_time += sum(r["fit_time"] for r in results)
            record = json_record(summary, fidelity)
            trial.set_user_attr("result", {**record, "n_fits": n_fits, "total_fit_time": fit_time})
            score = summary["mean_test_score"]
            if not np.isfinite(score):
                break
            if len(rungs) > 1:
                trial.report(score, int(fidelity.value))
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return score

    return objective


def _warm_start(study, branch, screened):
    """Seed an empty study with the branch's best Stage-A point.

    A full-fidelity Stage-A result enters as a finished trial (no refit); a
    low-fidelity one is queued to be evaluated first. A branch without Θ_c has
    one point, so a full-fidelity result leaves its study nothing to run.
    """
    optuna = import_optuna()
    if study.trials or screened is None:
        return
    numbers, fidelity, score, summary = screened
    if fidelity.full and np.isfinite(score):
        trial = optuna.trial.create_trial(
            params=numbers, distributions=branch.optuna_distributions(), value=score,
            user_attrs={"result": json_record(summary, fidelity), "warm_start": "stage_a_result"},
        )  # fmt: skip
        study.add_trial(trial)
    else:
        study.enqueue_trial(numbers, user_attrs={"warm_start": "stage_a_point"})


def optimize_branch(study, branch, estimator, X, y, groups, splits, scorer, rungs, *,
                    n_trials, timeout, screened, warm_start, n_jobs, random_state,
                    error_score):  # fmt: skip
    """Run TPE trials on ``branch`` until the study holds ``n_trials`` finished ones.

    Finished (complete or pruned) trials already in the study, from an
    interrupted run or another process sharing the storage, count towards
    ``n_trials``, so a resumed search only runs what is missing.
    """
    optuna = import_optuna()
    if not branch.dimensions:
        n_trials = min(n_trials, 1)  # every trial of a branch without Θ_c would be the same
    if warm_start:
        _warm_start(study, branch, screened)
    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=states))
    if remaining <= 0:
        return study
    objective = _objective(branch, estimator, X, y, groups, splits, scorer, rungs,
                           n_jobs=n_jobs, random_state=random_state,
                           error_score=error_score)  # fmt: skip
    study.optimize(
        objective, n_trials=remaining, timeout=timeout,
        callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=states)],
    )  # fmt: skip
    return study
