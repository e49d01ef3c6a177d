"""Tests of HeatmapEmbedder (ℰ) and its torch twin against independent oracles."""

import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.base import clone
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skheatmap.datasets import make_thermal_faces
from skheatmap.embedding import HeatmapEmbedder

PERCENTILES = [0, 5, 25, 50, 75, 95, 100]


def recordings(dtype=np.float64, *, n=3, T=7, shape=(6, 5), seed=0):
    """Random heatmaps around 33 °C with one dead pixel and one padded recording."""
    rng = np.random.default_rng(seed)
    X = (33.0 + rng.normal(size=(n, T, *shape))).astype(dtype)
    X[0, 1, 2, 3] = np.nan  # dead pixel
    X[1, 2, 0, :] = np.nan  # a dead row
    X[2, T - 2 :] = np.nan  # padding
    return X


def thermal_faces(dtype=np.float64):
    """Synthetic facial thermal videos: realistic temperatures, 4 recordings of 16 frames."""
    data = make_thermal_faces(
        n_subjects=2, n_segments=2, n_frames=16, frame_shape=(12, 10), random_state=0
    )
    return np.asarray(data.X, dtype=dtype)


def heatmaps(source, dtype=np.float64):
    """``recordings`` (dead pixels, padding) or ``thermal_faces``, by name."""
    return recordings(dtype) if source == "random" else thermal_faces(dtype)


def finite_pixels(frame):
    values = np.asarray(frame, dtype=np.float64).ravel()
    return values[~np.isnan(values)]


def nonempty_frames(X):
    """(recording, frame) indices of the frames that have a finite pixel."""
    flat = X.reshape(X.shape[0], X.shape[1], -1)
    return [tuple(i) for i in np.argwhere(~np.isnan(flat).all(axis=2))]


def tolerance(dtype):
    # oracles run in float64 on the same values; float32 output is one rounding away
    return {"atol": 1e-10, "rtol": 0} if dtype == np.float64 else {"atol": 0, "rtol": 2e-7}


# --------------------------------------------------------------------------- percentiles


@pytest.mark.parametrize("source", ["random", "thermal"])
def test_percentiles_match_nanpercentile(dtype, source):
    X = heatmaps(source, dtype)
    out = HeatmapEmbedder(percentiles=PERCENTILES).fit_transform(X)
    assert out.dtype == dtype
    for i, t in nonempty_frames(X):
        expected = np.percentile(finite_pixels(X[i, t]), PERCENTILES)
        np.testing.assert_allclose(out[i, t], expected, **tolerance(dtype))


def test_percentiles_of_tied_and_tiny_frames_match_nanpercentile():
    X = np.array([[[1.0, 1.0, 1.0, 2.0]], [[np.nan, 5.0, np.nan, np.nan]], [[4.0, 4.0, 4.0, 4.0]]])
    out = HeatmapEmbedder(percentiles=[0, 10, 50, 62.5, 100]).fit_transform(X)
    expected = np.nanpercentile(X, [0, 10, 50, 62.5, 100], axis=2).transpose(1, 2, 0)
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_percentiles_do_not_depend_on_the_previous_frame_range():
    # the bucket select reuses the previous frame's range; a frame far outside it
    # (or a flat one) must still be exact
    X = np.stack(
        [
            np.linspace(0, 1, 40),
            np.linspace(100, 300, 40),
            np.full(40, 7.0),
            np.linspace(0, 1e-310, 40),  # subnormal spread
            np.linspace(-1e300, 1e300, 40),  # far outside the previous range
        ]
    )[None]
    X = np.concatenate([X, X[:, ::-1]], axis=1)
    out = HeatmapEmbedder(percentiles=PERCENTILES).fit_transform(X)
    np.testing.assert_allclose(out, np.percentile(X, PERCENTILES, axis=2).transpose(1, 2, 0))


# --------------------------------------------------------------------------- histogram


@pytest.mark.parametrize("source", ["random", "thermal"])
def test_histogram_counts_match_np_histogram(dtype, source):
    X = heatmaps(source, dtype)
    # not representable in float32, not uniform; thermal values below 24 °C fall outside
    edges = [24.0, 31.0, 32.1, 33.0, 33.7, 35.3]
    out = HeatmapEmbedder("histogram", bins=edges).fit_transform(X)
    for i, t in nonempty_frames(X):
        values = X[i, t][~np.isnan(X[i, t])]  # in the input dtype, as np.histogram sees it
        np.testing.assert_array_equal(out[i, t], np.histogram(values, bins=edges)[0])


def test_histogram_counts_values_on_edges_like_np_histogram():
    X = np.array([[0.0, 0.5, 1.0, 1.0, 2.0, 2.5, -0.1]])
    out = HeatmapEmbedder("histogram", bins=[0.0, 1.0, 2.0]).fit_transform(X)
    np.testing.assert_array_equal(out[0], np.histogram(X[0], bins=[0.0, 1.0, 2.0])[0])


