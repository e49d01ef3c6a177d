"""Bad input: every public estimator and function gives a clear error or a
documented, tested result; none crashes inside numba/torch or returns NaN silently.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, clone
from test_determinism import ESTIMATORS, data_fixture  # noqa: F401 - fixture

import skheatmap._validation as validation
from skheatmap import HeatmapEmbedder, WaveletBandReconstructor, lengths_of, to_dataset
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.ica import NonlinearICAEncoder
from skheatmap.lag import lagged_correlation, soft_lag_correlation
from skheatmap.metrics import (
    band_mse,
    band_power,
    band_snr,
    detect_transients,
    event_detection_scores,
    expected_calibration_error,
    inject_transients,
    match_events,
)
from skheatmap.objectives import contrastive_margin_loss, energy_penalty
from skheatmap.pairs import (
    balanced_batches,
    label_pairs,
    semi_hard_negatives,
    validate_pairs,
)
from skheatmap.softdtw import soft_dtw, soft_dtw_alignment, soft_dtw_divergence, soft_dtw_pairwise

torch = pytest.importorskip("torch")

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOFT_DTW = [soft_dtw, soft_dtw_divergence, soft_dtw_alignment]
# one representative per estimator class (the catalogue of test_determinism)
CLASSES = ["embedder-percentiles", "wavelet-swt", "ica-pcl", "classifier"]


def _input(name, data):
    return data[ESTIMATORS[name][1]]


def _fresh(name):
    estimator = clone(ESTIMATORS[name][0])
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=0)
    return estimator


def _fit(name, X, y):
    return _fresh(name).fit(X, y)


def _apply(estimator, X):
    if isinstance(estimator, SoftDTWPairClassifier):
        return estimator.encode(X)
    return estimator.transform(X)


# ------------------------------------------------------------- every estimator


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("shape", [(6,), (2, 3, 4, 5, 6)], ids=["1-D", "5-D"])
def test_wrong_number_of_dimensions_names_the_accepted_layouts(name, shape, data):
    y = _input(name, data)[1]
    with pytest.raises(ValueError, match=r"expects .*input .*got an array with \d dimension"):
        _fresh(name).fit(np.ones(shape), y)


@pytest.mark.parametrize("name", CLASSES)
def test_object_array_of_strings_is_rejected(name, data):
    X, y = _input(name, data)
    with pytest.raises(ValueError, match="could not convert string to float"):
        _fresh(name).fit(np.full(X.shape, "hot", dtype=object), y)


@pytest.mark.parametrize("name", CLASSES)
def test_object_array_of_numbers_is_used_as_float64(name, data):
    # sklearn's convention, documented by check_array: numeric object arrays convert
    X, y = _input(name, data)
    expected = _apply(_fit(name, X, y), X)
    as_objects = _fit(name, X.astype(object), y)
    np.testing.assert_array_equal(_apply(as_objects, X.astype(object)), expected)


@pytest.mark.parametrize("name", CLASSES)
def test_complex_input_is_rejected_with_a_short_message(name, data):
    X, y = _input(name, data)
    with pytest.raises(ValueError, match="Complex data not supported") as error:
        _fresh(name).fit(X.astype(complex), y)
    assert len(str(error.value)) < 300  # not the whole array, as sklearn prints it


@pytest.mark.parametrize("sign", [1, -1], ids=["+inf", "-inf"])
@pytest.mark.parametrize("name", CLASSES)
def test_infinity_is_rejected_in_fit_and_in_transform(name, sign, data):
    X, y = _input(name, data)
    bad = X.copy()
    bad[1, 3].flat[0] = sign * np.inf
    with pytest.raises(ValueError, match="infinity"):
        _fresh(name).fit(bad, y)
    with pytest.raises(ValueError, match="infinity"):
        _apply(_fit(name, X, y), bad)


@pytest.mark.parametrize("name", CLASSES)
def test_zero_length_recordings_are_rejected(name, data):
    X, y = _input(name, data)
    with pytest.raises(ValueError, match="at least one frame"):
        _fresh(name).fit(X[:, :0], y)


@pytest.mark.parametrize("name", CLASSES)
def test_zero_recordings_are_rejected(name, data):
    X, y = _input(name, data)
    with pytest.raises(ValueError, match="0 sample"):
        _fresh(name).fit(X[:0], None if y is None else y[:0])


@pytest.mark.parametrize("name", CLASSES)
def test_frame_size_mismatch_between_fit_and_transform(name, data):
    X, y = _input(name, data)
    fitted = _fit(name, X, y)
    with pytest.raises(ValueError, match=r"X has \d+ features, but \w+ is expecting"):
        _apply(fitted, X[..., :-1])


def test_transposed_frames_are_rejected_although_the_size_matches(data):
    X = data["heatmaps"][0][..., :6]  # 8 x 6 frames
    embedder = HeatmapEmbedder(method="moments").fit(X)
    with pytest.raises(ValueError, match=r"frames of shape \(6, 8\).*fitted on .*\(8, 6\)"):
        embedder.transform(X.reshape(*X.shape[:2], 6, 8))


# ---------------------------------------------------------------- NaN patterns


@st.composite
def heatmaps_with_gaps(draw):
    """Recordings with dead pixels, dropped frames and trailing padding."""
    n, T = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(33.0, 1.0, size=(n, T, 3, 3))
    X[rng.random(X.shape) < draw(st.sampled_from([0.0, 0.3, 0.9]))] = np.nan  # dead pixels
    X[rng.random((n, T)) < draw(st.sampled_from([0.0, 0.3]))] = np.nan  # dropped frames
    for i, length in enumerate(rng.integers(0, T + 1, size=n)):
        X[i, length:] = np.nan  # padding (a whole recording when length is 0)
    return X


@FEW
@given(heatmaps_with_gaps())
def test_percentiles_ignore_dead_pixels_and_are_nan_exactly_on_empty_frames(X):
    embedder = HeatmapEmbedder(percentiles=(10, 50, 90)).fit(np.ones((1, 1, 3, 3)))
    frames = X.reshape(*X.shape[:2], -1)
    empty = np.isnan(frames).all(axis=2)
    dropped = empty & (np.arange(X.shape[1]) < lengths_of(X)[:, None])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = embedder.transform(X)
    # a frame without data inside a recording is reported; padding is not
    assert any("dropped frames" in str(w.message) for w in caught) == dropped.any()
    assert np.array_equal(np.isnan(out).all(axis=2), empty)
    assert not np.isnan(out[~empty]).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN slice, for the oracle only
        expected = np.nanpercentile(frames, [10, 50, 90], axis=2).transpose(1, 2, 0)
    np.testing.assert_allclose(out[~empty], expected[~empty], rtol=1e-12)


@FEW
@given(st.lists(st.integers(0, 40), min_size=1, max_size=4), st.integers(0, 2**16))
def test_wavelet_output_is_nan_exactly_on_padding_frames(lengths, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(len(lengths), 40, 2))
    for i, length in enumerate(lengths):
        X[i, length:] = np.nan
    wavelet = WaveletBandReconstructor(wavelet="haar", level=1).fit(np.zeros((1, 8, 2)))
    if any(0 < length < 2 for length in lengths):
        with pytest.raises(ValueError, match="too short for level=1"):
            wavelet.transform(X)
        return
    out = wavelet.transform(X)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(X))


def test_wavelet_rejects_nan_inside_a_recording_naming_where():
    X = np.random.default_rng(0).normal(size=(2, 32, 3))
    X[1, 7, 2] = np.nan
    wavelet = WaveletBandReconstructor(wavelet="db2", level=2).fit(X[:1])
    with pytest.raises(ValueError, match="Recording 1 has NaN at frame 7, inside the recording"):
        wavelet.transform(X)


def test_wavelet_recordings_too_short_for_the_level_name_the_minimum():
    with pytest.raises(ValueError, match=r"too short for level=3 .*needs >= \d+ frames"):
        WaveletBandReconstructor(wavelet="db4", level=3).fit(np.zeros((2, 12, 1)))


def test_encoder_output_is_nan_on_frames_missing_in_the_input(data):
    X = data["sources"][0].copy()
    encoder = _fit("ica-pcl", X, None)
    X[0, 5, 1] = np.nan  # a dead channel value
    X[1, 150:] = np.nan  # padding
    Z = encoder.transform(X)
    missing = np.isnan(X).any(axis=2)
    np.testing.assert_array_equal(np.isnan(Z).any(axis=2), missing)
    assert not np.isnan(Z[~missing]).any()


def test_classifier_rejects_an_all_nan_recording(data):
    X, y = data["channels"]
    X = X.copy()
    X[2] = np.nan
    with pytest.raises(ValueError, match="no finite frame"):
        _fresh("classifier").fit(X, y)


def test_classifier_rejects_nan_inside_a_recording(data):
    X, y = data["channels"]
    X = X.copy()
    X[2, 4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN .*(trailing|impute)"):
        _fresh("classifier").fit(X, y)


# ---------------------------------------------------- constant and degenerate data


def test_eigenfaces_of_identical_frames_are_refused():
    with pytest.raises(ValueError, match="all identical inside the mask"):
        HeatmapEmbedder(method="eigenfaces", n_components=2).fit(np.full((2, 5, 4, 4), 30.0))


def test_percentiles_of_constant_frames_are_the_constant():
    out = HeatmapEmbedder(percentiles=(5, 95)).fit_transform(np.full((2, 5, 4, 4), 30.0))
    np.testing.assert_array_equal(out, 30.0)


def test_wavelet_details_of_a_constant_series_are_zero():
    X = np.full((1, 32, 2), 7.0)
    out = WaveletBandReconstructor(wavelet="db2", level=2, keep=["d1", "d2"]).fit_transform(X)
    np.testing.assert_allclose(out, 0.0, atol=1e-12)


def test_encoder_rejects_constant_input():
    with pytest.raises(ValueError, match="no variance"):
        NonlinearICAEncoder(max_epochs=1, random_state=0).fit(np.ones((2, 30, 3)))


@pytest.mark.parametrize("n_components", [3, 2])
def test_encoder_accepts_l_at_most_k(n_components, data):
    X = data["sources"][0]
    encoder = clone(ESTIMATORS["ica-pcl"][0]).set_params(n_components=n_components)
    assert encoder.fit(X).transform(X).shape == (*X.shape[:2], n_components)


def test_encoder_rejects_l_greater_than_k(data):
    encoder = clone(ESTIMATORS["ica-pcl"][0]).set_params(n_components=4)
    with pytest.raises(ValueError, match=r"n_components=4 exceeds the 3 channels"):
        encoder.fit(data["sources"][0])


def test_tcl_with_a_single_segment_label_is_refused(data):
    X = data["sources"][0]
    with pytest.raises(ValueError, match="needs at least 2"):
        _fresh("ica-tcl").fit(X, np.zeros(X.shape[0]))


# ------------------------------------------------------------- gamma, beta <= 0


@pytest.mark.parametrize("gamma", [0.0, -1.0, np.nan, np.inf])
@pytest.mark.parametrize("function", SOFT_DTW, ids=lambda f: f.__name__)
def test_soft_dtw_gamma_must_be_finite_and_positive(function, gamma):
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match=f"gamma must be a finite float > 0, got {gamma}"):
        function(x, x, gamma=gamma)


@pytest.mark.parametrize("gamma", [0.0, -0.5])
def test_classifier_gamma_must_be_positive(gamma, data):
    with pytest.raises(ValueError, match="'gamma' parameter .* must be a float in the range"):
        SoftDTWPairClassifier(gamma=gamma).fit(*data["channels"])


@pytest.mark.parametrize("beta", [0.0, -1.0, np.nan])
def test_soft_lag_beta_must_be_positive(beta):
    a = np.arange(10.0)
    with pytest.raises(ValueError, match="beta must be > 0"):
        soft_lag_correlation(a, a, 2, beta)


# ------------------------------------------------------------------- soft-DTW


@pytest.mark.parametrize("function", SOFT_DTW, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_soft_dtw_rejects_infinity(function, value):
    x = np.zeros((6, 2))
    x[3, 1] = value
    with pytest.raises(ValueError, match="x contains infinity"):
        function(x, np.zeros((4, 2)))


@pytest.mark.parametrize("function", SOFT_DTW, ids=lambda f: f.__name__)
def test_soft_dtw_rejects_empty_series(function):
    with pytest.raises(ValueError, match=r"x has shape \(1, 0, 2\)"):
        function(np.zeros((0, 2)), np.zeros((4, 2)))


def _soft_dtw_recursion(a, b, gamma):
    """Cuturi & Blondel's recursion on squared Euclidean costs, cell by cell."""
    R = np.full((len(a) + 1, len(b) + 1), np.inf)
    R[0, 0] = 0.0
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            previous = np.array([R[i - 1, j - 1], R[i - 1, j], R[i, j - 1]])
            soft_min = -gamma * logsumexp(-previous / gamma)
            R[i, j] = np.sum((a[i - 1] - b[j - 1]) ** 2) + soft_min
    return R[-1, -1]


