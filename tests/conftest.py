"""Shared fixtures: seeds, dtypes and dtype-aware tolerances."""

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
