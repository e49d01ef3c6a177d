"""Synthetic thermal faces and nonlinear-ICA benchmarks: shapes, determinism, ground truth."""

import numpy as np
import pytest
from sklearn.decomposition import FastICA

from skheatmap import lengths_of
from skheatmap.datasets import (
    REGIONS,
    make_icebeem_benchmark,
    make_ivae_benchmark,
    make_pcl_benchmark,
    make_tcl_benchmark,
    make_thermal_faces,
    well_conditioned_matrix,
)

SMALL = dict(n_subjects=3, n_segments=2, n_frames=64, frame_shape=(16, 16))


@pytest.fixture(scope="module")
def faces():
    return make_thermal_faces(n_subjects=4, n_segments=3, n_frames=128, random_state=0)


def test_shapes_and_labels(faces):
    n = 12
    assert faces.X.shape == faces.X_clean.shape == (n, 128, 32, 32)
    assert faces.sources.shape == (n, 128, 3)
    np.testing.assert_array_equal(faces.y, np.tile(np.arange(3), 4))
    np.testing.assert_array_equal(faces.groups, np.repeat(np.arange(4), 3))
    assert all(faces.region_masks[r].shape == (n, 32, 32) for r in REGIONS)


def test_same_seed_same_data_other_seed_other_data():
    a = make_thermal_faces(**SMALL, random_state=3)
    b = make_thermal_faces(**SMALL, random_state=3)
    c = make_thermal_faces(**SMALL, random_state=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.events["onset"], b.events["onset"])
    assert not np.allclose(a.X, c.X)


def test_noise_is_white_netd_plus_fixed_pattern(faces):
    noise = faces.X - faces.X_clean
    pattern = noise.mean(axis=1)  # time-constant part
    white = noise - pattern[:, np.newaxis]
    # white noise: std NETD (0.05 °C), zero mean, no correlation between frames
    assert white.std() == pytest.approx(0.05, rel=0.02)
    lag1 = np.mean(white[:, 1:] * white[:, :-1]) / white.var()
    assert abs(lag1) < 0.01
    # fixed pattern: std 0.03 °C, shared by all recordings of a subject
    assert pattern.std() == pytest.approx(0.03, rel=0.15)
    # estimates from 128 frames differ by N(0, sqrt(2) * 0.05 / sqrt(128)); allow 5 sd
    np.testing.assert_allclose(pattern[0], pattern[1], atol=5 * np.sqrt(2) * 0.05 / np.sqrt(128))


def test_face_is_warmer_than_background_and_nose_cooler_than_eyes(faces):
    frame = faces.X_clean[0, 0]
    face = faces.face_mask[0]
    assert frame[face].mean() - frame[~face].mean() > 5.0
    eyes = frame[faces.region_masks["periorbital"][0]].mean()
    nose = frame[faces.region_masks["nose"][0]].mean()
    assert eyes - nose > 1.0
    assert 30.0 < frame[face].mean() < 37.0


def test_same_segment_sources_are_lagged_scaled_copies(faces):
    params = faces.params
    time = np.arange(128) / faces.fs
    for i in range(len(faces.y)):
        subject, segment = faces.groups[i], faces.y[i]
        for l in range(3):
            expected = params["gains"][subject, l] * np.interp(
                time + params["lags"][i], params["prototype_time"],
                params["source_prototypes"][segment, :, l],
            )  # fmt: skip
            np.testing.assert_allclose(faces.sources[i, :, l], expected)


def test_same_segment_sources_correlate_at_their_lag_difference(faces):
    fs = faces.fs
    a, b = 0, 3  # subjects 0 and 1, segment 0
    shift = int(round((faces.params["lags"][b] - faces.params["lags"][a]) * fs))
    x, y = faces.sources[a, :, 1], faces.sources[b, :, 1]
    lags = np.arange(-10, 11)
    corr = [np.corrcoef(x[max(0, k) : 128 + min(0, k)], y[max(0, -k) : 128 + min(0, -k)])[0, 1]
            for k in lags]  # fmt: skip
    best = lags[int(np.argmax(corr))]
    assert abs(best - shift) <= 1
    assert max(corr) > 0.97


def test_sources_reach_their_region(faces):
    # the nose region mean tracks the nose source (cooling: negative correlation)
    nose = faces.region_masks["nose"][0]
    signal = faces.X_clean[0][:, nose].mean(axis=1)
    assert np.corrcoef(signal, faces.sources[0, :, 0])[0, 1] < -0.6


def test_events_lie_inside_their_recordings(faces):
    ev = faces.events
    assert len(ev["onset"]) > 0
    assert (ev["onset"] >= 0).all()
    assert (ev["onset"] + ev["duration"] <= faces.lengths[ev["recording"]]).all()
    assert ((ev["duration_s"] >= 0.5 - 1 / faces.fs) & (ev["duration_s"] <= 2.0)).all()
    assert set(ev["region"]) <= set(REGIONS)
    np.testing.assert_allclose(ev["onset_s"], ev["onset"] / faces.fs)