@FEW
@given(st.lists(st.integers(1, 8), min_size=2, max_size=4), st.integers(0, 2**16))
def test_soft_dtw_pairwise_of_padded_series_equals_the_unpadded_values(lengths, seed):
    rng = np.random.default_rng(seed)
    series = [rng.normal(size=(length, 2)) for length in lengths]
    X = np.full((len(lengths), 8, 2), np.nan)
    for i, s in enumerate(series):
        X[i, : len(s)] = s
    D = soft_dtw_pairwise(X, gamma=0.5, divergence=False)
    expected = [[_soft_dtw_recursion(a, b, gamma=0.5) for b in series] for a in series]
    np.testing.assert_allclose(D, expected, rtol=1e-10, atol=1e-12)


def test_soft_dtw_pairwise_rejects_a_dropped_frame_inside_a_series():
    X = np.random.default_rng(0).normal(size=(3, 8, 2))
    X[1, 3] = np.nan
    with pytest.raises(ValueError, match="all-NaN frames before the end of a series"):
        soft_dtw_pairwise(X)


def test_soft_dtw_band_too_narrow_for_unequal_lengths_is_infinite_as_documented():
    # the module docstring: band=0 is finite only for equal lengths
    assert soft_dtw(np.zeros((3, 1)), np.zeros((5, 1)), band=0) == np.inf
    assert np.isfinite(soft_dtw(np.zeros((3, 1)), np.zeros((5, 1)), band=1))