def test_histogram_density_matches_np_histogram(dtype):
    X = recordings(dtype)
    out = HeatmapEmbedder("histogram", bins=6, bin_range=(31, 35), density=True).fit_transform(X)
    for i, t in nonempty_frames(X):
        # float64 edges for both dtypes (np.histogram would build float32 edges)
        expected = np.histogram(finite_pixels(X[i, t]), bins=6, range=(31, 35), density=True)[0]
        np.testing.assert_allclose(out[i, t], expected, **tolerance(dtype))


@pytest.mark.parametrize("source", ["random", "thermal"])
def test_histogram_learns_edges_over_the_training_range(source):
    X = heatmaps(source)
    embedder = HeatmapEmbedder("histogram", bins=5).fit(X)
    expected = np.histogram_bin_edges(finite_pixels(X), bins=5)
    np.testing.assert_allclose(embedder.bin_edges_, expected)
    counts = embedder.transform(X)
    assert np.nansum(counts) == finite_pixels(X).size  # every training pixel is counted


def test_histogram_density_outside_the_edges_warns_and_is_nan():
    X = np.array([[[40.0, 41.0]], [[31.0, 32.0]]])
    embedder = HeatmapEmbedder("histogram", bins=2, bin_range=(30, 35), density=True).fit(X)
    with pytest.warns(UserWarning, match="no temperature inside the histogram edges"):
        out = embedder.transform(X)
    assert np.isnan(out[0]).all()
    np.testing.assert_allclose(out[1, 0], [0.4, 0.0])


# --------------------------------------------------------------------------- eigenfaces


@pytest.mark.parametrize("source", ["anisotropic", "thermal"])
def test_eigenfaces_match_sklearn_pca(dtype, source):
    if source == "thermal":
        X = thermal_faces(dtype)
    else:
        rng = np.random.default_rng(1)
        X = (33 + rng.normal(size=(4, 20, 5, 6)) @ np.diag([1, 2, 3, 4, 5, 6])).astype(dtype)
    embedder = HeatmapEmbedder("eigenfaces", n_components=3, svd_solver="full").fit(X)
    frames = X.reshape(X.shape[0] * X.shape[1], -1)
    pca = PCA(n_components=3, svd_solver="full").fit(frames)
    np.testing.assert_allclose(
        embedder.components_, pca.components_, atol=1e-4 if dtype == np.float32 else 1e-10
    )
    expected = pca.transform(frames).reshape(*X.shape[:2], 3)
    np.testing.assert_allclose(
        embedder.transform(X), expected, atol=1e-3 if dtype == np.float32 else 1e-10
    )


def test_randomized_eigenfaces_are_seeded():
    X = recordings(shape=(8, 8))[:2, :5]
    fit = [
        HeatmapEmbedder("eigenfaces", n_components=2, svd_solver="randomized", random_state=0)
        .fit(X)
        .components_
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fit[0], fit[1])
    exact = HeatmapEmbedder("eigenfaces", n_components=2, svd_solver="full").fit(X).components_
    np.testing.assert_allclose(np.abs(fit[0]), np.abs(exact), atol=1e-6)


def test_eigenface_dead_pixel_takes_the_mean_face_value():
    X = recordings()
    embedder = HeatmapEmbedder("eigenfaces", n_components=3).fit(X)
    frame = X[0, 1].ravel().copy()  # has a dead pixel
    dead = np.isnan(frame)
    frame[dead] = embedder.mean_[dead]
    expected = (frame - embedder.mean_) @ embedder.components_.T
    np.testing.assert_allclose(embedder.transform(X)[0, 1], expected, atol=1e-10)


def test_eigenfaces_fit_imputes_dead_pixels_with_pixel_means():
    X = recordings()
    embedder = HeatmapEmbedder("eigenfaces", n_components=2, svd_solver="full").fit(X)
    frames = X.reshape(-1, 30)
    frames = frames[~np.isnan(frames).all(axis=1)]
    means = np.nanmean(frames, axis=0)
    imputed = np.where(np.isnan(frames), means, frames)
    pca = PCA(n_components=2, svd_solver="full").fit(imputed)
    np.testing.assert_allclose(embedder.mean_, means, atol=1e-12)
    np.testing.assert_allclose(embedder.components_, pca.components_, atol=1e-10)


def test_eigenfaces_standardize_is_pca_whitening():
    X = 33 + np.random.default_rng(6).normal(size=(2, 5, 6, 5))
    out = HeatmapEmbedder("eigenfaces", n_components=3, standardize=True).fit_transform(X)
    pca = PCA(n_components=3, whiten=True).fit(X.reshape(-1, 30))
    np.testing.assert_allclose(out, pca.transform(X.reshape(-1, 30)).reshape(2, 5, 3), atol=1e-10)


