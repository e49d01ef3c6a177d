"""Band-limited power, MSE and SNR against closed forms and time-domain filtering."""

import numpy as np
import pytest

from skheatmap import to_dataset
from skheatmap.metrics import band_mse, band_power, band_snr


def test_band_power_of_sinusoids_is_half_the_squared_amplitude():
    t = np.arange(1000) / 50.0
    x = 2.0 * np.sin(2 * np.pi * 3 * t) + 1.0 * np.cos(2 * np.pi * 12 * t) + 0.5
    power = band_power(x[np.newaxis], fs=50.0, band=(1, 5))
    assert power[0, 0] == pytest.approx(2.0, rel=1e-12)
    assert band_power(x[np.newaxis], fs=50.0, band=(0, 25))[0, 0] == pytest.approx(
        np.mean(x**2), rel=1e-12
    )


def test_band_power_equals_time_domain_power_of_the_band_passed_signal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 257, 2))  # odd length
    coefficients = np.fft.rfft(x, axis=1)
    freqs = np.fft.rfftfreq(257, d=1 / 8.0)
    coefficients[:, (freqs < 0.5) | (freqs > 2.0)] = 0
    band_passed = np.fft.irfft(coefficients, n=257, axis=1)
    np.testing.assert_allclose(
        band_power(x, fs=8.0, band=(0.5, 2.0)), np.mean(band_passed**2, axis=1), rtol=1e-12
    )


def test_padding_is_excluded():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(100, 2)), rng.normal(size=(60, 2))
    padded = to_dataset([a, b])
    expected = band_power(b[np.newaxis], fs=10.0, band=(1, 3))
    np.testing.assert_allclose(band_power(padded, fs=10.0, band=(1, 3))[1], expected[0])


def test_mse_ignores_out_of_band_error_and_snr_is_exact():
    t = np.arange(800) / 40.0
    clean = np.sin(2 * np.pi * 2 * t)[np.newaxis]
    estimate = 0.9 * clean + np.sin(2 * np.pi * 15 * t)
    assert band_mse(clean, estimate, fs=40.0, band=(1, 4))[0, 0] == pytest.approx(0.01 * 0.5)
    assert band_snr(clean, estimate, fs=40.0, band=(1, 4))[0, 0] == pytest.approx(20.0)


def test_perfect_estimate_has_infinite_snr():
    x = np.random.default_rng(2).normal(size=(1, 64))
    assert np.isinf(band_snr(x, x, fs=8.0, band=(0.1, 2.0))[0, 0])


@pytest.mark.parametrize("band", [(2, 1), (-1, 3)])
def test_bad_band_is_named(band):
    with pytest.raises(ValueError, match="band must be"):
        band_power(np.zeros((1, 10)), fs=8.0, band=band)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="reference has shape"):
        band_mse(np.zeros((1, 10)), np.zeros((1, 11)), fs=8.0, band=(0, 1))


def test_snr_is_plus_infinity_for_an_exact_estimate_of_a_signal_without_band_power():
    silent = np.zeros((1, 32))
    assert band_snr(silent, silent, fs=8.0, band=(0.5, 2.0))[0, 0] == np.inf


def test_snr_is_minus_infinity_for_noise_on_a_signal_without_band_power():
    t = np.arange(32) / 8.0
    noise = np.sin(2 * np.pi * 1.0 * t)[np.newaxis]
    assert band_snr(np.zeros((1, 32)), noise, fs=8.0, band=(0.5, 2.0))[0, 0] == -np.inf
