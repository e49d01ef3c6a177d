"""Tests of the wavelet band reconstructor Ω against PyWavelets run channel by channel."""

import pickle
import re

import numpy as np
import pytest
import pywt
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skheatmap import to_dataset
from skheatmap.wavelet import (
    WaveletBandReconstructor,
    min_length,
    nominal_passbands,
    probe_operator,
    swt_extension,
)

torch = pytest.importorskip("torch")

# Six families: orthogonal (haar, db, sym, coif) and biorthogonal (bior, rbio).
WAVELETS = ["haar", "db4", "sym5", "coif2", "bior3.5", "rbio2.2"]
MODES = pywt.Modes.modes
METHODS = ["dwt", "swt"]
ODD_LENGTHS = [37, 71]


def names_for(level):
    """Band names in PyWavelets' coefficient order, written out independently."""
    return ["a"] + [f"d{j}" for j in range(level, 0, -1)]


def pywt_dwt_bands(x, wavelet, mode, level, gains):
    coeffs = pywt.wavedec(x, wavelet, mode=mode, level=level)
    weighted = [g * c for g, c in zip(gains, coeffs, strict=True)]
    return pywt.waverec(weighted, wavelet, mode=mode)[: len(x)]


def pywt_swt_bands(x, wavelet, mode, level, gains):
    before, after = swt_extension(len(x), level, pywt.Wavelet(wavelet).dec_len, mode)
    padded = pywt.pad(x, (before, after), "periodic" if mode == "periodization" else mode)
    coeffs = pywt.swt(padded, wavelet, level=level, trim_approx=True)
    weighted = [g * c for g, c in zip(gains, coeffs, strict=True)]
    return pywt.iswt(weighted, wavelet)[before : before + len(x)]


ORACLES = {"dwt": pywt_dwt_bands, "swt": pywt_swt_bands}


def channel_by_channel(X, method, **settings):
    """The oracle: one 1-D PyWavelets call per recording and channel."""
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        for k in range(X.shape[2]):
            out[i, :, k] = ORACLES[method](X[i, :, k], **settings)
    return out


