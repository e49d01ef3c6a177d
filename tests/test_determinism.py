"""Determinism: the same random_state gives bitwise-identical results on the CPU,
and fitting or transforming never touches the global NumPy, Python or torch RNGs;
likewise for a TwoStageSearchCV over a pipeline of our stages.

The catalogue of fitted estimators (``ESTIMATORS``, ``fitted``, ``outputs``) is
shared with ``test_persistence.py``.
"""

import random

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.datasets import make_thermal_faces
from skheatmap.ica import NonlinearICAEncoder
from skheatmap.search import TwoStageSearchCV

torch = pytest.importorskip("torch")

_ICA = dict(max_epochs=3, hidden_layer_sizes=(8,), segment_length=50, batch_size=64, n_jobs=1)
_PAIRS = np.array([[0, 1], [0, 2], [1, 3], [2, 5], [4, 5]])

# name -> (unfitted estimator, input it is fitted on: "heatmaps", "channels" or "sources")
ESTIMATORS = {
    "embedder-percentiles": (HeatmapEmbedder(), "heatmaps"),
    "embedder-eigenfaces-randomized": (
        HeatmapEmbedder(method="eigenfaces", n_components=3, svd_solver="randomized"),
        "heatmaps",
    ),
    "embedder-histogram-standardized": (
        HeatmapEmbedder(method="histogram", bins=6, standardize=True),
        "heatmaps",
    ),
    "wavelet-swt": (WaveletBandReconstructor(level=2, keep=["d1", "d2"], method="swt"), "channels"),
    "ica-tcl": (NonlinearICAEncoder(objective="tcl", **_ICA), "sources"),
    "ica-pcl": (NonlinearICAEncoder(objective="pcl", **_ICA), "sources"),
    "ica-ivae-ema": (NonlinearICAEncoder(objective="ivae", ema_decay=0.9, **_ICA), "sources"),
    "classifier": (SoftDTWPairClassifier(max_epochs=3, validation_fraction=0.0), "channels"),
    "classifier-end-to-end": (
        SoftDTWPairClassifier(
            encoder=make_pipeline(HeatmapEmbedder(method="moments"), WaveletBandReconstructor()),
            max_epochs=2,
            validation_fraction=0.0,
        ),
        "heatmaps",
    ),
}
# (the classifiers here see every recording in one batch, so no draw changes them)
STOCHASTIC = ["embedder-eigenfaces-randomized", "ica-tcl", "ica-pcl", "ica-ivae-ema"]


@pytest.fixture(scope="module", name="data")
def data_fixture():
    """Each kind of input as ``(X, y)``."""
    faces = make_thermal_faces(
        n_subjects=3, n_segments=2, n_frames=48, frame_shape=(8, 8), random_state=0
    )
    channels = HeatmapEmbedder(method="moments").fit_transform(faces.X)
    # mixed Laplace sources whose scales change every 50 frames (what TCL identifies)
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.1, 1.0, size=(8, 1, 3))
    sources = (rng.laplace(size=(8, 50, 3)) * scales).reshape(2, 200, 3)
    return {
        "heatmaps": (faces.X, faces.y),
        "channels": (channels, faces.y),
        "sources": (np.tanh(sources @ rng.normal(size=(3, 3))), None),
    }


def fitted(name, data, random_state=0):
    """A fresh clone of ``ESTIMATORS[name]`` fitted on its input."""
    estimator, kind = ESTIMATORS[name]
    estimator = clone(estimator)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=random_state)
    return estimator.fit(*data[kind])


def outputs(name, estimator, data):
    """What a user gets out of the fitted estimator, as a list of arrays."""
    X = data[ESTIMATORS[name][1]][0]
    if isinstance(estimator, SoftDTWPairClassifier):
        return [estimator.predict_pair_proba(X, _PAIRS), estimator.encode(X), estimator.predict(X)]
    return [estimator.transform(X)]


def _identical(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", ESTIMATORS)
def test_same_random_state_gives_bitwise_identical_outputs(name, data):
    first = outputs(name, fitted(name, data), data)
    second = outputs(name, fitted(name, data), data)
    assert all(_identical(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("name", STOCHASTIC)
def test_another_random_state_gives_other_outputs(name, data):
    # the check above would pass for a constant output; this one would not
    first = outputs(name, fitted(name, data, random_state=0), data)[0]
    second = outputs(name, fitted(name, data, random_state=1), data)[0]
    assert not _identical(first, second)


@pytest.mark.parametrize("name", ["ica-tcl", "classifier"])
def test_fitted_torch_weights_are_bitwise_identical(name, data):
    first = fitted(name, data).module_.state_dict()
    second = fitted(name, data).module_.state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def _global_rng_states():
    return (
        np.random.get_state()[1].tobytes(),  # noqa: NPY002 - the global RNG is the subject
        np.random.get_state()[2],  # noqa: NPY002
        random.getstate(),
        torch.get_rng_state().numpy().tobytes(),
    )


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fit_and_transform_leave_the_global_rngs_untouched(name, data):
    np.random.seed(12345)  # noqa: NPY002
    random.seed(12345)
    torch.manual_seed(12345)
    before = _global_rng_states()
    outputs(name, fitted(name, data), data)
    assert _global_rng_states() == before


def test_random_state_none_does_not_consume_the_global_torch_rng(data):
    # random_state=None draws from NumPy's global RNG (sklearn's convention),
    # but torch's global generator must stay as the user left it
    torch.manual_seed(7)
    before = torch.get_rng_state()
    fitted("ica-pcl", data, random_state=None)
    assert torch.equal(torch.get_rng_state(), before)


# ------------------------------------------------------------------ searches


@pytest.fixture(scope="module")
def faces():
    return make_thermal_faces(
        n_subjects=4, n_segments=2, n_frames=32, frame_shape=(8, 8), random_state=0
    )


def searched(faces, random_state=0):
    """A small TwoStageSearchCV (random Stage-A points, a TPE trial, a refit) fitted on faces."""
    pytest.importorskip("optuna")
    pipe = make_pipeline(
        HeatmapEmbedder(),
        WaveletBandReconstructor(level=1),
        SoftDTWPairClassifier(max_epochs=2, validation_fraction=0.0, random_state=0),
    )
    search = TwoStageSearchCV(
        pipe, {"heatmapembedder__method": ["moments", "percentiles"]}, cv=2, top_k=1,
        n_trials=2, n_candidates_per_branch=2, min_resources=2, random_state=random_state,
    )  # fmt: skip
    return search.fit(faces.X, faces.y, groups=faces.groups)


def test_search_with_the_same_random_state_gives_bitwise_identical_results(faces):
    first, second = searched(faces), searched(faces)
    scores = [key for key in first.cv_results_ if key.endswith("_test_score")]
    assert set(first.cv_results_["stage"]) == {"A", "B"}
    assert all(_identical(first.cv_results_[k], second.cv_results_[k]) for k in scores)
    assert first.best_params_ == second.best_params_


def test_search_leaves_the_global_rngs_untouched(faces):
    np.random.seed(12345)  # noqa: NPY002
    random.seed(12345)
    torch.manual_seed(12345)
    before = _global_rng_states()
    searched(faces)
    assert _global_rng_states() == before