def test_partial_fit_eigenfaces_matches_incremental_pca():
    rng = np.random.default_rng(2)
    batches = [33 + rng.normal(size=(2, 6, 4, 5)) for _ in range(3)]
    embedder = HeatmapEmbedder("eigenfaces", n_components=3)
    ipca = IncrementalPCA(n_components=3)
    for batch in batches:
        embedder.partial_fit(batch)
        ipca.partial_fit(batch.reshape(-1, 20))
    np.testing.assert_allclose(embedder.components_, ipca.components_, atol=1e-12)
    np.testing.assert_allclose(
        embedder.transform(batches[0]), ipca.transform(batches[0].reshape(-1, 20)).reshape(2, 6, 3)
    )
    assert embedder.n_frames_seen_ == 36


def test_never_seen_pixel_warns_in_eigenfaces_fit():
    X = recordings()
    X[:, :, 0, 0] = np.nan
    with pytest.warns(UserWarning, match="NaN in every training frame"):
        embedder = HeatmapEmbedder("eigenfaces", n_components=2).fit(X)
    assert np.isfinite(embedder.transform(X)[0, 0]).all()


# --------------------------------------------------------------------------- moments


@pytest.mark.parametrize("source", ["random", "thermal"])
def test_moments_match_scipy_stats(dtype, source):
    X = heatmaps(source, dtype)
    out = HeatmapEmbedder("moments").fit_transform(X)
    tol = {"atol": 1e-9} if dtype == np.float64 else {"rtol": 1e-6, "atol": 1e-6}
    for i, t in nonempty_frames(X):
        values = finite_pixels(X[i, t])
        expected = [
            values.mean(),
            stats.moment(values, 2),
            stats.skew(values),
            stats.kurtosis(values),
        ]
        np.testing.assert_allclose(out[i, t, :4], expected, **tol)


def brute_force_warm_geometry(frame):
    """Warm centroid and second moments by explicit loops over pixels."""
    mean = np.nanmean(frame)
    w = wy = wx = wyy = wxx = wxy = 0.0
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            if not np.isnan(frame[i, j]) and frame[i, j] > mean:
                weight = frame[i, j] - mean
                w += weight
                wy += weight * i
                wx += weight * j
    cy, cx = wy / w, wx / w
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            if not np.isnan(frame[i, j]) and frame[i, j] > mean:
                weight = frame[i, j] - mean
                wyy += weight * (i - cy) ** 2
                wxx += weight * (j - cx) ** 2
                wxy += weight * (i - cy) * (j - cx)
    return [cy, cx, wyy / w, wxx / w, wxy / w]


def test_warm_centroid_and_second_moments_match_brute_force():
    X = recordings()
    out = HeatmapEmbedder("moments").fit_transform(X)
    for i, t in nonempty_frames(X):
        np.testing.assert_allclose(out[i, t, 4:], brute_force_warm_geometry(X[i, t]), atol=1e-9)


def test_warm_centroid_finds_a_hot_spot():
    X = np.full((1, 1, 9, 11), 30.0)
    X[0, 0, 6, 2] = 40.0
    out = HeatmapEmbedder("moments").fit_transform(X)
    np.testing.assert_allclose(out[0, 0, 4:], [6.0, 2.0, 0.0, 0.0, 0.0], atol=1e-12)


def test_flat_frame_has_finite_moments_by_convention():
    X = np.full((1, 1, 3, 4), 31.5)
    X[0, 0, 0, 0] = np.nan
    out = HeatmapEmbedder("moments").fit_transform(X)
    centre = np.mean(np.argwhere(~np.isnan(X[0, 0])), axis=0)
    np.testing.assert_allclose(out[0, 0], [31.5, 0, 0, 0, *centre, 0, 0, 0], atol=1e-12)


def test_moments_use_pixel_coordinates_of_the_mask():
    X = recordings()
    mask = np.zeros((6, 5), dtype=bool)
    mask[1:5, 2:] = True
    out = HeatmapEmbedder("moments", mask=mask).fit_transform(X)
    masked = np.where(mask, X, np.nan)
    expected = HeatmapEmbedder("moments").fit_transform(masked)
    np.testing.assert_allclose(out, expected, atol=1e-10)


# --------------------------------------------------------------------------- NaN handling


@pytest.mark.parametrize("method", ["percentiles", "histogram", "eigenfaces", "moments"])
def test_padding_frames_stay_nan_without_warning(method):
    X = recordings()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = HeatmapEmbedder(method, n_components=2).fit_transform(X)
    assert np.isnan(out[2, -2:]).all()
    assert np.isfinite(out[[0, 1]]).all()  # dead pixels never spread to a channel


@pytest.mark.parametrize("method", ["percentiles", "histogram", "eigenfaces", "moments"])
def test_empty_frame_inside_a_recording_warns(method):
    X = recordings()
    X[0, 3] = np.nan
    embedder = HeatmapEmbedder(method, n_components=2).fit(X)
    with pytest.warns(
        UserWarning, match=r"1 frame\(s\) that are not padding.*recording 0, frame 3"
    ):
        out = embedder.transform(X)
    assert np.isnan(out[0, 3]).all()