# ------------------------------------------------------------------------- lag


def test_lagged_correlation_rejects_nan_padding_naming_the_series():
    a = np.arange(10.0)
    a[8:] = np.nan
    with pytest.raises(ValueError, match="a contains NaN or inf"):
        lagged_correlation(a, np.arange(10.0), 2)


def test_lagged_correlation_max_lag_must_be_shorter_than_the_series():
    with pytest.raises(ValueError, match=r"0 <= max_lag < T \(series length 10\), got 10"):
        lagged_correlation(np.arange(10.0), np.arange(10.0), 10)


# ------------------------------------------------------------- labels and pairs


@pytest.mark.parametrize("name", ["classifier", "classifier-end-to-end"])
def test_classifier_with_a_single_class_is_refused(name, data):
    X, y = _input(name, data)
    with pytest.raises(ValueError, match="at least 2 classes"):
        _fresh(name).fit(X, np.zeros_like(y))


def test_balanced_batches_with_a_single_class_are_refused():
    with pytest.raises(ValueError, match="at least two labels with two or more recordings"):
        next(balanced_batches(np.zeros(8), labels_per_batch=2, samples_per_label=2))


def test_label_pairs_of_a_single_class_are_all_positive():
    pairs, labels = label_pairs(np.zeros(4))
    assert len(pairs) == 6 and labels.tolist() == [1] * 6


