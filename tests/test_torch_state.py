"""Torch plumbing: seeded RNG scopes and CPU-safe pickling of fitted modules."""

import pickle

import numpy as np
import torch
from sklearn.base import BaseEstimator

from skheatmap._torch import TorchStateMixin, seeded_torch_rng


class _WithModule(TorchStateMixin, BaseEstimator):
    _torch_module_attributes = ("module_",)

    def fit(self):
        self.module_ = torch.nn.Linear(3, 2)
        return self


def test_pickling_keeps_the_live_module_and_restores_an_equal_one():
    est = _WithModule().fit()
    restored = pickle.loads(pickle.dumps(est))
    assert isinstance(est.module_, torch.nn.Module)  # the original is untouched
    assert isinstance(restored.module_, torch.nn.Linear)
    for p, q in zip(est.module_.parameters(), restored.module_.parameters(), strict=True):
        assert torch.equal(p, q)


def test_seeded_scope_is_reproducible_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with seeded_torch_rng(0):
        a = torch.rand(4)
    with seeded_torch_rng(0):
        b = torch.rand(4)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected_next)  # as if the scopes never ran


def test_seeded_scope_depends_on_the_seed():
    with seeded_torch_rng(0):
        a = torch.rand(4)
    with seeded_torch_rng(np.random.RandomState(1)):
        b = torch.rand(4)
    assert not torch.equal(a, b)
