"""Search spaces (tagged union of branches), dimensions, complexity proxies and ablations."""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, ParameterGrid, ParameterSampler, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
from skheatmap.search import (
    Integer,
    Real,
    categorical_space,
    complexity_proxies,
    count_parameters,
    single_axis_ablation,
)
from skheatmap.search._optuna import import_optuna

AXES = {
    "heatmapembedder__method": ["percentiles", "histogram", "moments"],
    "waveletbandreconstructor__wavelet": ["haar", "db4"],
}


@pytest.fixture
def pipe():
    return make_pipeline(HeatmapEmbedder(), WaveletBandReconstructor(level=1))


# ------------------------------------------------------------------ the space


def test_branches_are_the_product_of_the_axes(pipe):
    space = categorical_space(pipe, AXES)
    expected = [
        {"heatmapembedder__method": m, "waveletbandreconstructor__wavelet": w}
        for m in AXES["heatmapembedder__method"]
        for w in AXES["waveletbandreconstructor__wavelet"]
    ]
    assert [b.choices for b in space] == expected
    assert len({b.tag for b in space}) == len(expected)


def test_continuous_space_depends_on_the_branch(pipe):
    space = categorical_space(pipe, AXES)
    by_method = {b.choices["heatmapembedder__method"]: b.dimensions for b in space}
    assert list(by_method["percentiles"]) == ["heatmapembedder__percentiles"]
    assert list(by_method["histogram"]) == ["heatmapembedder__bins"]
    assert by_method["moments"] == {}


def test_number_of_percentiles_becomes_evenly_spaced_levels(pipe):
    branch = categorical_space(pipe, AXES)[0]
    params = branch.params({"heatmapembedder__percentiles": 3})
    assert params["heatmapembedder__percentiles"] == (5.0, 50.0, 95.0)


def test_default_axes_are_method_and_wavelet(pipe):
    space = categorical_space(pipe)
    assert list(space.axes) == ["heatmapembedder__method", "waveletbandreconstructor__wavelet"]
    assert len(space) == 4 * 3


def test_axis_given_by_name_takes_its_default_values(pipe):
    space = categorical_space(pipe, ["waveletbandreconstructor__mode"])
    assert space.axes == {"waveletbandreconstructor__mode": ["symmetric", "periodization", "zero"]}


def test_param_grid_enumerates_exactly_the_branches(pipe):
    space = categorical_space(pipe, AXES)
    grid = list(ParameterGrid(space.param_grid))  # sklearn's own enumeration is the oracle
    assert grid == [b.choices for b in space]


def test_param_distributions_sample_inside_a_branch(pipe):
    space = categorical_space(pipe, AXES)
    for params in ParameterSampler(space.param_distributions, n_iter=30, random_state=0):
        branch = space.branch_of(params)
        assert set(params) == set(branch.choices) | set(branch.dimensions)
        if "heatmapembedder__bins" in params:
            assert 4 <= params["heatmapembedder__bins"] <= 16


HALVING_WITHOUT_EXPERIMENTAL_IMPORT = textwrap.dedent(
    """
    import sys

    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from skheatmap.search import Real, categorical_space

    assert "sklearn.experimental.enable_halving_search_cv" not in sys.modules
    X, y = make_classification(n_samples=90, random_state=0)
    space = categorical_space(
        LogisticRegression(), {"fit_intercept": [True, False]},
        continuous={"C": Real(0.01, 10.0, log=True)},
    )
    search = space.halving_search(LogisticRegression(), n_candidates=6, random_state=0, cv=3)
    search.fit(X, y)
    print(type(search).__name__, sorted({p["fit_intercept"] for p in search.cv_results_["params"]}))
    """
)


def test_halving_search_needs_no_experimental_import():
    # a fresh interpreter: in this one, another test may already have done the import
    result = subprocess.run([sys.executable, "-c", HALVING_WITHOUT_EXPERIMENTAL_IMPORT],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "HalvingRandomSearchCV [False, True]"


def test_optuna_distributions_match_the_dimensions(pipe):
    optuna = pytest.importorskip("optuna")
    histogram = categorical_space(pipe, AXES)[2]
    (distribution,) = histogram.optuna_distributions().values()
    assert distribution == optuna.distributions.IntDistribution(4, 16)


def test_classifier_objective_adds_lag_temperature():
    from skheatmap.classifier import SoftDTWPairClassifier

    space = categorical_space(
        SoftDTWPairClassifier(), {"objective": ["dtw", "lagged_corr"]}
    )
    assert "beta" not in space[0].dimensions
    assert {"beta", "lambda_corr", "gamma", "margin"} <= set(space[1].dimensions)


def test_unknown_axis_is_named_in_the_error(pipe):
    with pytest.raises(ValueError, match="'heatmapembedder__colour'"):
        categorical_space(pipe, {"heatmapembedder__colour": ["red"]})


def test_axis_without_default_values_asks_for_a_dict(pipe):
    with pytest.raises(ValueError, match="no default candidate values"):
        categorical_space(pipe, ["heatmapembedder__chunk_size"])


def test_empty_axis_is_rejected(pipe):
    with pytest.raises(ValueError, match="non-empty list"):
        categorical_space(pipe, {"heatmapembedder__method": []})


# ---------------------------------------------------------------- dimensions


def test_integer_dimension_draws_every_value_of_its_inclusive_range():
    draws = {Integer(2, 5).sample(seed) for seed in range(200)}
    assert draws == {2, 3, 4, 5}


def test_log_real_dimension_is_uniform_in_log_space():
    rng = np.random.RandomState(0)
    draws = np.log10([Real(1e-3, 1e3, log=True).sample(rng) for _ in range(4000)])
    # uniform on [-3, 3]: mean 0, variance 36/12
    assert abs(draws.mean()) < 0.1
    assert abs(draws.var() - 3.0) < 0.2


def test_center_is_the_geometric_middle_on_log_scale():
    assert math.isclose(Real(1e-2, 1e2, log=True).center, 1.0)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Real(1.0, 0.5), "low < high"),
        (lambda: Real(0.0, 1.0, log=True), "low > 0"),
        (lambda: Integer(1.5, 3), "integer bounds"),
        (lambda: Real(0.0, 1.0, default=2.0), "outside"),
    ],
)
def test_invalid_dimension_is_rejected(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_missing_optuna_names_the_search_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"skheatmap\[search\]"):
        import_optuna()