def test_label_pairs_reject_missing_labels():
    with pytest.raises(ValueError, match="y contains NaN at position 2"):
        label_pairs(np.array([0.0, 1.0, np.nan, 1.0]))


def test_semi_hard_mining_rejects_nan_distances():
    D = np.ones((4, 4))
    D[0, 2] = np.nan
    with pytest.raises(ValueError, match="distances contain NaN"):
        semi_hard_negatives(D, [0, 0, 1, 1], margin=1.0)


@FEW
@given(st.lists(st.tuples(st.integers(-3, 8), st.integers(-3, 8)), min_size=1, max_size=6))
def test_pairs_must_reference_existing_rows(pairs):
    pairs = np.array(pairs)
    if ((pairs < 0) | (pairs >= 5)).any():
        with pytest.raises(ValueError, match=r"but X has 5 recordings \(valid indices 0..4\)"):
            validate_pairs(pairs, None, 5)
    else:
        np.testing.assert_array_equal(validate_pairs(pairs, None, 5)[0], pairs)


def test_classifier_pairs_referencing_missing_rows_are_refused(data):
    X, y = data["channels"]
    fitted = _fit("classifier", X, y)
    with pytest.raises(ValueError, match=r"pair 1 is \[0, 6\], but X has 6 recordings"):
        fitted.predict_pair_proba(X, [[0, 1], [0, 6]])


