"""Training checkpoints: written atomically, loaded safely, matched to their fit.

A checkpoint is a dict of tensors, numbers and strings saved with
``torch.save`` and read back with ``weights_only=True``, so loading one never
runs pickled code. It carries a fingerprint of the estimator's parameters and
training data: a later ``fit`` resumes only from its own checkpoint. An
estimator that shares its ``checkpoint_dir`` between fits (the folds and
candidates of a cross-validation) names each file after the fingerprint
(:func:`fit_checkpoint_path`), so the fits never overwrite one another.
"""

import hashlib
import json
import numbers
import os
import pathlib
import tempfile

import numpy as np

from ._torch import import_torch

__all__ = [
    "canonical_params",
    "fingerprint",
    "fit_checkpoint",
    "load_checkpoint",
    "random_state_from_tensors",
    "random_state_to_tensors",
    "save_checkpoint",
]


def fit_checkpoint(folder, stem, params, *data):
    """``(path, key)`` of one fit's checkpoint; ``(None, None)`` when ``folder`` is None.

    ``key`` is the :func:`fingerprint` of ``params`` (as :func:`canonical_params`)
    and the training ``data``; the file, ``folder / "{stem}-{key[:16]}.pt"``,
    keeps the whole key, which :func:`load_checkpoint` compares, so a clash of
    the 16-digit prefix is refused rather than resumed. One file per fit, so
    the fits of a search or a cross-validation can share ``folder``.
    """
    if folder is None:
        return None, None
    key = fingerprint(canonical_params(params), *data)
    return pathlib.Path(folder) / f"{stem}-{key[:16]}.pt", key


def canonical_params(params):
    """Parameters as stable JSON values, for :func:`fingerprint`.

    Meant for ``estimator.get_params(deep=True)``, which lists the parameters
    of nested estimators under ``step__name`` keys: an estimator value itself
    is recorded by its class only (its ``repr`` is shortened by scikit-learn
    and would hide parameters), an array by its dtype, shape and a hash of
    its bytes, a NumPy scalar as the Python number it equals, a ``RandomState``
    by its state and a function by its name (their ``repr`` holds a memory
    address, which differs from process to process).
    """
    return {str(name): _canonical(value) for name, value in params.items()}


def _canonical(value):
    if hasattr(value, "get_params"):
        return f"<{type(value).__module__}.{type(value).__qualname__}>"
    if isinstance(value, np.random.RandomState):  # its repr holds a memory address
        state = value.get_state()
        return f"<RandomState {state[2]} {hashlib.sha256(state[1].tobytes()).hexdigest()}>"
    if callable(value) and hasattr(value, "__qualname__"):  # likewise for functions
        return f"<{getattr(value, '__module__', '')}.{value.__qualname__}>"
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"<array {value.dtype} {value.shape} {digest}>"
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return canonical_params(value)
    if isinstance(value, (str, bool, type(None))):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return repr(value)


def fingerprint(params, *arrays):
    """Hash of the parameters (a dict, compared by ``repr``) and the arrays' bytes."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


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
