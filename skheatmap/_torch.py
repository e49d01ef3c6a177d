"""Shared torch plumbing: lazy import, seeded RNG scopes, CPU-safe pickling.

torch is a core dependency but importing it costs about a second, so modules
import it through :func:`import_torch` only when an estimator is fitted or a
twin is built; ``import skheatmap`` stays light.
"""

import contextlib
import copy
import io
import warnings

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "import_torch",
    "seeded_torch_rng",
    "module_to_bytes",
    "module_from_bytes",
    "TorchStateMixin",
]


def import_torch():
    """Return the ``torch`` module, importing it on first use."""
    import torch

    return torch


def torch_seed_from(random_state):
    """Draw a 63-bit torch seed from an sklearn ``random_state``.

    Examples
    --------
    >>> from skheatmap._torch import torch_seed_from
    >>> torch_seed_from(0) == torch_seed_from(0)
    True
    """
    rng = check_random_state(random_state)
    return int(rng.randint(0, np.iinfo(np.int32).max)) * 2**31 + int(
        rng.randint(0, np.iinfo(np.int32).max)
    )


@contextlib.contextmanager
def seeded_torch_rng(random_state, device="cpu"):
    """Context in which torch's global RNG is seeded from ``random_state``.

    The caller's torch RNG state (CPU, and the CUDA device when ``device`` is a
    CUDA device) is restored on exit, so fitting never disturbs user code.

    Examples
    --------
    >>> import torch
    >>> from skheatmap._torch import seeded_torch_rng
    >>> with seeded_torch_rng(0):
    ...     a = torch.rand(2)
    >>> with seeded_torch_rng(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    torch = import_torch()
    dev = torch.device(device)
    devices = [dev] if dev.type == "cuda" else []
    seed = torch_seed_from(random_state)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def module_to_bytes(module):
    """Serialise a module (architecture and weights) to bytes, tensors on CPU."""
    torch = import_torch()
    buffer = io.BytesIO()
    torch.save(_cpu_copy(module), buffer)
    return buffer.getvalue()


def module_from_bytes(data):
    """Inverse of :func:`module_to_bytes`; tensors are mapped to the CPU."""
    torch = import_torch()
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def _on_accelerator(module):
    return any(p.device.type != "cpu" for p in module.parameters()) or any(
        b.device.type != "cpu" for b in module.buffers()
    )


class TorchStateMixin:
    """Pickle fitted torch modules as CPU bytes (skorch's pattern).

    Subclasses list the names of their fitted ``nn.Module`` attributes in
    ``_torch_module_attributes``. Pickling moves copies of them to the CPU, so
    a model fitted on a GPU loads on a machine without one.
    """

    _torch_module_attributes = ()

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never replace the live modules
        for name in self._torch_module_attributes:
            if name in state:
                state[name] = _PickledModule(module_to_bytes(state[name]))
        return state

    def __setstate__(self, state):
        for name in self._torch_module_attributes:
            if isinstance(state.get(name), _PickledModule):
                state[name] = module_from_bytes(state[name].data)
        device = state.get("device")
        if isinstance(device, str) and device.startswith("cuda") and not _cuda_available():
            warnings.warn(
                f"this {type(self).__name__} was saved with device={device!r}, but no CUDA "
                "device is available here; it is loaded with device='cpu'.",
                UserWarning,
                stacklevel=2,
            )
            state["device"] = "cpu"
        super().__setstate__(state)


def _cuda_available():
    return import_torch().cuda.is_available()


def _cpu_copy(module):
    """The module itself when it lives on the CPU, else a CPU copy (never moved in place)."""
    return copy.deepcopy(module).to("cpu") if _on_accelerator(module) else module


class _PickledModule:
    """Marker wrapping the bytes of a module inside a pickled estimator."""

    def __init__(self, data):
        self.data = data
