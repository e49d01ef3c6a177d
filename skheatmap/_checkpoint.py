"""Training checkpoints: one file per estimator, written atomically, loaded safely.

A checkpoint is a dict of tensors, numbers and strings saved with
``torch.save`` and read back with ``weights_only=True``, so loading one never
runs pickled code. It carries a fingerprint of the estimator's parameters and
training data: a later ``fit`` resumes only from its own checkpoint.
"""

import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

from ._torch import import_torch

__all__ = [
    "checkpoint_path",
    "fingerprint",
    "load_checkpoint",
    "random_state_from_tensors",
    "random_state_to_tensors",
    "save_checkpoint",
]


def checkpoint_path(folder, name):
    """``folder / name``, or None when checkpoints are off (``folder`` is None)."""
    return None if folder is None else pathlib.Path(folder) / name


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