def series(n, T, K, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(n, T, K)).astype(dtype)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_band_reconstruction_matches_pywavelets_channel_by_channel(wavelet, mode, method):
    for T in ODD_LENGTHS:
        X = series(3, T, 2, seed=T)
        top = pywt.dwt_max_level(T, pywt.Wavelet(wavelet).dec_len)
        for level in sorted({1, min(2, top), top}):
            names = names_for(level)
            keep = ["a", "d1"] if level == 1 else ["a", names[1], "d1"]
            gains = [{"a": 1.0, "d1": 0.5}.get(b, 1.0) if b in keep else 0.0 for b in names]
            omega = WaveletBandReconstructor(
                wavelet, level=level, mode=mode, keep=keep, band_gains={"d1": 0.5}, method=method
            )
            expected = channel_by_channel(
                X, method, wavelet=wavelet, mode=mode, level=level, gains=gains
            )
            np.testing.assert_allclose(omega.fit_transform(X), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_keeping_every_band_reconstructs_the_input(mode, method, dtype, atol):
    # perfect reconstruction to 1e-10 in float64; float32 rounding allows 1e-5
    X = series(4, 53, 3, dtype=dtype)
    for wavelet in WAVELETS:
        Y = WaveletBandReconstructor(wavelet, mode=mode, method=method).fit_transform(X)
        assert Y.dtype == dtype
        np.testing.assert_allclose(Y, X, rtol=0, atol=atol)


def test_dmey_reconstructs_only_as_well_as_pywavelets_does():
    # pywt's discrete Meyer filters are a truncated approximation: not perfect reconstruction.
    X = series(2, 130, 2)
    Y = WaveletBandReconstructor("dmey", level=1).fit_transform(X)
    expected = channel_by_channel(
        X, "dwt", wavelet="dmey", mode="symmetric", level=1, gains=[1.0, 1.0]
    )
    np.testing.assert_allclose(Y, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("wavelet", ["haar", "db4", "sym6", "coif3"])
def test_band_selection_is_a_projection_for_orthogonal_wavelets(wavelet):
    X = series(3, 256, 2)
    for keep in (["a"], ["d1", "d3"], ["a", "d2"]):
        omega = WaveletBandReconstructor(wavelet, level=3, mode="periodization", keep=keep)
        once = omega.fit_transform(X)
        np.testing.assert_allclose(omega.transform(once), once, rtol=0, atol=1e-10)
        # orthogonal projection: the residual is orthogonal to the kept part
        assert abs(np.sum(once * (X - once))) < 1e-10 * np.sum(X**2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["symmetric", "smooth", "zero"])
def test_complementary_selections_add_up_to_the_input(mode, method):
    X = series(2, 61, 3)
    parts = [
        WaveletBandReconstructor("sym4", level=3, mode=mode, keep=keep, method=method)
        .fit_transform(X)
        for keep in (["a", "d2"], ["d3", "d1"])
    ]
    np.testing.assert_allclose(parts[0] + parts[1], X, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_padded_recordings_are_reconstructed_over_their_own_length(method):
    recordings = [series(1, T, 3, seed=T)[0] for T in (70, 41, 70, 55)]
    X = to_dataset(recordings)
    omega = WaveletBandReconstructor("db3", level=2, keep=["d1", "d2"], method=method)
    Y = omega.fit_transform(X)
    for i, rec in enumerate(recordings):
        alone = clone(omega).fit_transform(rec[np.newaxis])[0]
        np.testing.assert_allclose(Y[i, : len(rec)], alone, rtol=0, atol=1e-12)
        assert np.isnan(Y[i, len(rec) :]).all()


def test_all_padding_recording_stays_padding():
    X = series(2, 40, 2)
    X[1] = np.nan
    Y = WaveletBandReconstructor("db2", level=2, keep="d1").fit_transform(X)
    assert np.isnan(Y[1]).all() and np.isfinite(Y[0]).all()


def test_frames_are_series_of_length_one_passed_through_at_level_zero():
    X = series(5, 1, 4)[:, 0]
    omega = WaveletBandReconstructor().fit(X)
    assert omega.level_ == 0 and omega.band_names_ == ["a"]
    np.testing.assert_array_equal(omega.transform(X), X)
    gained = WaveletBandReconstructor(band_gains={"a": 2.0}).fit(X)
    np.testing.assert_array_equal(gained.transform(X), 2 * X)


def test_frames_cannot_be_decomposed_at_a_positive_level():
    with pytest.raises(ValueError, match=r"has 1 frames, too short for level=1 .*needs >= 14"):
        WaveletBandReconstructor("db4", level=1).fit(series(5, 1, 4)[:, 0])


def test_level_none_is_pywavelets_max_level_of_the_shortest_recording():
    X = to_dataset([series(1, T, 2, seed=T)[0] for T in (300, 120)])
    omega = WaveletBandReconstructor("sym4").fit(X)
    assert omega.level_ == pywt.dwt_max_level(120, pywt.Wavelet("sym4").dec_len) == 4
    assert omega.band_names_ == ["a", "d4", "d3", "d2", "d1"]


@pytest.mark.parametrize("wavelet", ["haar", "db4", "coif5", "bior6.8"])
def test_min_length_is_the_shortest_series_pywavelets_allows_at_that_level(wavelet):
    filter_length = pywt.Wavelet(wavelet).dec_len
    for level in range(1, 6):
        shortest = min_length(level, filter_length)
        assert pywt.dwt_max_level(shortest, filter_length) == level
        assert pywt.dwt_max_level(shortest - 1, filter_length) == level - 1


def test_band_frequencies_are_dyadic_octaves():
    omega = WaveletBandReconstructor("db2", level=3, fs=8.0).fit(series(1, 64, 1))
    expected = np.array([[0, 0.5], [0.5, 1], [1, 2], [2, 4]])
    np.testing.assert_array_equal(omega.band_frequencies_, expected)
    np.testing.assert_array_equal(nominal_passbands(3), expected / 8)


@pytest.mark.parametrize(
    ("hz", "bands"),
    [
        ((0.7, 1.5), ["d3", "d2"]),
        ((1.0, 2.0), ["d2"]),  # bands touching the range at one edge do not overlap it
        ((3.0, np.inf), ["d1"]),
        ((0.0, 0.1), ["a"]),
    ],
)
def test_frequency_range_keeps_the_bands_whose_nominal_passband_overlaps_it(hz, bands):
    X = series(2, 64, 2)
    omega = WaveletBandReconstructor("db2", level=3, keep=hz, fs=8.0).fit(X)
    assert omega.bands_ == bands
    by_name = WaveletBandReconstructor("db2", level=3, keep=bands).fit(X)
    np.testing.assert_array_equal(omega.transform(X), by_name.transform(X))


def test_gains_attribute_combines_selection_and_band_gains():
    omega = WaveletBandReconstructor(
        "db2", level=2, keep=["a", "d1"], band_gains={"d1": 0.25}
    ).fit(series(1, 40, 1))
    np.testing.assert_array_equal(omega.gains_, [1.0, 0.0, 0.25])
    assert omega.bands_ == ["a", "d1"]


def test_output_preserves_float32():
    X = series(3, 50, 2, dtype=np.float32)
    for method in METHODS:
        Y = WaveletBandReconstructor("db2", keep="d1", method=method).fit_transform(X)
        assert Y.dtype == np.float32 and Y.shape == X.shape


def test_feature_names_are_one_per_channel():
    omega = WaveletBandReconstructor("haar").fit(series(2, 16, 3))
    assert list(omega.get_feature_names_out()) == ["x0", "x1", "x2"]


# --- errors ----------------------------------------------------------------------------------


def test_unknown_wavelet_error_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown wavelet 'Sym5'. Did you mean 'sym5'") as error:
        WaveletBandReconstructor("Sym5").fit(series(1, 64, 1))
    listed = str(error.value)
    for name in pywt.wavelist(kind="discrete"):
        family = name.rstrip("0123456789")
        # numbered families are listed as ranges such as db1...db38
        assert name in listed or re.search(rf"{family}\d+\.\.\.{family}\d+", listed)
    assert "cgau" not in listed and "mexh" not in listed
    with pytest.raises(ValueError, match="Unknown wavelet 'morl'"):  # continuous: no DWT
        WaveletBandReconstructor("morl").fit(series(1, 64, 1))


def test_unknown_mode_error_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'mode' parameter .* among .*'antireflect'.*Got 'wrap'"):
        WaveletBandReconstructor(mode="wrap").fit(series(1, 64, 1))


def test_band_absent_at_this_level_is_an_error_listing_the_bands():
    msg = (
        r"keep names band\(s\) \['d4'\] that do not exist at level=3; the bands are \['a', 'd3'"
        r".*Raise `level` to 4 \(recordings of >= 16 frames with wavelet 'haar'\)"
    )
    with pytest.raises(ValueError, match=msg):
        WaveletBandReconstructor("haar", level=3, keep=["d1", "d4"]).fit(series(1, 64, 1))
    with pytest.raises(ValueError, match=r"band_gains names band\(s\) \['x'\]"):
        WaveletBandReconstructor("haar", level=3, band_gains={"x": 1.0}).fit(series(1, 64, 1))


def test_band_absent_after_level_none_resolved_to_zero_names_the_needed_length():
    X = series(2, 5, 1)
    # the oracle: db4's filter has 8 taps, so one level needs (8 - 1) * 2 = 14 frames
    assert pywt.dwt_max_level(5, 8) == 0 and pywt.dwt_max_level(14, 8) == 1
    msg = (
        r"keep names band\(s\) \['d1'\] that do not exist at level=0; .*level=None resolved the "
        r"level from the shortest fitted recording, which has 5 frames; wavelet 'db4' needs >= 14 "
        r"frames for level 1\. Fit on longer recordings, pick a wavelet with a shorter filter "
        r"\('haar' needs 2 frames\), or choose among these bands\.$"
    )
    with pytest.raises(ValueError, match=msg) as error:
        WaveletBandReconstructor("db4", keep=["d1"]).fit(X)
    assert "Raise `level`" not in str(error.value)  # raising level would fail on length
    with pytest.raises(ValueError, match=r"band_gains names band\(s\) \['d2'\].*needs >= 28"):
        WaveletBandReconstructor("db4", band_gains={"d2": 0.5}).fit(X)


def test_too_short_recording_error_says_the_minimum_length():
    X = to_dataset([series(1, 200, 1)[0], series(1, 100, 1)[0]])
    omega = WaveletBandReconstructor("db4", level=4)
    with pytest.raises(ValueError, match=r"Recording 1 has 100 frames, .*needs >= 112 frames"):
        omega.fit(X)
    fitted = WaveletBandReconstructor("db4", level=4).fit(X[:1])
    with pytest.raises(ValueError, match="needs >= 112 frames"):
        fitted.transform(X)


def test_frequency_range_without_fs_is_an_error():
    with pytest.raises(ValueError, match="frequency range in Hz, which needs the sampling rate"):
        WaveletBandReconstructor("haar", level=2, keep=(0.5, 1.0)).fit(series(1, 64, 1))


@pytest.mark.parametrize(
    ("keep", "error", "match"),
    [
        ([], ValueError, "keep is empty"),
        ((2.0, 1.0), ValueError, "expected 0 <= low < high"),
        ((30.0, 40.0), ValueError, "overlaps no band"),
        (["d1", 2.0], TypeError, "neither a list of band names"),
        ((1.0, 2.0, 3.0), TypeError, "neither a list of band names"),
    ],
)
def test_invalid_keep_is_an_error(keep, error, match):
    with pytest.raises(error, match=match):
        WaveletBandReconstructor("haar", level=2, keep=keep, fs=8.0).fit(series(1, 64, 1))


def test_gain_for_a_removed_band_is_an_error():
    omega = WaveletBandReconstructor("haar", level=2, keep=["d1"], band_gains={"d2": 0.5})
    with pytest.raises(ValueError, match=r"gives a gain to band 'd2', which keep=\['d1'\] removes"):
        omega.fit(series(1, 64, 1))


def test_non_finite_gain_is_an_error():
    omega = WaveletBandReconstructor("haar", level=2, band_gains={"d2": np.inf})
    with pytest.raises(ValueError, match=r"band_gains\['d2'\]=inf is not a finite"):
        omega.fit(series(1, 64, 1))


def test_nan_inside_a_recording_is_an_error():
    X = series(2, 64, 2)
    X[1, 10, 0] = np.nan
    with pytest.raises(ValueError, match="Recording 1 has NaN at frame 10, inside the recording"):
        WaveletBandReconstructor("haar", level=2).fit(X)


def test_four_dimensional_input_is_an_error():
    with pytest.raises(ValueError, match=r"expects 2-D or 3-D input"):
        WaveletBandReconstructor().fit(np.zeros((2, 16, 3, 3)))


# --- model selection and sklearn contract -----------------------------------------------------


def flatten(X):
    return X.reshape(len(X), -1)


def test_grid_search_over_wavelet_level_and_mode():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 64, 2))
    y = X[:, 20:40, 0].mean(axis=1) + 0.1 * rng.normal(size=30)
    pipe = make_pipeline(
        WaveletBandReconstructor(keep="a"), FunctionTransformer(flatten), Ridge(alpha=1.0)
    )
    grid = {
        "waveletbandreconstructor__wavelet": ["haar", "sym4"],
        "waveletbandreconstructor__level": [1, 3],
        "waveletbandreconstructor__mode": ["symmetric", "periodization"],
    }
    cv = KFold(3)
    search = GridSearchCV(pipe, grid, cv=cv).fit(X, y)
    assert len(search.cv_results_["params"]) == 8
    best = clone(pipe).set_params(**search.best_params_)
    np.testing.assert_allclose(search.best_score_, cross_val_score(best, X, y, cv=cv).mean())


def test_pickle_round_trip_keeps_the_transform():
    omega = WaveletBandReconstructor("sym3", level=2, keep="d2", method="swt").fit(series(2, 40, 2))
    restored = pickle.loads(pickle.dumps(omega))
    X = series(3, 40, 2, seed=1)
    np.testing.assert_array_equal(restored.transform(X), omega.transform(X))


@parametrize_with_checks([WaveletBandReconstructor(method="swt", keep=["a"], mode="smooth")])
def test_sklearn_common_checks_in_swt_configuration(estimator, check):
    # tests/test_common.py runs the checks with the defaults (method="dwt").
    check(estimator)


# --- thermal data ------------------------------------------------------------------------------


def region_series(faces):
    """(n, T, regions) mean temperature of each facial region, NaN padding kept."""
    masks = np.stack([faces.region_masks[r] for r in faces.regions], axis=1)  # (n, R, I, J)
    sums = np.einsum("ntij,nrij->ntr", faces.X, masks)
    clean = np.einsum("ntij,nrij->ntr", faces.X_clean, masks)
    counts = masks.sum(axis=(2, 3))[:, np.newaxis, :]
    return sums / counts, clean / counts


def test_dropping_fast_bands_denoises_thermal_region_series():
    from skheatmap.datasets import make_thermal_faces

    faces = make_thermal_faces(
        n_subjects=2, n_segments=2, n_frames=256, frame_shape=(16, 16), noise_std=1.0,
        min_length=160, random_state=0,
    )
    noisy, clean = region_series(faces)
    omega = WaveletBandReconstructor("sym4", keep=(0.0, 1.0), fs=faces.fs).fit(noisy)
    assert omega.bands_[-1] == "d3"  # 1-2 Hz and faster removed at fs=8
    denoised = omega.transform(noisy)
    assert np.array_equal(np.isnan(denoised), np.isnan(noisy))
    assert np.nanmean((denoised - clean) ** 2) < 0.5 * np.nanmean((noisy - clean) ** 2)


# --- operators -------------------------------------------------------------------------------


def dense_matrix(apply, n_in):
    return apply(np.eye(n_in)).T


def test_probe_operator_equals_the_dense_matrix_of_a_filter_bank():
    def apply(x):
        return pywt.dwt(x, "db3", "antireflect", axis=-1)[1]

    matrix = probe_operator(apply, 90, in_step=2, out_step=1, margin=10)
    np.testing.assert_array_equal(matrix.toarray(), dense_matrix(apply, 90))


def test_probe_operator_is_exact_for_maps_that_are_not_shift_invariant():
    def reverse_and_scale(x):
        return x[:, ::-1] * np.linspace(1, 2, x.shape[1])

    matrix = probe_operator(reverse_and_scale, 50, margin=2)
    np.testing.assert_array_equal(matrix.toarray(), dense_matrix(reverse_and_scale, 50))


# --- torch twin --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_torch_twin_equals_transform(mode, method):
    X = to_dataset([series(1, T, 2, seed=T)[0] for T in (60, 41, 47)])
    for wavelet in ("db3", "bior2.4", "coif1"):
        omega = WaveletBandReconstructor(
            wavelet, level=2, mode=mode, keep=["a", "d1"], band_gains={"a": 0.5}, method=method
        ).fit(X)
        y = omega.to_torch()(torch.from_numpy(X)).detach().numpy()
        np.testing.assert_allclose(y, omega.transform(X), rtol=0, atol=1e-10, equal_nan=True)


def test_torch_twin_handles_frames_and_float32():
    x = series(2, 32, 3, dtype=np.float32)
    for method in METHODS:
        omega = WaveletBandReconstructor("db2", keep="d1", method=method).fit(series(2, 32, 3))
        y = omega.to_torch()(torch.from_numpy(x))
        assert y.dtype == torch.float32
        np.testing.assert_allclose(y.detach().numpy(), omega.transform(x), rtol=0, atol=1e-5)
    frames = series(4, 1, 3)[:, 0]
    identity = WaveletBandReconstructor().fit(frames)
    np.testing.assert_array_equal(identity.to_torch()(torch.from_numpy(frames)).detach(), frames)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["symmetric", "periodization"])
