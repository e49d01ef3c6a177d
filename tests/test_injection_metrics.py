"""Injected transients and their recovery, against closed forms for known filters."""

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skheatmap import HeatmapEmbedder, to_dataset
from skheatmap.metrics import (
    band_power,
    detect_transients,
    event_detection_scores,
    inject_transients,
    injection_recall_scorer,
    injection_recovery,
)

FS, BAND = 8.0, (0.5, 2.0)


def _noise(n=3, T=64, K=2, seed=0, scale=1.0):
    return np.random.default_rng(seed).normal(scale=scale, size=(n, T, K))


def _band_stop(x):
    """Remove the Fourier bins of BAND from each recording (what a bad denoiser does)."""
    coefficients = np.fft.rfft(x, axis=1)
    freqs = np.fft.rfftfreq(x.shape[1], d=1 / FS)
    coefficients[:, (freqs >= BAND[0]) & (freqs <= BAND[1])] = 0
    return np.fft.irfft(coefficients, n=x.shape[1], axis=1)


# ------------------------------------------------------------------ injection


def test_injected_recordings_are_the_recordings_plus_the_injection_padding_kept():
    X = to_dataset([_noise(1, 64)[0], _noise(1, 40, seed=1)[0]])
    injected = inject_transients(X, amplitude=0.7, fs=FS, random_state=0)
    np.testing.assert_array_equal(np.isnan(injected.X), np.isnan(X))
    finite = ~np.isnan(X)
    np.testing.assert_allclose(injected.X[finite] - X[finite], injected.injection[finite])
    assert not injected.injection[1, 40:].any()


def test_each_event_is_a_raised_cosine_bump_in_its_own_slot():
    injected = inject_transients(np.zeros((2, 60, 1)), amplitude=-0.4, fs=FS, n_events=3,
                                 duration_s=0.625, random_state=1)  # fmt: skip
    events, d = injected.events, 5  # 0.625 s at 8 Hz
    expected = np.zeros((2, 60, 1))
    for i, onset, k in zip(events["recording"], events["onset"], [0, 1, 2] * 2, strict=True):
        assert 20 * k <= onset <= 20 * (k + 1) - d  # slots of 60 // 3 frames
        expected[i, onset : onset + d, 0] = -0.4 * np.sin(np.pi * (np.arange(d) + 0.5) / d) ** 2
    np.testing.assert_allclose(injected.injection, expected, atol=1e-15)
    assert events["recording"].tolist() == [0, 0, 0, 1, 1, 1]
    assert events["duration"].tolist() == [d] * 6
    np.testing.assert_allclose(events["onset_s"], events["onset"] / FS)
    assert injected.injection.min() == pytest.approx(-0.4)  # odd d: the peak is reached


def test_footprint_weights_each_pixel_per_recording():
    masks = np.zeros((2, 3, 4))
    masks[0, 0, 0], masks[1, 2, 3] = 1.0, 0.5
    injected = inject_transients(np.zeros((2, 40, 3, 4)), amplitude=1.0, fs=FS,
                                 footprint=masks, random_state=0)  # fmt: skip
    peak = injected.injection.max(axis=1)
    np.testing.assert_allclose(peak, masks * peak.max())


def test_the_same_random_state_draws_the_same_onsets():
    X = _noise()
    first, second = (inject_transients(X, amplitude=1.0, fs=FS, random_state=3) for _ in "ab")
    np.testing.assert_array_equal(first.events["onset"], second.events["onset"])


def test_a_footprint_of_another_frame_shape_is_refused():
    with pytest.raises(ValueError, match=r"footprint must have the frame shape \(2,\)"):
        inject_transients(_noise(), amplitude=1.0, fs=FS, footprint=np.ones(3))


# ------------------------------------------------------------------ recovery


def test_identity_recovers_the_injection_exactly():
    X = _noise()
    injected = inject_transients(X, amplitude=1.0, fs=FS, random_state=0)
    scores = injection_recovery(FunctionTransformer(), X, injected.X, fs=FS, band=BAND)
    assert np.all(scores["snr_db"] == np.inf)
    assert np.all(scores["mse"] == 0)


def test_a_transformer_that_removes_the_band_loses_the_whole_injection():
    X = _noise()
    injected = inject_transients(X, amplitude=1.0, fs=FS, random_state=0)
    scores = injection_recovery(FunctionTransformer(_band_stop), X, injected.X, fs=FS, band=BAND)
    np.testing.assert_allclose(scores["snr_db"], 0.0, atol=1e-9)
    np.testing.assert_allclose(scores["mse"], band_power(injected.injection, FS, BAND), rtol=1e-9)


