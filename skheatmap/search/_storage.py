"""Optuna studies in shared storage, so several processes run Stage B and a search resumes."""

import contextlib
import os

from ._optuna import import_optuna

__all__ = ["open_study", "quiet_optuna", "resolve_storage"]


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
