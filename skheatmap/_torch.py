"""Shared torch plumbing: lazy import, seeded RNG scopes, CPU-safe pickling.

torch is a core dependency but importing it costs about a second, so modules
import it through :func:`import_torch` only when an estimator is fitted or a
twin is built; ``import skheatmap`` stays light.
"""

import contextlib
import copy
import itertools
import warnings

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "import_torch",
    "seeded_torch_rng",
    "cpu_tensors",
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


def cpu_tensors(value):
    """Copy of ``value`` (tensors in dicts, lists, tuples) with every tensor detached on the CPU.

    The copies share no memory with the originals, so the result stays as it is
    while training goes on.

    Examples
    --------
    >>> import torch
    >>> from skheatmap._torch import cpu_tensors
    >>> weights = {"w": torch.ones(2)}
    >>> saved = cpu_tensors(weights)
    >>> _ = weights["w"].add_(1.0)
    >>> saved["w"].tolist()
    [1.0, 1.0]
    """
    torch = import_torch()
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: cpu_tensors(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(cpu_tensors(item) for item in value)
    return value


class TorchStateMixin:
    """Pickle fitted torch modules as an architecture plus a CPU ``state_dict``.

    Subclasses list the names of their fitted ``nn.Module`` attributes in
    ``_torch_module_attributes``. Pickling stores each as a weightless copy (on
    torch's ``meta`` device) and a ``state_dict`` of CPU tensors; unpickling
    materialises the copy on the device the module was on, or on the CPU when
    that is a CUDA device this machine lacks, and loads the weights into it, so
    a model fitted on a GPU loads on a machine without one. (Pickles run code
    when loaded: load only your own; :mod:`skheatmap.persistence` is the safe
    format.)
    """

    _torch_module_attributes = ()

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never replace the live modules
        for name in self._torch_module_attributes:
            if name in state:
                state[name] = _PickledModule(state[name])
        return state

    def __setstate__(self, state):
        for name in self._torch_module_attributes:
            if isinstance(state.get(name), _PickledModule):
                state[name] = state[name].module()
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


class _PickledModule:
    """A module inside a pickled estimator: its architecture, device and CPU weights."""

    def __init__(self, module):
        self.weights = cpu_tensors(module.state_dict())
        first = next(itertools.chain(module.parameters(), module.buffers()), None)
        self.device = "cpu" if first is None else str(first.device)
        # the weightless copy keeps the architecture (submodules, settings) but no tensor data
        self.architecture = copy.deepcopy(module).to("meta")

    def module(self):
        """The module rebuilt with the saved weights, on its device if this machine has it."""
        missing = self.device.startswith("cuda") and not _cuda_available()
        device = "cpu" if missing else self.device
        module = self.architecture.to_empty(device=device)
        module.load_state_dict(self.weights)
        return module