def test_frame_empty_inside_the_mask_warns():
    X = recordings()
    mask = np.zeros((6, 5), dtype=bool)
    mask[0, 0] = mask[0, 1] = True
    X[1, 4, 0, :2] = np.nan
    embedder = HeatmapEmbedder(mask=mask).fit(X)
    with pytest.warns(UserWarning, match="no finite pixel inside the mask"):
        out = embedder.transform(X)
    assert np.isnan(out[1, 4]).all() and np.isfinite(out[1, 3]).all()


# --------------------------------------------------------------------------- ROI, layouts, dtypes


def test_mask_restricts_the_statistics():
    X = recordings()
    mask = np.random.default_rng(3).random((6, 5)) > 0.5
    out = HeatmapEmbedder(percentiles=PERCENTILES, mask=mask).fit_transform(X)
    for i, t in nonempty_frames(X):
        values = finite_pixels(X[i, t][mask])
        np.testing.assert_allclose(out[i, t], np.percentile(values, PERCENTILES), atol=1e-12)


def test_callable_mask_receives_the_mean_frame():
    X = recordings()
    seen = []

    def warmer_half(mean_frame):
        seen.append(mean_frame)
        return mean_frame > np.median(mean_frame)

    embedder = HeatmapEmbedder(mask=warmer_half).fit(X)
    np.testing.assert_allclose(seen[0], np.nanmean(X.reshape(-1, 6, 5), axis=0), atol=1e-12)
    np.testing.assert_array_equal(embedder.mask_, warmer_half(seen[0]))


def test_flattened_frames_with_frame_shape_equal_heatmaps():
    X = recordings()
    flat = X.reshape(3, 7, 30)
    four_d = HeatmapEmbedder("moments").fit_transform(X)
    three_d = HeatmapEmbedder("moments", frame_shape=(6, 5)).fit_transform(flat)
    np.testing.assert_array_equal(three_d, four_d)


def test_two_d_input_gives_two_d_output():
    X = recordings()[:2].reshape(-1, 30)
    X = X[~np.isnan(X).all(axis=1)]
    out = HeatmapEmbedder(percentiles=[50]).fit_transform(X)
    assert out.shape == (X.shape[0], 1)
    np.testing.assert_allclose(out[:, 0], np.nanmedian(X, axis=1))


def test_integer_input_is_embedded_as_float64():
    X = np.arange(24).reshape(1, 2, 3, 4)
    out = HeatmapEmbedder(percentiles=[50]).fit_transform(X)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out[0, :, 0], [5.5, 17.5])


def test_standardize_matches_standard_scaler():
    X = recordings()
    raw = HeatmapEmbedder("moments").fit_transform(X)
    out = HeatmapEmbedder("moments", standardize=True).fit_transform(X)
    rows = ~np.isnan(raw).all(axis=2)
    np.testing.assert_allclose(out[rows], StandardScaler().fit_transform(raw[rows]), atol=1e-10)


def test_partial_fit_standardization_equals_fit():
    X = recordings()
    full = HeatmapEmbedder(standardize=True).fit(X)
    parts = HeatmapEmbedder(standardize=True)
    for recording in X:
        parts.partial_fit(recording[None])
    np.testing.assert_allclose(parts.feature_mean_, full.feature_mean_, atol=1e-12)
    np.testing.assert_allclose(parts.feature_scale_, full.feature_scale_, atol=1e-12)


@pytest.mark.parametrize("method", ["percentiles", "histogram", "eigenfaces", "moments"])
def test_chunk_size_does_not_change_the_result(method):
    X = recordings(T=9)
    outputs = [
        HeatmapEmbedder(method, n_components=2, chunk_size=size).fit_transform(X)
        for size in (1, 4, 1000)
    ]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-10)
    np.testing.assert_allclose(outputs[0], outputs[2], atol=1e-10)


def test_memory_mapped_input_equals_in_memory(tmp_path):
    X = recordings(np.float32)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    embedder = HeatmapEmbedder("moments", chunk_size=5).fit(X)
    np.testing.assert_array_equal(embedder.transform(mapped), embedder.transform(X))


def test_feature_names_name_the_channels():
    X = recordings()
    names = {
        "percentiles": HeatmapEmbedder(percentiles=[5, 50, 99.5]),
        "histogram": HeatmapEmbedder("histogram", bins=[30.0, 30.5, 31.25]),
        "eigenfaces": HeatmapEmbedder("eigenfaces", n_components=2),
        "moments": HeatmapEmbedder("moments"),
    }
    got = {key: list(est.fit(X).get_feature_names_out()) for key, est in names.items()}
    assert got["percentiles"] == ["p05", "p50", "p99.5"]
    assert got["histogram"] == ["bin_30.00_30.50", "bin_30.50_31.25"]
    assert got["eigenfaces"] == ["eig_0", "eig_1"]
    assert got["moments"][:4] == ["mean", "var", "skew", "kurtosis"]
    assert {"centroid_x", "centroid_y"} <= set(got["moments"])


