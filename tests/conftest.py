"""Shared fixtures: seeds, dtypes, dtype-aware tolerances and a code-running payload."""

import pathlib

import numpy as np
import pytest

# Absolute tolerances for comparing against an oracle computed in the same dtype.
TOLERANCES = {np.float32: 1e-5, np.float64: 1e-10}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    """Each floating dtype the estimators preserve."""
    return request.param


@pytest.fixture
def atol(dtype):
    """Absolute tolerance matching ``dtype``."""
    return TOLERANCES[dtype]


@pytest.fixture(params=[0, 1, 42], ids=lambda s: f"seed{s}")
def global_random_seed(request):
    """A few fixed seeds for tests that must hold for any draw."""
    return request.param


class _TouchOnUnpickle:
    """Creates ``marker`` when unpickled, as the code in a malicious file would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def code_payload(tmp_path):
    """An object whose unpickling runs code (it creates a file), and that file's path."""
    marker = tmp_path / "code-ran"
    return _TouchOnUnpickle(marker), marker