def test_event_is_a_raised_cosine_bump_in_its_region():
    still = dict(response_amplitude=0.0, head_motion=0.0, breathing_amplitude=0.0, drift_std=0.0)
    faces = make_thermal_faces(**SMALL, **still, events_per_recording=1.0, random_state=1)
    ev = {k: v[0] for k, v in faces.events.items()}
    region = faces.region_masks[ev["region"]][ev["recording"]]
    outside = faces.face_mask[ev["recording"]] & ~region
    video = faces.X_clean[ev["recording"]]
    change = video - video[:1]
    # the scene is still, so the only change is the bump, largest inside the region
    start, stop = ev["onset"], ev["onset"] + ev["duration"]
    assert np.abs(change[:start]).max() == 0 and np.abs(change[stop:]).max() == 0
    inside = change[:, region].mean(axis=1)
    assert np.sign(inside[start:stop]).tolist() == [np.sign(ev["amplitude"])] * ev["duration"]
    assert np.abs(inside).max() > np.abs(change[:, outside].mean(axis=1)).max()
    middle = start + ev["duration"] // 2
    assert np.argmax(np.abs(inside)) in (middle - 1, middle)


def test_no_events_when_rate_is_zero():
    faces = make_thermal_faces(**SMALL, events_per_recording=0.0, random_state=1)
    assert len(faces.events["onset"]) == 0


def test_breathing_oscillates_at_the_drawn_frequency():
    faces = make_thermal_faces(n_subjects=1, n_segments=1, n_frames=512, response_amplitude=0.0,
                               events_per_recording=0.0, head_motion=0.0, drift_std=0.0,
                               noise_std=0.0, random_state=0)  # fmt: skip
    trace = faces.X_clean[0].reshape(512, -1)
    trace = trace[:, np.argmax(trace.std(axis=0))]
    spectrum = np.abs(np.fft.rfft(trace - trace.mean()))
    freqs = np.fft.rfftfreq(512, d=1 / faces.fs)
    assert abs(freqs[np.argmax(spectrum)] - faces.params["breathing_hz"][0]) < 2 * freqs[1]


def test_variable_lengths_are_nan_padded():
    faces = make_thermal_faces(**SMALL, min_length=40, random_state=0)
    np.testing.assert_array_equal(lengths_of(faces.X), faces.lengths)
    assert (faces.lengths >= 40).all() and (faces.lengths <= 64).all()
    for i, length in enumerate(faces.lengths):
        assert np.isnan(faces.sources[i, length:]).all()
        assert np.isfinite(faces.sources[i, :length]).all()


def test_dead_pixels_are_nan_in_x_only():
    faces = make_thermal_faces(**SMALL, dead_pixel_fraction=0.05, random_state=0)
    dead = np.isnan(faces.X)
    assert np.isfinite(faces.X_clean).all()
    # dead pixels are the same in every frame of a subject, about 5 % of them
    np.testing.assert_array_equal(dead[0], np.broadcast_to(dead[0, 0], dead[0].shape))
    np.testing.assert_array_equal(dead[0], dead[1])
    assert dead[0, 0].sum() == round(0.05 * 256)


def test_dtype_float32():
    assert make_thermal_faces(**SMALL, dtype=np.float32, random_state=0).X.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frame_shape": (4, 32)}, "frame_shape"),
        ({"n_sources": 6}, "n_sources"),
        ({"fs": 0.5}, "fs"),
        ({"min_length": 500}, "min_length=500 exceeds n_frames"),
        ({"dtype": np.int32}, "floating dtype"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_thermal_faces(**kwargs)


def test_positional_arguments_are_refused():
    with pytest.raises(TypeError):
        make_thermal_faces(3)


# ---------------------------------------------------------------- nonlinear-ICA benchmarks


def test_well_conditioned_matrix_beats_the_reference_quartile():
    rng = np.random.default_rng(0)
    A = well_conditioned_matrix(rng, 6, 6, n_reference=2000)
    reference = np.random.default_rng(1).uniform(-1, 1, size=(2000, 6, 6))
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.linalg.cond(A) <= np.percentile(np.linalg.cond(reference), 30)
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0)


def test_tcl_sources_are_laplace_modulated_per_segment():
    data = make_tcl_benchmark(n_sources=4, n_segments=8, segment_length=4000, random_state=0)
    for k in range(8):
        seg = data.sources[data.segments == k]
        np.testing.assert_allclose(seg.std(axis=0), data.modulation[k], rtol=0.08, atol=0.01)
    # Laplace: excess kurtosis 3
    z = data.sources / data.modulation[data.segments]
    kurt = np.mean(z**4, axis=0) / np.mean(z**2, axis=0) ** 2 - 3
    np.testing.assert_allclose(kurt, 3.0, atol=0.6)