def test_float_pair_indices_are_a_type_error():
    with pytest.raises(TypeError, match="integer row indices"):
        validate_pairs(np.array([[0, 1.5]]), None, 4)


# ------------------------------------------ large inputs are checked in blocks


@st.composite
def padded_series(draw):
    n, T, F = draw(st.integers(1, 4)), draw(st.integers(1, 9)), draw(st.integers(1, 3))
    X = np.random.default_rng(draw(st.integers(0, 2**16))).normal(size=(n, T, F))
    for i in range(n):
        X[i, draw(st.integers(0, T)) :] = np.nan
        if draw(st.booleans()):
            X[i, draw(st.integers(0, T - 1))] = np.nan  # a dropped frame anywhere
    return X


@FEW
@given(padded_series(), st.sampled_from([8, 24, 64, 1 << 20]))
def test_lengths_of_in_blocks_equals_the_whole_array_answer(X, block_bytes):
    finite = ~np.isnan(X).all(axis=2)
    expected = [max(np.flatnonzero(row), default=-1) + 1 for row in finite]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validation, "_BLOCK_BYTES", block_bytes)
        np.testing.assert_array_equal(lengths_of(X), expected)


@FEW
@given(padded_series(), st.sampled_from([8, 24, 64]), st.data())
def test_infinity_anywhere_is_found_by_the_block_check(X, block_bytes, draw):
    position = tuple(draw.draw(st.integers(0, s - 1)) for s in X.shape)
    X[position] = -np.inf
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validation, "_BLOCK_BYTES", block_bytes)
        with pytest.raises(ValueError, match="Input X contains infinity"):
            validation.validate_recordings(BaseEstimator(), X)


def _peak_allocation(function, *args):
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def padded_memmap(tmp_path):
    """A 32 MiB memory-mapped recording set with NaN padding (no fast all-finite path)."""
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", shape=(64, 256, 16, 16))
    X[:] = 30.0
    X[:, 200:] = np.nan
    X.flush()
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def test_validating_a_memmap_allocates_far_less_than_the_data(padded_memmap):
    peak = _peak_allocation(validation.validate_recordings, BaseEstimator(), padded_memmap)
    assert peak < padded_memmap.nbytes / 4


def test_lengths_of_a_memmap_allocates_far_less_than_the_data(padded_memmap):
    assert _peak_allocation(lengths_of, padded_memmap) < padded_memmap.nbytes / 4


def test_embedding_a_memmap_allocates_about_the_output(padded_memmap):
    embedder = HeatmapEmbedder(chunk_size=1024).fit(padded_memmap[:1])
    peak = _peak_allocation(embedder.transform, padded_memmap)
    assert peak < padded_memmap.nbytes / 4


def test_classifier_rejects_nan_labels_without_a_warning(data):
    X, y = data["channels"]
    y = y.astype(float)
    y[0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="NaN"):
            _fresh("classifier").fit(X, y)


@pytest.mark.parametrize("mode", ["r", "r+", "c"])
def test_embedding_a_memmap_gives_the_in_memory_result_in_every_mode(mode, tmp_path):
    # read-only mappings have their pages dropped after each chunk; a copy-on-write
    # mapping keeps the changes made to it in memory
    rng = np.random.default_rng(0)
    np.save(tmp_path / "X.npy", rng.normal(30.0, 1.0, size=(3, 20, 4, 4)))
    X = np.load(tmp_path / "X.npy", mmap_mode=mode)
    if mode == "c":
        X[1, 3] = 99.0
    expected = np.array(X)
    embedder = HeatmapEmbedder(method="moments", chunk_size=7).fit(expected)
    np.testing.assert_array_equal(embedder.transform(X), embedder.transform(expected))
    np.testing.assert_array_equal(X, expected)