def test_torch_twin_gradients_match_finite_differences(mode, method):
    omega = WaveletBandReconstructor("db2", level=2, mode=mode, keep=["a", "d2"], method=method)
    twin = omega.fit(series(1, 13, 1)).to_torch()
    x = torch.from_numpy(series(2, 13, 1, seed=3)).requires_grad_(True)
    # gradcheck perturbs `twin.gains` in place, so the module sees each perturbed value
    assert torch.autograd.gradcheck(lambda x, gains: twin(x), (x, twin.gains), fast_mode=True)


@pytest.mark.parametrize("method", METHODS)
def test_gain_gradient_is_the_band_reconstruction(method):
    # d/dg_b <w, Ω(x)> = <w, R_b x> where R_b keeps band b alone with gain 1
    X = series(2, 40, 2)
    omega = WaveletBandReconstructor("sym3", level=2, keep=["d1"], method=method).fit(X)
    twin = omega.to_torch()
    weights = series(2, 40, 2, seed=9)
    (twin(torch.from_numpy(X)) * torch.from_numpy(weights)).sum().backward()
    for b, band in enumerate(omega.band_names_):
        alone = clone(omega).set_params(keep=band).fit_transform(X)
        np.testing.assert_allclose(twin.gains.grad[b].item(), np.sum(weights * alone), atol=1e-10)