# --------------------------------------------------------- complexity proxies


def test_parameter_count_of_a_torch_stage_is_its_module_size():
    from skheatmap.classifier import SoftDTWPairClassifier

    X = np.random.default_rng(0).normal(size=(8, 6, 2))
    clf = SoftDTWPairClassifier(max_epochs=1, random_state=0).fit(X, [0, 1] * 4)
    assert count_parameters(clf) == sum(p.numel() for p in clf.module_.parameters())


def test_flops_and_latency_of_embedder_and_wavelet():
    import pywt

    X = 30 + np.random.default_rng(0).normal(size=(3, 16, 4, 4))
    pipe = make_pipeline(HeatmapEmbedder(method="eigenfaces", n_components=3),
                         WaveletBandReconstructor("db2", level=2)).fit(X)  # fmt: skip
    proxies = complexity_proxies(pipe, X)
    eigenfaces = 16 * 2 * 16 * 3  # T frames x 2 flops x 16 pixels x 3 components
    wavelet = 3 * 8 * pywt.Wavelet("db2").dec_len * 16  # K channels x filter bank over T
    assert proxies["flops"] == eigenfaces + wavelet
    assert proxies["n_params"] == count_parameters(pipe[0]) + count_parameters(pipe[1])
    assert proxies["transform_latency"] > 0


def test_flops_count_one_soft_dtw_divergence_for_the_pair_classifier():
    from skheatmap.classifier import SoftDTWPairClassifier

    X = 30 + np.random.default_rng(0).normal(size=(8, 6, 4, 4))
    pipe = make_pipeline(HeatmapEmbedder(method="moments"),
                         SoftDTWPairClassifier(max_epochs=1, random_state=0))  # fmt: skip
    pipe.fit(X, [0, 1] * 4)
    moments = 6 * 20 * 16  # T frames x 20 flops x 16 pixels
    divergence = 3 * 6 * 6 * (3 * 9 + 10)  # 3 soft-DTWs of T x T cells over L=9 channels
    assert complexity_proxies(pipe, X)["flops"] == moments + divergence


def test_unknown_stage_has_nan_flops():
    X, y = make_classification(n_samples=30, random_state=0)
    proxies = complexity_proxies(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X)
    assert math.isnan(proxies["flops"])


# ------------------------------------------------------------------ ablation


def test_ablation_scores_each_value_against_cross_validation():
    X, y = make_classification(n_samples=80, random_state=0)
    groups = np.repeat(np.arange(8), 10)
    estimator = make_pipeline(StandardScaler(), LogisticRegression())
    axes = {"logisticregression__C": [0.01, 1.0], "standardscaler__with_std": [True, False]}
    table = single_axis_ablation(estimator, X, y, axes=axes, groups=groups, cv=4)
    assert list(table["axis"]) == ["base", "logisticregression__C", "standardscaler__with_std"]
    assert list(table["value"]) == [None, 0.01, False]
    base = {"logisticregression__C": 1.0, "standardscaler__with_std": True}
    for params, score in zip(table["params"], table["mean_test_score"], strict=True):
        candidate = estimator.set_params(**{**base, **params})
        oracle = cross_val_score(candidate, X, y, groups=groups, cv=GroupKFold(4)).mean()
        assert score == pytest.approx(oracle, abs=1e-12)
    scores = table["mean_test_score"]
    np.testing.assert_allclose(table["delta"], scores - scores[0])


def flatten_recordings(X):
    return X.reshape(len(X), -1)


def test_ablation_varies_the_padding_of_a_wavelet_stage_by_default():
    from skheatmap.datasets import make_thermal_faces

    faces = make_thermal_faces(n_subjects=4, n_segments=2, n_frames=32, frame_shape=(8, 8),
                               random_state=0)  # fmt: skip
    estimator = make_pipeline(
        HeatmapEmbedder(method="moments"), WaveletBandReconstructor(level=1),
        FunctionTransformer(flatten_recordings), LogisticRegression(),
    )  # fmt: skip
    table = single_axis_ablation(estimator, faces.X, faces.y, groups=faces.groups, cv=2)
    assert list(dict.fromkeys(table["axis"])) == [
        "base", "heatmapembedder__method", "waveletbandreconstructor__wavelet",
        "waveletbandreconstructor__mode",
    ]  # fmt: skip
    padding = table["axis"] == "waveletbandreconstructor__mode"
    assert list(table["value"][padding]) == ["periodization", "zero"]
    for params, score in zip(table["params"][padding], table["mean_test_score"][padding],
                             strict=True):  # fmt: skip
        candidate = clone(estimator).set_params(**params)
        oracle = cross_val_score(candidate, faces.X, faces.y, groups=faces.groups,
                                 cv=GroupKFold(2))  # fmt: skip
        assert score == pytest.approx(oracle.mean(), abs=1e-12)


def test_ablation_table_converts_to_a_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = make_classification(n_samples=40, random_state=0)
    frame = single_axis_ablation(LogisticRegression(), X, y, axes={"C": [0.1]}, cv=2,
                                 as_frame=True)  # fmt: skip
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["axis"]) == ["base", "C"]