# --------------------------------------------------------------------------- sklearn integration


def test_pipeline_grid_search_with_group_kfold_on_heatmaps():
    rng = np.random.default_rng(4)
    n = 12
    y = np.tile([0, 1], n // 2)
    X = 33 + rng.normal(size=(n, 6, 5, 5))
    X[y == 1, :, 1:3, 1:3] += 3.0  # class 1 has a hot spot
    groups = np.repeat(np.arange(4), 3)
    pipe = make_pipeline(
        HeatmapEmbedder(),
        FunctionTransformer(lambda Z: np.nanmean(Z, axis=1)),
        StandardScaler(),
        LogisticRegression(),
    )
    grid = {"heatmapembedder__method": ["percentiles", "moments"]}
    search = GridSearchCV(pipe, grid, cv=GroupKFold(n_splits=4)).fit(X, y, groups=groups)
    assert search.best_score_ == 1.0
    assert search.predict(X).shape == (n,)


@pytest.mark.parametrize("method", ["percentiles", "histogram", "eigenfaces", "moments"])
def test_pickle_round_trip_keeps_the_transform(method):
    X = recordings()
    embedder = HeatmapEmbedder(method, n_components=2, standardize=True).fit(X)
    restored = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(restored.transform(X), embedder.transform(X))


def test_clone_keeps_parameters_and_drops_fit():
    mask = np.ones((6, 5), dtype=bool)
    embedder = HeatmapEmbedder("histogram", bins=[30, 31, 32], mask=mask).fit(recordings())
    copy = clone(embedder)
    assert copy.get_params()["bins"] == [30, 31, 32]
    assert not hasattr(copy, "n_features_in_")


def test_refit_with_another_method_forgets_the_old_state():
    X = recordings()
    embedder = HeatmapEmbedder("eigenfaces", n_components=2).fit(X)
    embedder.set_params(method="moments").fit(X)
    assert not hasattr(embedder, "components_")


# Not checked here, with the reason:
# - method="moments" needs the frame geometry (I, J), and sklearn's checks feed 2-D data of
#   flattened frames, so it raises without frame_shape. A fixed frame_shape cannot help either:
#   the checks fit data of several widths (n_features 1, 2, 3, 5, 10, ...), and frame_shape
#   must match each. Its sklearn behaviour (clone, pickle, pipelines, grid search) is tested above.
# - method="eigenfaces" with the default n_components=8: the checks' data have fewer than 8
#   features, so fit raises the n_components error tested below; n_components=1 is checked.
@parametrize_with_checks(
    [
        HeatmapEmbedder(),
        HeatmapEmbedder(method="histogram"),
        HeatmapEmbedder("histogram", bin_range=(-3.0, 3.0)),
        HeatmapEmbedder("histogram", bins=[-300.0, 0.0, 1.0, 300.0], density=True),
        HeatmapEmbedder("eigenfaces", n_components=1),
        HeatmapEmbedder("eigenfaces", n_components=1, standardize=True),
        HeatmapEmbedder(percentiles=[10, 90], standardize=True, chunk_size=3),
    ]
)
def test_sklearn_checks_for_every_method(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("params", "X", "match"),
    [
        ({}, np.zeros(5), "expects 2-D or 3-D or 4-D input"),
        ({}, np.zeros((2, 3, 4, 5, 6)), "got an array with 5 dimension"),
        ({"percentiles": [5, 101]}, np.zeros((2, 4)), r"percentiles must lie in \[0, 100\]"),
        ({"percentiles": [-1]}, np.zeros((2, 4)), r"percentiles must lie in \[0, 100\]"),
        ({"percentiles": [5, 5]}, np.zeros((2, 4)), "percentiles must be distinct"),
        ({"mask": np.zeros((2, 2), bool)}, np.zeros((1, 2, 2, 2)), "mask is empty"),
        ({"mask": np.ones((3, 3), bool)}, np.zeros((1, 2, 2, 2)), r"mask has shape \(3, 3\)"),
        ({"mask": np.ones((2, 2))}, np.zeros((1, 2, 2, 2)), "mask must be a boolean array"),
        ({"method": "moments"}, np.zeros((1, 2, 6)), "method='moments' needs the frame"),
        ({"frame_shape": (4, 4)}, np.zeros((1, 2, 6)), r"frame_shape=\(4, 4\) has 16 pixels"),
        ({"frame_shape": (3, 2)}, np.zeros((1, 2, 2, 3)), "disagrees with the 4-D input"),
        ({"method": "histogram", "bins": [1, 0]}, np.zeros((2, 4)), "increase strictly"),
        (
            {"method": "histogram", "bins": [0, 1], "bin_range": (0, 1)},
            np.zeros((2, 4)),
            "bin_range is only used when bins is an int",
        ),
        ({"method": "histogram", "bin_range": (2, 1)}, np.zeros((2, 4)), "low < high"),
    ],
)
def test_bad_input_raises_a_clear_error(params, X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        HeatmapEmbedder(**params).fit(X)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
@pytest.mark.parametrize("layout", ["heatmaps", "series"])
def test_infinite_values_are_reported_by_recording_and_frame(value, layout):
    X = recordings()
    X[1, 3, 2, 2] = value
    if layout == "series":
        X = X.reshape(3, 7, 30)
    where = re.escape("X contains infinity (first in recording 1, frame 3)")
    with pytest.raises(ValueError, match=where):
        HeatmapEmbedder().fit(recordings().reshape(X.shape)).transform(X)
    with pytest.raises(ValueError, match=where):
        # flat frame 1 * 7 + 3 = 10 lies in the third chunk of 4 frames
        HeatmapEmbedder(percentiles=[50], chunk_size=4).fit(X)


def test_infinite_value_in_2d_frames_is_reported_as_in_a_recording_of_one_frame():
    X = recordings()[:2].reshape(-1, 30)  # 14 frames: recordings of length 1
    X[9, 4] = np.inf
    with pytest.raises(ValueError, match=re.escape("(first in recording 9, frame 0)")):
        HeatmapEmbedder("histogram", bins=[30.0, 36.0]).fit(X)


def test_transposed_frames_are_rejected_naming_both_shapes():
    embedder = HeatmapEmbedder().fit(np.zeros((1, 2, 4, 6)) + 30)
    match = (
        r"X has frames of shape \(6, 4\), but HeatmapEmbedder was fitted on frames of shape "
        r"\(4, 6\).*Pass frames of shape \(4, 6\)"
    )
    with pytest.raises(ValueError, match=match):
        embedder.transform(np.zeros((1, 2, 6, 4)))
    with pytest.raises(ValueError, match=match):
        embedder.partial_fit(np.zeros((1, 2, 6, 4)))


@pytest.mark.parametrize(
    ("fit_shape", "X_shape", "received", "fitted"),
    [
        ((1, 2, 4, 6), (1, 2, 5, 5), "shape (5, 5)", "shape (4, 6)"),
        ((1, 2, 4, 6), (3, 20), "20 values (flattened)", "shape (4, 6)"),
        ((1, 2, 24), (1, 2, 5, 5), "shape (5, 5)", "24 values (flattened)"),
    ],
)
def test_pixel_count_mismatch_names_both_frame_shapes(fit_shape, X_shape, received, fitted):
    embedder = HeatmapEmbedder().fit(np.zeros(fit_shape) + 30)
    n_received = int(np.prod(X_shape[2:] if len(X_shape) > 2 else X_shape[1:]))
    # sklearn's wording first, as its check_n_features_in_after_fitting expects
    match = re.escape(
        f"X has {n_received} features, but HeatmapEmbedder is expecting 24 features as input: "
        f"the frames of X have {received}, but the fitted frames had {fitted}. Pass frames of "
        "the fitted size"
    )
    with pytest.raises(ValueError, match=match):
        embedder.transform(np.zeros(X_shape))
    with pytest.raises(ValueError, match=match):
        embedder.transform(np.zeros(X_shape).tolist())


@pytest.mark.parametrize(
    ("params", "X_shape", "match"),
    [
        (  # the default n_components=8 on 6 frames
            {},
            (2, 3, 4, 6),
            r"n_components=8 is too large for method='eigenfaces': fit found 6 non-empty "
            r"training frame\(s\) of 24 pixel\(s\), which give at most 6 eigenface\(s\)\. "
            r"To fix it, set n_components <= 6, or fit on more frames\.",
        ),
        (  # 4 pixels inside the mask
            {"n_components": 5, "mask": np.eye(4, 6, dtype=bool)},
            (2, 5, 4, 6),
            r"10 non-empty training frame\(s\) of 4 pixel\(s\) inside the mask, which give "
            r"at most 4 eigenface\(s\)\. To fix it, set n_components <= 4, or use a larger mask",
        ),
        (
            {"n_components": 6, "svd_solver": "arpack"},
            (2, 3, 4, 6),
            r"at most 5 eigenface\(s\)\. .*use svd_solver='full'",
        ),
    ],
)
def test_too_many_eigenfaces_for_the_data_is_a_clear_error(params, X_shape, match):
    X = 33 + np.random.default_rng(0).normal(size=X_shape)
    with pytest.raises(ValueError, match=match):
        HeatmapEmbedder("eigenfaces", **params).fit(X)


@pytest.mark.parametrize("svd_solver", ["full", "arpack", "randomized"])
@pytest.mark.parametrize("X_shape", [(2, 3, 4, 6), (2, 5, 2, 2)])  # fewer frames; fewer pixels
def test_eigenface_count_limit_is_sklearn_pcas(svd_solver, X_shape):
    X = 33 + np.random.default_rng(0).normal(size=X_shape)
    frames = X.reshape(X_shape[0] * X_shape[1], -1)
    for n_components in range(1, 9):
        try:
            PCA(n_components, svd_solver=svd_solver, random_state=0).fit(frames)
            pca_fits = True
        except ValueError:
            pca_fits = False
        embedder = HeatmapEmbedder(
            "eigenfaces", n_components=n_components, svd_solver=svd_solver, random_state=0
        )
        if pca_fits:
            assert embedder.fit(X).n_components_ == n_components
        else:
            with pytest.raises(ValueError, match="too large for method='eigenfaces'"):
                embedder.fit(X)


def test_first_partial_fit_batch_must_hold_n_components_frames():
    X = 33 + np.random.default_rng(0).normal(size=(1, 3, 4, 6))
    with pytest.raises(ValueError, match=r"the first partial_fit batch has 3 non-empty"):
        HeatmapEmbedder("eigenfaces", n_components=4).partial_fit(X)
    embedder = HeatmapEmbedder("eigenfaces", n_components=4)
    embedder.partial_fit(np.concatenate([X, X + 1], axis=1))
    embedder.partial_fit(X)  # later batches may be smaller
    assert embedder.n_frames_seen_ == 9


def test_method_parameter_is_validated():
    with pytest.raises(ValueError, match="'method' parameter"):
        HeatmapEmbedder(method="wavelets").fit(np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("percentiles", "match"),
    [
        ("p50", r"'percentiles' parameter of HeatmapEmbedder must be an array-like"),
        (50, r"'percentiles' parameter of HeatmapEmbedder must be an array-like"),
        ([[5, 50]], r"percentiles must be a non-empty 1-D list of numbers, got \[\[5, 50\]\]"),
        ([], r"percentiles must be a non-empty 1-D list of numbers, got \[\]"),
        ([5, np.nan], r"percentiles must lie in \[0, 100\], got \[5, nan\]"),
    ],
)
def test_percentiles_parameter_is_validated(percentiles, match):
    with pytest.raises(ValueError, match=match):
        HeatmapEmbedder(percentiles=percentiles).fit(np.zeros((2, 3)))


# --------------------------------------------------------------------------- torch twin


def twin_output(embedder, X, **kwargs):
    return embedder.to_torch(**kwargs)(torch.from_numpy(np.asarray(X, np.float64)))


@pytest.mark.parametrize("method", ["percentiles", "histogram", "eigenfaces", "moments"])
@pytest.mark.parametrize("standardize", [False, True])
def test_twin_equals_transform_in_float64(method, standardize):
    X = recordings()
    mask = np.ones((6, 5), dtype=bool)
    mask[0, 0] = False
    embedder = HeatmapEmbedder(
        method, percentiles=PERCENTILES, n_components=3, mask=mask, standardize=standardize
    ).fit(X)
    expected = embedder.transform(X)
    got = twin_output(embedder, X).detach().numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_twin_rejects_frames_of_another_shape_as_transform_does():
    embedder = HeatmapEmbedder("moments").fit(33 + np.zeros((2, 3, 4, 6)))
    twin = embedder.to_torch()
    for shape in [(2, 3, 6, 4), (2, 3, 5, 5), (2, 3, 20)]:
        X = np.zeros(shape)
        with pytest.raises(ValueError) as expected:
            embedder.transform(X)
        message = str(expected.value).replace("HeatmapEmbedder", "the HeatmapEmbedder twin")
        with pytest.raises(ValueError, match=re.escape(message)):
            twin(torch.from_numpy(X))


@pytest.mark.parametrize("ndim", [2, 3])
def test_twin_accepts_the_transform_layouts(ndim):
    X = recordings()[:2, :3]
    X = X.reshape(-1, 30) if ndim == 2 else X.reshape(2, 3, 30)
    embedder = HeatmapEmbedder("moments", frame_shape=(6, 5)).fit(X)
    np.testing.assert_allclose(
        twin_output(embedder, X).detach().numpy(), embedder.transform(X), atol=1e-10
    )


def test_twin_histogram_density_equals_transform():
    X = recordings()
    embedder = HeatmapEmbedder("histogram", bins=5, density=True).fit(X)
    np.testing.assert_allclose(
        twin_output(embedder, X).detach().numpy(), embedder.transform(X), atol=1e-10
    )


def test_soft_histogram_recovers_hard_counts_as_temperature_vanishes():
    X = recordings()
    embedder = HeatmapEmbedder("histogram", bins=[30.0, 32.0, 33.0, 34.0, 36.0]).fit(X)
    hard = embedder.transform(X)
    errors = [
        np.nanmax(np.abs(twin_output(embedder, X, temperature=tau).detach().numpy() - hard))
        for tau in (0.3, 0.03, 1e-7)
    ]
    assert errors[0] > errors[1] > 0
    assert errors[2] < 1e-10


def test_straight_through_histogram_is_hard_forward_with_soft_gradient():
    X = torch.from_numpy(recordings()[:1, :2]).requires_grad_(True)
    embedder = HeatmapEmbedder("histogram", bins=4).fit(X.detach().numpy())
    out = embedder.to_torch(temperature=0.2, straight_through=True)(X)
    np.testing.assert_allclose(
        out.detach().numpy(), embedder.transform(X.detach().numpy()), atol=1e-10
    )
    out[..., 0].sum().backward()
    grad = X.grad.numpy()
    assert np.isfinite(grad[~np.isnan(X.detach().numpy())]).all()
    assert np.abs(np.nan_to_num(grad)).sum() > 0


@pytest.mark.parametrize("method", ["percentiles", "eigenfaces", "moments"])
def test_twin_gradients_match_finite_differences(method):
    rng = np.random.default_rng(5)
    X = torch.from_numpy(33 + rng.normal(size=(1, 2, 3, 4))).requires_grad_(True)
    embedder = HeatmapEmbedder(method, percentiles=[10, 50, 80], n_components=2)
    module = embedder.fit(X.detach().numpy()).to_torch()
    assert torch.autograd.gradcheck(module, (X,), eps=1e-6, atol=1e-5)


def test_twin_gradients_are_finite_with_padding_and_dead_pixels():
    for method in ("percentiles", "histogram", "eigenfaces", "moments"):
        X = torch.from_numpy(recordings()).requires_grad_(True)
        embedder = HeatmapEmbedder(method, n_components=2).fit(X.detach().numpy())
        kwargs = {"temperature": 0.5} if method == "histogram" else {}
        module = embedder.to_torch(**kwargs)
        torch.nan_to_num(module(X)).sum().backward()
        for parameter in module.parameters():
            assert torch.isfinite(parameter.grad).all(), method
        finite = ~torch.isnan(X)
        assert torch.isfinite(X.grad[finite]).all(), method


def test_orthogonal_eigenfaces_start_equal_and_stay_orthonormal():
    X = recordings()
    embedder = HeatmapEmbedder("eigenfaces", n_components=3).fit(X)
    module = embedder.to_torch(orthogonal=True)
    np.testing.assert_allclose(
        twin_output(embedder, X, orthogonal=True).detach().numpy(),
        embedder.transform(X),
        atol=1e-10,
    )
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    torch.nan_to_num(module(torch.from_numpy(X))).pow(2).sum().backward()
    optimizer.step()
    weight = module.features.projection.weight
    np.testing.assert_allclose((weight @ weight.T).detach().numpy(), np.eye(3), atol=1e-10)


def test_to_torch_rejects_options_of_other_methods():
    embedder = HeatmapEmbedder().fit(recordings())
    with pytest.raises(ValueError, match="apply to method='histogram'"):
        embedder.to_torch(temperature=0.1)
    with pytest.raises(ValueError, match="orthogonal applies to method='eigenfaces'"):
        embedder.to_torch(orthogonal=True)
    histogram = HeatmapEmbedder("histogram").fit(recordings())
    with pytest.raises(ValueError, match=re.escape("straight_through=True needs a temperature")):
        histogram.to_torch(straight_through=True)


@pytest.mark.parametrize("method", ["percentiles", "histogram", "eigenfaces"])
def test_from_torch_writes_trained_parameters_back(method):
    X = recordings()
    embedder = HeatmapEmbedder(method, percentiles=[10, 50, 90], n_components=2).fit(X)
    module = embedder.to_torch(**({"temperature": 0.3} if method == "histogram" else {}))
    optimizer = torch.optim.SGD(module.parameters(), lr=1e-3)
    torch.nan_to_num(module(torch.from_numpy(X))).pow(2).mean().backward()
    optimizer.step()
    trained = {name: p.detach().clone() for name, p in module.named_parameters()}
    embedder.from_torch(module)
    hard_twin = embedder.to_torch()  # rebuilt from the written-back attributes
    for name, parameter in hard_twin.named_parameters():
        np.testing.assert_allclose(parameter.detach(), trained[name], atol=1e-12)
    np.testing.assert_allclose(
        hard_twin(torch.from_numpy(X)).detach().numpy(), embedder.transform(X), atol=1e-10
    )


def test_from_torch_rejects_edges_that_stopped_increasing():
    embedder = HeatmapEmbedder("histogram", bins=3).fit(recordings())
    module = embedder.to_torch()
    with torch.no_grad():
        module.features.edges[1] = module.features.edges[3]
    with pytest.raises(ValueError, match="no longer increasing"):
        embedder.from_torch(module)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", ["percentiles", "histogram", "eigenfaces", "moments"])
def test_twin_on_cuda_equals_transform(method):
    X = recordings()
    embedder = HeatmapEmbedder(method, n_components=2).fit(X)
    out = embedder.to_torch(device="cuda")(torch.from_numpy(X).cuda())
    np.testing.assert_allclose(out.cpu().numpy(), embedder.transform(X), atol=1e-10)