@pytest.fixture
def heatmaps_h5(tmp_path):
    h5py = pytest.importorskip("h5py")
    X = np.random.default_rng(0).normal(30.0, 1.0, size=(32, 256, 16, 16))
    X[:, 200:] = np.nan
    with h5py.File(tmp_path / "X.h5", "w") as file:
        file["X"] = X
    with h5py.File(tmp_path / "X.h5", "r") as file:
        yield X, file["X"]


def test_embedding_an_hdf5_dataset_gives_the_in_memory_result(heatmaps_h5):
    X, dataset = heatmaps_h5
    embedder = HeatmapEmbedder(method="eigenfaces", n_components=3, chunk_size=600).fit(X[:4])
    # Whole recordings are read from the file, so the eigenface products run over
    # other blocks of frames than in memory: equal to rounding, not bitwise.
    np.testing.assert_allclose(
        embedder.transform(dataset), embedder.transform(X), rtol=1e-12, atol=1e-12
    )


def test_embedding_an_hdf5_dataset_reads_it_a_chunk_at_a_time(heatmaps_h5):
    X, dataset = heatmaps_h5
    embedder = HeatmapEmbedder(chunk_size=512).fit(X[:1])
    assert _peak_allocation(embedder.transform, dataset) < X.nbytes / 4


# ------------------------------------------------ losses and metrics


def test_energy_penalty_rejects_a_negative_floor():
    with pytest.raises(ValueError, match="epsilon"):
        energy_penalty(np.ones((1, 4, 2)), -1.0)


def test_contrastive_loss_rejects_a_negative_margin():
    with pytest.raises(ValueError, match="margin"):
        contrastive_margin_loss(np.ones(3), np.array([0.0, 1.0, 1.0]), margin=-1.0)


def test_calibration_error_rejects_nan_probabilities_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="without NaN"):
            expected_calibration_error(np.r_[np.zeros(5), np.ones(5)], np.full(10, np.nan))


def test_match_events_rejects_nan_onsets_by_name():
    with pytest.raises(ValueError, match="onsets"):
        match_events(np.array([np.nan]), np.array([1.0]), 1.0)


# ------------------------------------------------ signal metrics: NaN, inf, rates

SIGNAL_METRICS = {
    "band_power": lambda x, fs: band_power(x, fs, (0.5, 2.0)),
    "band_mse": lambda x, fs: band_mse(np.zeros_like(x), x, fs, (0.5, 2.0)),  # x as estimate
    "band_snr": lambda x, fs: band_snr(x, x, fs, (0.5, 2.0)),  # x as reference
    "detect_transients": detect_transients,
}  # fmt: skip


@st.composite
def recordings_with_a_bad_value(draw, value):
    """Two-channel recordings with ``value`` in one channel of one frame, maybe padded after it."""
    n, T = draw(st.integers(1, 3)), draw(st.integers(8, 20))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).normal(size=(n, T, 2))
    i, t = draw(st.integers(0, n - 1)), draw(st.integers(0, T - 2))
    x[i, t, draw(st.integers(0, 1))] = value
    x[i, draw(st.integers(t + 1, T)) :] = np.nan  # trailing padding leaves the frame inside
    return x, i, t


@FEW
@pytest.mark.parametrize("metric", SIGNAL_METRICS)
@given(case=recordings_with_a_bad_value(np.nan))
def test_signal_metrics_reject_nan_inside_a_recording_naming_where(metric, case):
    x, i, t = case
    with pytest.raises(ValueError, match=f"recording {i} has NaN at frame {t}, inside"):
        SIGNAL_METRICS[metric](x, 8.0)


@FEW
@pytest.mark.parametrize("metric", SIGNAL_METRICS)
@given(case=recordings_with_a_bad_value(np.inf))
def test_signal_metrics_reject_infinity_naming_where(metric, case):
    x, i, t = case
    with pytest.raises(ValueError, match=f"recording {i} has an infinite value at frame {t}"):
        SIGNAL_METRICS[metric](x, 8.0)


