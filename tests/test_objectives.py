"""Losses and regularisers against closed forms, NumPy loops and finite differences."""

import numpy as np
import pytest
import torch

from skheatmap.objectives import (
    complexity_penalty,
    contrastive_margin_loss,
    energy_floor,
    energy_penalty,
    pair_cross_entropy,
    pair_logits,
    parameter_count,
    regularizer,
    temporal_smoothness,
    transient_sparsity,
)


@pytest.fixture
def trajectories():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 9, 2))
    z[1, 6:] = np.nan  # recording 1 is 6 frames long
    return z


def _loop(z, per_recording):
    values = []
    for x in z:
        x = x[~np.isnan(x).all(axis=1)]
        values.append(per_recording(x))
    return np.mean(values)


def test_temporal_smoothness_matches_a_loop_and_skips_padding(trajectories):
    expected = _loop(trajectories, lambda x: np.sum(np.diff(x, axis=0) ** 2))
    assert temporal_smoothness(trajectories) == pytest.approx(expected, rel=1e-12)


def test_transient_sparsity_matches_a_loop(trajectories):
    expected = _loop(trajectories, lambda x: np.sum(np.abs(np.diff(x, axis=0))))
    assert transient_sparsity(trajectories) == pytest.approx(expected, rel=1e-12)


def test_energy_penalty_matches_a_loop(trajectories):
    expected = _loop(trajectories, lambda x: max(0.0, 2.5 - np.mean(np.sum(x**2, axis=1))))
    assert energy_penalty(trajectories, epsilon=2.5) == pytest.approx(expected, rel=1e-12)


def test_energy_floor_lifts_low_energy_recordings_exactly_to_the_floor(trajectories):
    z = trajectories.copy()
    z[0] *= 0.01
    out = energy_floor(z, epsilon=1.0)
    energies = [np.mean(np.sum(x[~np.isnan(x).all(axis=1)] ** 2, axis=1)) for x in out]
    assert energies[0] == pytest.approx(1.0, rel=1e-12)
    for k in (1, 2):  # already above the floor: unchanged
        np.testing.assert_array_equal(out[k], z[k])


def test_tensor_in_tensor_out_with_gradients():
    z = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    for fn in (temporal_smoothness, transient_sparsity):
        value = fn(z)
        assert isinstance(value, torch.Tensor)
    assert torch.autograd.gradcheck(temporal_smoothness, (z,))
    assert torch.autograd.gradcheck(lambda x: energy_penalty(x, epsilon=10.0), (z,))
    assert torch.autograd.gradcheck(lambda x: energy_floor(x, epsilon=10.0), (z,))


def test_bad_trajectory_shape():
    with pytest.raises(ValueError, match=r"shape \(n, T, L\) or \(T, L\)"):
        temporal_smoothness(np.zeros((1, 2, 3, 4)))


def test_pair_cross_entropy_matches_the_formula():
    rng = np.random.default_rng(1)
    d = rng.random(20) * 4
    labels = rng.integers(0, 2, 20)
    alpha, log_w, log_tau = 1.3, np.log(2.0), np.log(0.5)
    p = 1.0 / (1.0 + np.exp(-(alpha - 2.0 * d / 0.5)))
    expected = -np.sum(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    got = pair_cross_entropy(d, labels, alpha=alpha, log_w=log_w, log_tau=log_tau)
    assert got == pytest.approx(expected, rel=1e-10)


def test_pair_cross_entropy_is_finite_for_huge_distances():
    assert np.isfinite(pair_cross_entropy(np.array([1e6]), np.array([1])))


def test_pair_logits_positive_weight_by_parametrisation():
    logits = pair_logits(np.array([1.0]), alpha=0.0, log_w=-50.0, log_tau=50.0)
    assert logits[0] < 0 and logits[0] > -1e-30


def test_contrastive_margin_loss_matches_the_formula():
    d = np.array([0.3, 0.9, 0.4, 2.0])
    labels = np.array([1, 1, 0, 0])
    expected = 0.3 + 0.9 + 0.5 * (max(0, 1.5 - 0.4) + max(0, 1.5 - 2.0))
    got = contrastive_margin_loss(d, labels, margin=1.5, negative_weight=0.5)
    assert got == pytest.approx(expected, rel=1e-12)


def test_pair_losses_check_labels():
    with pytest.raises(ValueError, match="one label per pair"):
        pair_cross_entropy(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="0 \\(different\\) or 1 \\(same\\)"):
        contrastive_margin_loss(np.zeros(2), np.array([0, 2]))


def test_parameter_count_counts_trainable_only():
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
    module[1].weight.requires_grad_(False)
    assert parameter_count(module) == 4 * 3 + 3 + 1


def test_complexity_penalty_weights_and_validation():
    got = complexity_penalty(n_params=10, flops=1e6, filter_length=4, per_param=0.1,
                             per_flop=1e-6, per_tap=0.5)  # fmt: skip
    assert got == pytest.approx(1.0 + 1.0 + 2.0)
    with pytest.raises(ValueError, match="n_params must be a finite non-negative"):
        complexity_penalty(n_params=-1)


def test_regularizer_is_the_weighted_sum_of_the_penalties(trajectories):
    got = regularizer(trajectories, smoothness=0.3, sparsity=0.2, energy=1.5, epsilon=2.5,
                      complexity=0.01)  # fmt: skip
    expected = (
        0.3 * temporal_smoothness(trajectories)
        + 0.2 * transient_sparsity(trajectories)
        + 1.5 * energy_penalty(trajectories, epsilon=2.5)
        + 0.01
    )
    assert got == pytest.approx(expected, rel=1e-12)
    assert regularizer(trajectories) == 0.0


def test_floored_regularizer_cannot_gain_by_shrinking_below_the_floor(trajectories):
    # below ε the temporal penalties see the floored trajectories, so they are flat
    # in scale there, and only the energy penalty (on z itself) changes as z shrinks
    temporal = {"smoothness": 1.0, "sparsity": 1.0, "epsilon": 1.0, "floor": True}
    small, smaller = 1e-2 * trajectories, 1e-3 * trajectories
    floored = energy_floor(small, epsilon=1.0)
    expected = temporal_smoothness(floored) + transient_sparsity(floored)
    assert regularizer(small, **temporal) == pytest.approx(expected, rel=1e-12)
    assert regularizer(smaller, **temporal) == pytest.approx(expected, rel=1e-12)
    energy = {"energy": 1.0, "epsilon": 1.0, "floor": True}
    assert regularizer(smaller, **energy) > regularizer(small, **energy)


def test_regularizer_gradient_lifts_a_trajectory_below_the_floor():
    z = torch.full((1, 6, 2), 0.01, dtype=torch.float64, requires_grad=True)
    regularizer(z, smoothness=1.0, energy=1.0, epsilon=1.0, floor=True).backward()
    assert (z.grad < 0).all()  # a descent step increases every value, so the energy


def test_regularizer_refuses_negative_weights(trajectories):
    with pytest.raises(ValueError, match="sparsity must be >= 0, got -1.0"):
        regularizer(trajectories, sparsity=-1.0)
