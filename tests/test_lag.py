"""Soft-lag correlation against a direct O(T·L) loop over lags and overlaps."""

import numpy as np
import pytest
import torch

from skheatmap.lag import (
    lagged_correlation,
    soft_lag_correlation,
    soft_lag_correlation_pairwise,
)


def _direct_rho(a, b, max_lag):
    """ρ(ℓ) of two univariate series, one explicit overlap per lag."""
    T = len(a)
    rho = []
    for lag in range(-max_lag, max_lag + 1):
        t = np.arange(max(0, -lag), min(T, T - lag))
        x, y = a[t], b[t + lag]
        rho.append(x @ y / (np.sqrt(x @ x) * np.sqrt(y @ y)))
    return np.array(rho)


def _direct_soft(a, b, max_lag, beta):
    """Channel-averaged ρ, then (1/β) log Σ exp(βρ) in float64."""
    rho = np.mean([_direct_rho(a[:, c], b[:, c], max_lag) for c in range(a.shape[1])], 0)
    return np.log(np.exp(beta * rho).sum()) / beta


@pytest.fixture(params=["direct", "fft"])
def method(request):
    return request.param


def test_lagged_correlation_equals_direct_loop(method):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 57))
    np.testing.assert_allclose(
        lagged_correlation(a, b, 9, method=method), _direct_rho(a, b, 9), atol=1e-12
    )


def test_soft_lag_equals_direct_loop_multichannel(method):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 40, 3))
    assert soft_lag_correlation(a, b, 6, 5.0, method=method) == pytest.approx(
        _direct_soft(a, b, 6, 5.0), abs=1e-12
    )


def test_fft_and_direct_agree_on_long_series(dtype):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 3, 2000, 2)).astype(dtype)
    fft = lagged_correlation(a, b, 300, method="fft")
    assert fft.dtype == dtype
    np.testing.assert_allclose(
        fft,
        lagged_correlation(a, b, 300, method="direct"),
        atol=1e-5 if dtype == np.float32 else 1e-12,
    )


def test_large_beta_recovers_the_maximum_over_lags():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 64))
    hard = _direct_rho(a, b, 10).max()
    for beta in (1e2, 1e4, 1e6):
        soft = soft_lag_correlation(a, b, 10, beta)
        assert hard <= soft <= hard + np.log(21) / beta + 1e-12
    assert soft_lag_correlation(a, b, 10, np.inf) == pytest.approx(hard, abs=1e-12)


def test_delayed_copy_peaks_at_its_delay():
    t = np.linspace(0, 8, 120)
    a = np.sin(t) + 0.3 * np.sin(5 * t)
    rho = lagged_correlation(a[:-7], a[7:], 10)
    assert int(np.argmax(rho)) - 10 == -7


def test_multichannel_is_the_average_of_channels():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 30, 4))
    per_channel = [lagged_correlation(a[:, c], b[:, c], 5) for c in range(4)]
    np.testing.assert_allclose(lagged_correlation(a, b, 5), np.mean(per_channel, 0), atol=1e-14)


def test_correlation_is_bounded_and_scale_invariant():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 50, 2))
    rho = lagged_correlation(a, b, 20)
    assert np.abs(rho).max() <= 1.0
    np.testing.assert_allclose(lagged_correlation(3.0 * a, 0.5 * b, 20), rho, atol=1e-14)


def test_zero_overlap_energy_gives_zero_correlation():
    a = np.concatenate([np.zeros(10), np.ones(10)])
    rho = lagged_correlation(a, a, 15)
    assert rho[0] == 0.0 and np.isfinite(rho).all()


def test_pairwise_equals_per_pair_calls():
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(3, 25, 2)), rng.normal(size=(4, 25, 2))
    matrix = soft_lag_correlation_pairwise(X, Y, max_lag=4, beta=3.0)
    expected = [[soft_lag_correlation(x, y, 4, 3.0) for y in Y] for x in X]
    np.testing.assert_allclose(matrix, expected, atol=1e-13)
    square = soft_lag_correlation_pairwise(X, max_lag=4, beta=3.0)
    np.testing.assert_allclose(square, square.T, atol=1e-13)


def test_gradcheck_series_and_beta(method):
    rng = np.random.default_rng(7)
    a = torch.tensor(rng.normal(size=(2, 12, 2)), requires_grad=True)
    b = torch.tensor(rng.normal(size=(2, 12, 2)), requires_grad=True)
    beta = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, y, s: soft_lag_correlation(x, y, 4, s, method=method), (a, b, beta)
    )


def test_torch_in_torch_out_numpy_in_numpy_out():
    a = np.sin(np.arange(20.0))
    assert isinstance(soft_lag_correlation(a, a, 3, 1.0), np.floating)
    assert isinstance(soft_lag_correlation(torch.tensor(a), a, 3, 1.0), torch.Tensor)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_lag": 20}, ValueError, "max_lag must satisfy"),
        ({"max_lag": 2.0}, TypeError, "max_lag must be an int"),
        ({"beta": 0.0}, ValueError, "beta must be > 0"),
        ({"method": "fast"}, ValueError, "method must be one of"),
    ],
)
def test_bad_parameters_are_named(kwargs, error, match):
    params = {"max_lag": 3, "beta": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        soft_lag_correlation(
            np.ones(20), np.ones(20), params.pop("max_lag"), params.pop("beta"), **params
        )


def test_bad_shapes_and_nan_are_named():
    with pytest.raises(ValueError, match="same shape"):
        soft_lag_correlation(np.ones(20), np.ones(21), 3, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        soft_lag_correlation(np.full(20, np.nan), np.ones(20), 3, 1.0)
