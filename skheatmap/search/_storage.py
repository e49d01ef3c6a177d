"""Optuna studies in shared storage, so several processes run a search and a search resumes."""

import contextlib
import math
import os

import numpy as np

from .._checkpoint import fingerprint
from ._optuna import import_optuna

__all__ = [
    "FINISHED",
    "ScreeningStore",
    "json_record",
    "open_study",
    "quiet_optuna",
    "recorded_result",
    "resolve_storage",
    "stored_summary",
]

FINISHED = ("COMPLETE", "PRUNED")
_MAX_ERROR_CHARS = 2000
_FIDELITY_KEYS = ("resource", "fidelity", "full")


def resolve_storage(storage):
    """An Optuna storage from ``None``, an RDB URL, a journal file path or a storage object.

    ``None`` keeps studies in memory; a string with ``"://"`` is an RDB URL
    (``"sqlite:///search.db"``, ``"postgresql://..."``); any other string or
    path is a journal file shared through file locks
    (``optuna.storages.JournalStorage``), which needs no database server.

    Examples
    --------
    >>> from skheatmap.search import resolve_storage
    >>> resolve_storage(None) is None
    True
    >>> resolve_storage("sqlite:///search.db")
    'sqlite:///search.db'
    """
    if storage is None or (isinstance(storage, str) and "://" in storage):
        return storage
    optuna = import_optuna()
    if isinstance(storage, str | os.PathLike):
        backend = optuna.storages.journal.JournalFileBackend(os.fspath(storage))
        return optuna.storages.JournalStorage(backend)
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    raise TypeError(
        "storage must be None, an RDB URL, a journal file path or an optuna storage, "
        f"got {type(storage).__name__}."
    )


def open_study(storage, name, *, seed, pruner):
    """Create the study ``name``, or load it (with its finished trials) if it exists."""
    optuna = import_optuna()
    return optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
        direction="maximize",
        load_if_exists=True,
    )


@contextlib.contextmanager
def quiet_optuna(verbose):
    """Silence Optuna's per-trial log lines unless ``verbose``, restoring the level after."""
    logging = import_optuna().logging
    previous = logging.get_verbosity()
    logging.set_verbosity(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        logging.set_verbosity(previous)


def json_record(summary, fidelity):
    """A candidate's summary as a JSON-safe trial attribute (NaN as None), with its fidelity."""
    record = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in summary.items()}  # fmt: skip
    if record["error"]:
        record["error"] = record["error"][-_MAX_ERROR_CHARS:]
    record.update(resource=fidelity.resource, fidelity=float(fidelity.value), full=fidelity.full)
    return record


def stored_summary(record):
    """The summary a :func:`json_record` holds (None back to NaN), without its fidelity."""
    return {k: (np.nan if v is None and k != "error" else v)
            for k, v in record.items() if k not in _FIDELITY_KEYS}  # fmt: skip


def recorded_result(trial):
    """The result a ``trial`` recorded, if it ran to its end; else None.

    A trial that ran to its end is complete, pruned, or failed because its
    fits failed (its NaN score is what Optuna marks FAIL). A trial still
    running (in a peer process, or left behind by a killed one) or
    interrupted mid-rung has only a partial result, which is not reported.
    """
    result = trial.user_attrs.get("result")
    if result is None:
        return None
    state = trial.state.name
    if state in FINISHED or (state == "FAIL" and result["mean_test_score"] is None):
        return result
    return None


class ScreeningStore:
    """Finished Stage-A evaluations in an Optuna study, so that an interrupted screening resumes.

    One trial per evaluation (a candidate at one rung), added as soon as its
    fits are done: its ``result`` user attribute is the :func:`json_record`
    of the evaluation's summary, its ``key`` identifies the evaluation.
    The study's ``fingerprint`` user attribute identifies the search (its
    data, splits and Stage-A configuration); a study holding another
    search's evaluations is refused rather than reused.

    Parameters
    ----------
    storage : str or optuna storage
        A resolved storage (see :func:`resolve_storage`), not None.
    name : str
        Study name.
    search_fingerprint : str
        :func:`fingerprint` of the search.
    """

    def __init__(self, storage, name, search_fingerprint):
        optuna = import_optuna()
        self.study = optuna.create_study(
            storage=storage, study_name=name, direction="maximize", load_if_exists=True
        )
        stored = self.study.user_attrs.get("fingerprint")
        if stored is None:
            self.study.set_user_attr("fingerprint", search_fingerprint)
        elif stored != search_fingerprint:
            raise ValueError(
                f"the study {name!r} in this storage holds the results of a search over other "
                "data or with another configuration (estimator, space, scoring, cv, resource, "
                "factor, min_resources, max_resources, n_candidates_per_branch, top_k or "
                "error_score), which must not be reused. Pass another study_name (or storage) to "
                "start a new search, or the same data and parameters to resume that one."
            )

    @staticmethod
    def key(*identity):
        """The key of the evaluation ``identity`` (rung, candidate, seed, point...)."""
        return fingerprint(*identity)

    def finished(self):
        """``{key: summary}`` of the evaluations stored so far (by any process).

        Only successful ones: an evaluation whose fits failed is run again, as
        its failure may have passed (memory, a lost worker).
        """
        results = {}
        for trial in self.study.get_trials(deepcopy=False):
            result = recorded_result(trial)
            if result is not None and trial.state.name == "COMPLETE":
                results[trial.user_attrs["key"]] = stored_summary(result)
        return results

    def record(self, key, summary, fidelity, **labels):
        """Store a finished evaluation; ``labels`` are extra readable user attributes."""
        optuna = import_optuna()
        score = summary["mean_test_score"]
        complete = bool(np.isfinite(score))
        trial = optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.FAIL,
            value=float(score) if complete else None,
            user_attrs={"key": key, **labels, "result": json_record(summary, fidelity)},
        )  # fmt: skip
        self.study.add_trial(trial)