def test_torch_twin_gradient_is_zero_on_padding():
    X = to_dataset([series(1, 40, 2)[0], series(1, 30, 2, seed=1)[0]])
    twin = WaveletBandReconstructor("db2", level=2, keep="d2").fit(X).to_torch()
    x = torch.from_numpy(X).requires_grad_(True)
    twin(x).nan_to_num().sum().backward()
    assert (x.grad[1, 30:] == 0).all() and (x.grad[1, :30] != 0).any()


def test_torch_twin_rejects_recordings_too_short_for_the_level():
    twin = WaveletBandReconstructor("db4", level=3).fit(series(1, 64, 1)).to_torch()
    with pytest.raises(ValueError, match="needs >= 56 frames"):
        twin(torch.zeros(2, 50, 1, dtype=torch.float64))


def test_trained_gains_are_written_back_with_from_torch():
    X = series(3, 48, 2)
    omega = WaveletBandReconstructor("db2", level=2, keep=["d1"]).fit(X)
    twin = omega.to_torch()
    with torch.no_grad():
        twin.gains.copy_(torch.tensor([0.0, 0.3, 2.0], dtype=torch.float64))
    np.testing.assert_array_equal(omega.gains_, [0.0, 0.0, 1.0])  # untouched until written back
    omega.from_torch(twin)
    assert omega.bands_ == ["d2", "d1"]
    np.testing.assert_allclose(omega.transform(X), twin(torch.from_numpy(X)).detach(), atol=1e-10)
    other = WaveletBandReconstructor("db2", level=3).fit(X).to_torch()
    with pytest.raises(ValueError, match="The module computes"):
        omega.from_torch(other)