@pytest.mark.parametrize("metric", SIGNAL_METRICS)
def test_signal_metrics_reject_an_all_nan_recording(metric):
    x = np.ones((2, 16, 2))
    x[1] = np.nan
    with pytest.raises(ValueError, match="recording 1 is all NaN"):
        SIGNAL_METRICS[metric](x, 8.0)


@pytest.mark.parametrize("metric", SIGNAL_METRICS)
@pytest.mark.parametrize("fs", [0, -8.0, np.nan, np.inf, True])
def test_signal_metrics_reject_a_rate_that_is_not_finite_and_positive(metric, fs):
    with pytest.raises(ValueError, match="fs must be a finite sampling rate > 0 Hz"):
        SIGNAL_METRICS[metric](np.ones((1, 16, 2)), fs)


def test_band_snr_of_padded_recordings_is_that_of_the_unpadded_ones():
    rng = np.random.default_rng(0)
    clean = [rng.normal(size=(40, 2)), rng.normal(size=(25, 2))]
    noisy = [c + 0.3 * rng.normal(size=c.shape) for c in clean]
    padded = band_snr(to_dataset(clean), to_dataset(noisy), 8.0, (0.5, 2.0))
    for i in range(2):
        np.testing.assert_allclose(
            padded[i], band_snr(clean[i][None], noisy[i][None], 8.0, (0.5, 2.0))[0]
        )


def test_band_metrics_reject_reference_and_estimate_padded_differently():
    reference = np.ones((2, 16, 1))
    estimate = reference.copy()
    estimate[1, 12:] = np.nan
    with pytest.raises(ValueError, match="recording 1 has 16 frames in reference but 12"):
        band_mse(reference, estimate, 8.0, (0.5, 2.0))


def test_detector_on_padded_recordings_finds_the_events_of_the_unpadded_ones():
    z = np.random.default_rng(1).normal(scale=0.1, size=(2, 120, 2))
    z[:, 40:46, 0] += 3.0
    padded = z.copy()
    padded[1, 90:] = np.nan
    found, expected = detect_transients(padded, fs=10.0), detect_transients(z, fs=10.0)
    for column in ("recording", "onset", "duration", "peak"):
        np.testing.assert_array_equal(found[column], expected[column])


@pytest.mark.parametrize("fs", [0, -1.0, np.nan])
def test_event_scores_reject_a_bad_rate_instead_of_dividing_by_it(fs):
    events = {"recording": [0], "onset": [1]}
    with pytest.raises(ValueError, match="fs must be a finite sampling rate"):
        event_detection_scores(events, events, tolerance_s=1.0, fs=fs)


@pytest.mark.parametrize("tolerance_s", [-1.0, np.nan, np.inf])
def test_event_scores_reject_a_bad_tolerance_by_name(tolerance_s):
    events = {"recording": [0], "onset": [1]}
    with pytest.raises(ValueError, match="tolerance_s must be a finite onset error"):
        event_detection_scores(events, events, tolerance_s=tolerance_s, fs=8.0)


def test_injection_rejects_infinity_naming_where():
    X = np.zeros((2, 40, 3))
    X[1, 7, 2] = np.inf
    with pytest.raises(ValueError, match="recording 1 has an infinite value at frame 7"):
        inject_transients(X, amplitude=1.0, fs=4.0)


def test_injection_into_a_recording_too_short_names_the_minimum():
    X = to_dataset([np.zeros((40, 3)), np.zeros((9, 3))])
    with pytest.raises(ValueError, match=r"recording 1 has 9 frames, .*needs >= 10\); lower"):
        inject_transients(X, amplitude=1.0, fs=4.0, n_events=2, duration_s=1.25)


@pytest.mark.parametrize("parameter", ["amplitude", "fs", "duration_s", "n_events"])
def test_injection_rejects_non_finite_parameters_by_name(parameter):
    params = {"amplitude": 1.0, "fs": 4.0, "duration_s": 1.0, "n_events": 2, parameter: np.inf}
    with pytest.raises(ValueError, match=f"'{parameter}' parameter"):
        inject_transients(np.zeros((1, 40, 3)), **params)
