"""Training checkpoints: written atomically, loaded safely, matched to their fit.

A checkpoint is a dict of tensors, numbers and strings saved with
``torch.save`` and read back with ``weights_only=True``, so loading one never
runs pickled code. It carries a fingerprint of the estimator's parameters and
training data: a later ``fit`` resumes only from its own checkpoint. An
estimator that shares its ``checkpoint_dir`` between fits (the folds and
candidates of a cross-validation) names each file after the fingerprint
(:func:`fit_checkpoint`), so the fits never overwrite one another.
"""

import os
import pathlib
import tempfile

import joblib
import numpy as np

from ._torch import import_torch

__all__ = [
    "fingerprint",
    "fit_checkpoint",
    "load_checkpoint",
    "random_state_from_tensors",
    "random_state_to_tensors",
    "save_checkpoint",
]


def fit_checkpoint(folder, stem, params, *data):
    """``(path, key)`` of one fit's checkpoint; ``(None, None)`` when ``folder`` is None.

    ``key`` is the :func:`fingerprint` of ``params`` and the training ``data``;
    the file, ``folder / "{stem}-{key[:16]}.pt"``, keeps the whole key, which
    :func:`load_checkpoint` compares, so a clash of
    the 16-digit prefix is refused rather than resumed. One file per fit, so
    the fits of a search or a cross-validation can share ``folder``.
    """
    if folder is None:
        return None, None
    key = fingerprint(params, *data)
    return pathlib.Path(folder) / f"{stem}-{key[:16]}.pt", key


def fingerprint(*parts):
    """A hash of ``parts`` (parameters, estimators, arrays) that is stable across processes.

    Estimators count by class name and parameters, not by ``repr`` (scikit-learn
    shortens it, hiding parameters) nor by pickle (the same class run as a script,
    ``__main__``, and imported must match); functions by their name (a lambda
    cannot be pickled); everything else as joblib hashes it (arrays by their
    bytes, a ``RandomState`` by its state), never by a memory address.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skheatmap._checkpoint import fingerprint
    >>> fingerprint(LogisticRegression(C=1.0)) == fingerprint(LogisticRegression())
    True
    >>> fingerprint(LogisticRegression(C=2.0)) == fingerprint(LogisticRegression())
    False
    """
    return joblib.hash(_canonical(parts))


def _canonical(value):
    if hasattr(value, "get_params") and not isinstance(value, type):
        return type(value).__qualname__, _canonical(value.get_params(deep=False))
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if callable(value) and not isinstance(value, type) and hasattr(value, "__qualname__"):
        return f"<{getattr(value, '__module__', '')}.{value.__qualname__}>"
    return value


def save_checkpoint(path, state):
    """Write ``state`` to ``path`` through a temporary file and a rename.

    An interrupted save never leaves a torn checkpoint: the previous one stays
    until the new one is complete.
    """
    torch = import_torch()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        torch.save(state, tmp)
    os.replace(tmp.name, path)


def load_checkpoint(path, expected_fingerprint, device="cpu"):
    """The checkpoint at ``path`` (None if there is none), refusing another fit's.

    Raises
    ------
    ValueError
        If the checkpoint was written by a fit with other parameters or data.
    """
    if path is None or not path.exists():
        return None
    torch = import_torch()
    state = torch.load(path, map_location=device, weights_only=True)
    if state["fingerprint"] != expected_fingerprint:
        raise ValueError(
            f"checkpoint {path} was written by a fit with other parameters or data; "
            "delete it or choose another checkpoint_dir."
        )
    return state


def random_state_to_tensors(rng):
    """A ``RandomState``'s state as tensors (loadable with ``weights_only=True``)."""
    torch = import_torch()
    _, keys, position, has_gauss, cached = rng.get_state()
    return {
        "keys": torch.as_tensor(keys.astype(np.int64)),
        "numbers": torch.tensor([position, has_gauss], dtype=torch.int64),
        "cached": torch.tensor(cached, dtype=torch.float64),
    }


def random_state_from_tensors(state):
    """The ``RandomState.set_state`` tuple of :func:`random_state_to_tensors`' output."""
    keys = state["keys"].cpu().numpy().astype(np.uint32)
    position, has_gauss = (int(value) for value in state["numbers"])
    return ("MT19937", keys, position, has_gauss, float(state["cached"]))