def test_torch_twin_pickles_without_its_operator_cache():
    omega = WaveletBandReconstructor("db2", level=2, keep="d1").fit(series(1, 32, 1))
    twin = omega.to_torch()
    x = torch.from_numpy(series(2, 32, 1, seed=4))
    expected = twin(x).detach()
    restored = pickle.loads(pickle.dumps(twin))
    assert restored._operators == {}
    torch.testing.assert_close(restored(x).detach(), expected, rtol=0, atol=0)


# PyWavelets' own round trip errs by ~1e-10 with these filters (stored to ~11 digits);
# "dmey" is a truncated approximation of the Meyer wavelet and errs by ~1e-2.
IMPRECISE_FILTERS = {"sym3": 1e-9, "sym20": 1e-9, "dmey": None}


@pytest.mark.slow
@pytest.mark.parametrize("wavelet", pywt.wavelist(kind="discrete"))
def test_every_discrete_wavelet_and_mode_reconstructs_and_matches_its_twin(wavelet):
    filter_length = pywt.Wavelet(wavelet).dec_len
    X = to_dataset([series(1, T, 2, seed=T)[0] for T in (4 * filter_length + 3, 5 * filter_length)])
    for mode in MODES:
        for method in METHODS:
            omega = WaveletBandReconstructor(wavelet, mode=mode, method=method).fit(X)
            tolerance = IMPRECISE_FILTERS.get(wavelet, 1e-10)
            if tolerance is not None:
                np.testing.assert_allclose(omega.transform(X), X, rtol=0, atol=tolerance)
            omega.set_params(keep=omega.band_names_[1:]).fit(X)
            y = omega.to_torch()(torch.from_numpy(X)).detach().numpy()
            np.testing.assert_allclose(y, omega.transform(X), rtol=0, atol=1e-10, equal_nan=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_twin_on_cuda_equals_transform():
    X = series(3, 64, 2)
    omega = WaveletBandReconstructor("db3", level=3, keep=["d2", "d3"]).fit(X)
    y = omega.to_torch("cuda")(torch.from_numpy(X).cuda()).cpu().detach().numpy()
    np.testing.assert_allclose(y, omega.transform(X), rtol=0, atol=1e-10)