def test_tcl_one_layer_is_linear_and_invertible():
    data = make_tcl_benchmark(n_sources=3, n_segments=4, segment_length=50, n_layers=1,
                              random_state=0)  # fmt: skip
    np.testing.assert_allclose(data.X, data.sources @ data.mixing[0].T)


def test_tcl_held_out_shares_mixing_not_noise():
    data = make_tcl_benchmark(n_sources=3, n_segments=4, segment_length=50, random_state=0)
    assert not np.allclose(data.sources, data.sources_test)
    # same mixing: the noiseless map sends the test sources to the test observations
    x = data.sources_test @ data.mixing[0].T
    for A in data.mixing[1:]:
        x = np.where(x > 0, x, 0.2 * x) @ A.T
    np.testing.assert_allclose(x, data.X_test)


def test_tcl_undercomplete_shape_and_rank():
    data = make_tcl_benchmark(n_sources=5, n_observed=10, n_segments=4, segment_length=50,
                              n_layers=1, random_state=0)  # fmt: skip
    assert data.X.shape == (200, 10)
    assert np.linalg.matrix_rank(data.X) == 5


def test_tcl_rejects_overcomplete():
    with pytest.raises(ValueError, match="n_observed=2 is smaller than n_sources=3"):
        make_tcl_benchmark(n_sources=3, n_observed=2)


def test_changing_segment_length_keeps_the_mixing():
    # explicit per-component streams: the mixing does not depend on how many samples are drawn
    a = make_tcl_benchmark(n_sources=3, n_segments=4, segment_length=10, random_state=0)
    b = make_tcl_benchmark(n_sources=3, n_segments=4, segment_length=99, random_state=0)
    for A, B in zip(a.mixing, b.mixing, strict=True):
        np.testing.assert_array_equal(A, B)
    np.testing.assert_array_equal(a.modulation, b.modulation)


def test_pcl_sources_are_standardised_ar1():
    data = make_pcl_benchmark(n_sources=3, n_samples=50_000, random_state=0)
    s = data.sources
    np.testing.assert_allclose(s.std(axis=0), 1.0, atol=0.03)
    lag1 = np.mean(s[1:] * s[:-1], axis=0)
    np.testing.assert_allclose(lag1, 0.7, atol=0.03)


def test_linear_pcl_is_solved_by_fastica():
    data = make_pcl_benchmark(n_sources=3, n_samples=20_000, n_layers=1, random_state=0)
    est = FastICA(n_components=3, random_state=0, whiten="unit-variance").fit_transform(data.X)
    corr = np.abs(np.corrcoef(est.T, data.sources.T)[:3, 3:])
    assert corr.max(axis=1).min() > 0.99


def test_ivae_segment_standard_deviations():
    data = make_ivae_benchmark(n_segments=4, segment_length=5000, random_state=0)
    for k in range(4):
        seg = data.sources[data.segments == k]
        np.testing.assert_allclose(seg.std(axis=0), data.stds[k], rtol=0.05)
    assert ((data.stds >= 0.5) & (data.stds <= 3.0)).all()


def test_ivae_mixing_formula():
    data = make_ivae_benchmark(n_segments=2, segment_length=10, random_state=0)
    A = data.mixing[0]

    def f(x):
        return np.tanh(x) + 0.1 * x

    np.testing.assert_allclose(data.X, f(f(data.sources @ A) @ A) @ A)


def test_ivae_prior_means():
    data = make_ivae_benchmark(n_segments=3, segment_length=4000, prior_means=True,
                               random_state=0)  # fmt: skip
    for k in range(3):
        seg = data.sources[data.segments == k]
        np.testing.assert_allclose(seg.mean(axis=0), data.means[k], atol=0.15)


def test_icebeem_layers_are_orthogonal_and_sources_standardised():
    data = make_icebeem_benchmark(n_segments=3, segment_length=200, n_layers=3, random_state=0)
    for Q in data.mixing:
        np.testing.assert_allclose(Q @ Q.T, np.eye(5), atol=1e-12)
    assert len(data.mixing) == 2
    x = data.sources
    for Q in data.mixing:
        x = np.where(x > 0, x, 0.2 * x) @ Q
    np.testing.assert_allclose(x, data.X)


@pytest.mark.parametrize("n_frames", [8, 24, 64])
def test_short_recordings_stay_at_skin_temperatures(n_frames):
    # slow drift and head motion over a window shorter than their timescale
    # are a small offset, not noise rescaled to their size
    faces = make_thermal_faces(n_subjects=3, n_segments=2, n_frames=n_frames, random_state=0)
    assert 15.0 < np.nanmin(faces.X) and np.nanmax(faces.X) < 42.0