def test_a_two_tap_average_loses_the_analytic_share_of_a_sinusoid():
    # y_t = (x_t + x_{t-1}) / 2 has H(f) = (1 + e^{-iω}) / 2, ω = 2πf/fs, so
    # |H - 1|² = sin²(πf/fs): a unit sinusoid at f leaves an error of power sin²(πf/fs) / 2
    X = _noise(T=64)
    f0 = 1.0  # on a Fourier bin of 64 frames at 8 Hz, inside BAND
    X_injected = X + np.sin(2 * np.pi * f0 * np.arange(64) / FS)[None, :, None]
    average = FunctionTransformer(lambda x: (x + np.roll(x, 1, axis=1)) / 2)  # circular
    scores = injection_recovery(average, X, X_injected, fs=FS, band=BAND)
    loss = np.sin(np.pi * f0 / FS) ** 2
    np.testing.assert_allclose(scores["mse"], loss / 2, rtol=1e-9)
    np.testing.assert_allclose(scores["snr_db"], -10 * np.log10(loss), rtol=1e-9)


def test_the_target_is_the_injection_as_the_reference_stages_see_it():
    X = _noise()
    injected = inject_transients(X, amplitude=1.0, fs=FS, random_state=0)
    pipeline = make_pipeline(FunctionTransformer(lambda x: 2 * x),
                             FunctionTransformer(lambda x: 0.5 * x)).fit(X)  # fmt: skip
    scores = injection_recovery(pipeline, X, injected.X, fs=FS, band=BAND, reference=pipeline[:-1])
    # target 2s, recovered s: the error -s has a quarter of the target's power
    np.testing.assert_allclose(scores["snr_db"], 10 * np.log10(4), rtol=1e-9)


def test_a_reference_that_ignores_dead_pixels_scores_recordings_that_have_them():
    X = np.random.default_rng(0).normal(30.0, 0.1, size=(2, 40, 6, 6))
    X[:, :, 2, 3] = np.nan
    injected = inject_transients(X, amplitude=0.5, fs=FS, random_state=0)
    embedder = HeatmapEmbedder("moments").fit(X)
    with pytest.raises(ValueError, match="recording 0 has NaN at frame 0, inside"):
        injection_recovery(FunctionTransformer(), X, injected.X, fs=FS, band=BAND)
    scores = injection_recovery(embedder, X, injected.X, fs=FS, band=BAND, reference=embedder)
    assert np.all(scores["snr_db"] == np.inf)


def test_outputs_of_different_shapes_are_refused():
    X = _noise()
    injected = inject_transients(X, amplitude=1.0, fs=FS, random_state=0)
    first_channel = FunctionTransformer(lambda x: x[:, :, :1])
    with pytest.raises(ValueError, match="pass as reference the stages"):
        injection_recovery(first_channel, X, injected.X, fs=FS, band=BAND)


# ------------------------------------------------------------------ recall scorer


def test_recall_scorer_is_the_recall_of_the_injected_events_found_in_the_output():
    X = _noise(n=4, T=80, scale=0.1)
    scorer = injection_recall_scorer(fs=4.0, amplitude=2.0, duration_s=1.5, tolerance_s=0.5,
                                     detector={"threshold": 6.0}, random_state=2)  # fmt: skip
    identity = FunctionTransformer().fit(X)
    injected = inject_transients(X, amplitude=2.0, fs=4.0, duration_s=1.5, random_state=2)
    found = detect_transients(injected.X, 4.0, threshold=6.0)
    expected = event_detection_scores(injected.events, found, tolerance_s=0.5, fs=4.0)
    assert expected["recall"] == 1.0
    assert scorer(identity, X) == expected["recall"]
    assert scorer(FunctionTransformer(np.zeros_like).fit(X), X) == 0.0  # flat: nothing fires


def test_recall_scorer_drives_cross_validation():
    X = _noise(n=6, T=80, scale=0.1)
    scorer = injection_recall_scorer(fs=4.0, amplitude=2.0, duration_s=1.5)
    scores = cross_val_score(FunctionTransformer(), X, scoring=scorer, cv=3)
    np.testing.assert_array_equal(scores, [1.0, 1.0, 1.0])


def test_recall_scorer_refuses_outputs_on_another_time_axis():
    X = _noise(n=4, T=80, scale=0.1)
    scorer = injection_recall_scorer(fs=4.0, amplitude=2.0, duration_s=1.5)
    every_other_frame = FunctionTransformer(lambda x: x[:, ::2]).fit(X)
    with pytest.raises(ValueError, match="80 frames went in but 40 came out"):
        scorer(every_other_frame, X)


def test_recall_scorer_validates_its_parameters_at_creation():
    with pytest.raises(ValueError, match="'amplitude' parameter"):
        injection_recall_scorer(fs=4.0, amplitude=np.nan)
