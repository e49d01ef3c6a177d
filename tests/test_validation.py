"""Shape conventions, padding and dataset stacking."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from skheatmap import lengths_of, to_dataset
from skheatmap._validation import (
    as_series,
    check_frame_shape,
    padding_frames,
    restore_ndim,
    validate_recordings,
)


class Recorder(BaseEstimator):
    """A bare estimator to attach fitted attributes to."""


@pytest.mark.parametrize(
    "shape, n_features",
    [((5, 7), 7), ((5, 9, 7), 7), ((5, 9, 3, 4), 12)],
    ids=["frames", "series", "heatmaps"],
)
def test_n_features_in_counts_values_per_frame(shape, n_features):
    est = Recorder()
    validate_recordings(est, np.zeros(shape))
    assert est.n_features_in_ == n_features


def test_frame_size_mismatch_uses_sklearn_wording():
    est = Recorder()
    validate_recordings(est, np.zeros((2, 6, 3, 4)))
    msg = "X has 20 features, but Recorder is expecting 12 features as input."
    with pytest.raises(ValueError, match=msg):
        validate_recordings(est, np.zeros((2, 6, 4, 5)), reset=False)


def test_two_d_and_four_d_frames_are_interchangeable_after_fit():
    est = Recorder()
    validate_recordings(est, np.zeros((2, 6, 3, 4)))
    out = validate_recordings(est, np.zeros((7, 12)), reset=False)
    assert out.shape == (7, 12)


@pytest.mark.parametrize("ndim", [1, 5])
def test_wrong_ndim_names_the_accepted_layouts(ndim):
    with pytest.raises(ValueError, match=rf"got an array with {ndim} dimension"):
        validate_recordings(Recorder(), np.zeros((2,) * ndim))


def test_infinity_is_rejected_nan_is_allowed():
    X = np.zeros((2, 3, 4))
    X[0, 0, 0] = np.nan
    validate_recordings(Recorder(), X)
    X[1, 1, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        validate_recordings(Recorder(), X)


def test_nan_rejected_when_not_allowed():
    X = np.zeros((2, 3, 4))
    X[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        validate_recordings(Recorder(), X, allow_nan=False)


def test_float32_is_preserved_and_ints_become_float64(dtype):
    assert validate_recordings(Recorder(), np.zeros((2, 3, 4), dtype=dtype)).dtype == dtype
    assert validate_recordings(Recorder(), np.zeros((2, 3, 4), dtype=int)).dtype == np.float64


def test_empty_time_axis_is_an_error():
    with pytest.raises(ValueError, match="at least one frame"):
        validate_recordings(Recorder(), np.zeros((2, 0, 4)))


def test_as_series_and_restore_ndim_round_trip():
    X2 = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(restore_ndim(as_series(X2), X2), X2)
    X4 = np.arange(48.0).reshape(2, 3, 2, 4)
    series = as_series(X4)
    assert series.shape == (2, 3, 8)
    assert np.shares_memory(series, X4)


def test_to_dataset_pads_with_nan_and_lengths_of_inverts_it():
    rng = np.random.default_rng(0)
    recordings = [rng.normal(size=(t, 3, 2)) for t in (5, 2, 7)]
    X = to_dataset(recordings)
    assert X.shape == (3, 7, 3, 2)
    np.testing.assert_array_equal(lengths_of(X), [5, 2, 7])
    for original, length, padded in zip(recordings, lengths_of(X), X, strict=True):
        np.testing.assert_array_equal(padded[:length], original)
        assert np.isnan(padded[length:]).all()


def test_lengths_of_matches_tslearn_ts_size():
    from tslearn.utils import to_time_series_dataset, ts_size

    series = [[1.0, 2.0, np.nan, 4.0], [1.0], [3.0, 2.0]]
    X = to_dataset(series)
    np.testing.assert_array_equal(X, to_time_series_dataset(series))
    np.testing.assert_array_equal(lengths_of(X), [ts_size(x) for x in X])


def test_dead_pixels_do_not_shorten_a_recording():
    X = np.ones((1, 4, 3))
    X[0, 3, 0] = np.nan  # a dead pixel in the last frame, not padding
    assert lengths_of(X)[0] == 4
    assert not padding_frames(X).any()


def test_interior_all_nan_frame_is_not_padding():
    X = np.ones((1, 5, 2))
    X[0, 1] = np.nan
    X[0, 4] = np.nan
    np.testing.assert_array_equal(padding_frames(X), [[False, False, False, False, True]])


def test_all_nan_recording_has_length_zero():
    assert lengths_of(np.full((1, 3, 2), np.nan))[0] == 0


def test_to_dataset_never_truncates():
    with pytest.raises(ValueError, match="never truncated"):
        to_dataset([np.zeros(5)], max_length=3)


def test_to_dataset_rejects_mismatched_frames():
    with pytest.raises(ValueError, match="recording 1 has frames of shape"):
        to_dataset([np.zeros((3, 2)), np.zeros((3, 4))])


def test_to_dataset_keeps_float32():
    assert to_dataset([np.zeros(3, dtype=np.float32)]).dtype == np.float32
    assert to_dataset([np.zeros(3, dtype=np.float32), np.zeros(2)]).dtype == np.float64


@pytest.mark.parametrize("bad", [[], "abc", None])
def test_to_dataset_rejects_non_lists(bad):
    with pytest.raises(TypeError, match="non-empty list"):
        to_dataset(bad)


def test_check_frame_shape_explains_a_mismatch():
    with pytest.raises(ValueError, match=r"has 12 pixels but the frames have 20"):
        check_frame_shape((3, 4), 20)
