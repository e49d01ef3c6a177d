"""Persistence: pickle/joblib round trips, and the safe archive of skheatmap.persistence
that never unpickles code (so a received model cannot run anything on load)."""

import io
import json
import pickle
import random
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import make_pipeline
from test_determinism import ESTIMATORS, data_fixture, fitted, outputs  # noqa: F401 - fixture

from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
from skheatmap.persistence import FORMAT_VERSION, load, save

torch = pytest.importorskip("torch")


def _assert_same_outputs(name, original, restored, data):
    for a, b in zip(outputs(name, original, data), outputs(name, restored, data), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _safe_round_trip(estimator, tmp_path, **load_params):
    path = tmp_path / "model.skh"
    save(estimator, path)
    return load(path, **load_params)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_pickle_round_trip_gives_identical_outputs(name, data):
    estimator = fitted(name, data)
    _assert_same_outputs(name, estimator, pickle.loads(pickle.dumps(estimator)), data)


@pytest.mark.parametrize("name", ["embedder-eigenfaces-randomized", "ica-tcl", "classifier"])
def test_joblib_round_trip_gives_identical_outputs(name, data, tmp_path):
    estimator = fitted(name, data)
    joblib.dump(estimator, tmp_path / "model.joblib")
    _assert_same_outputs(name, estimator, joblib.load(tmp_path / "model.joblib"), data)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_safe_round_trip_gives_identical_outputs(name, data, tmp_path):
    estimator = fitted(name, data)
    restored = _safe_round_trip(estimator, tmp_path)
    assert type(restored) is type(estimator)
    _assert_same_outputs(name, estimator, restored, data)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_safe_round_trip_of_an_unfitted_estimator_keeps_its_parameters(name, tmp_path):
    estimator = ESTIMATORS[name][0]
    restored = _safe_round_trip(estimator, tmp_path)
    # repr compares nested estimators (the classifier's encoder pipeline) by value
    assert repr(restored.get_params()) == repr(estimator.get_params())


def test_safe_round_trip_keeps_the_fitted_attributes(data, tmp_path):
    estimator = fitted("embedder-eigenfaces-randomized", data)
    restored = _safe_round_trip(estimator, tmp_path)
    for name in ("components_", "mean_", "explained_variance_", "frame_shape_", "n_features_in_"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(estimator, name))
    assert type(restored.pca_) is type(estimator.pca_)


def test_ica_training_continues_identically_after_a_safe_round_trip(data, tmp_path):
    # partial_fit needs the optimiser state, EMA weights and RNG, not only the weights
    estimator = fitted("ica-ivae-ema", data)
    X = data["sources"][0]
    expected = pickle.loads(pickle.dumps(estimator)).partial_fit(X).transform(X)
    resumed = _safe_round_trip(estimator, tmp_path).partial_fit(X).transform(X)
    np.testing.assert_array_equal(resumed, expected)


@pytest.mark.parametrize("name", ["classifier-end-to-end", "ica-tcl"])
def test_safe_load_leaves_the_global_rngs_untouched(name, data, tmp_path):
    save(fitted(name, data), tmp_path / "model.skh")
    torch.manual_seed(3)
    np.random.seed(3)  # noqa: NPY002 - the global RNG is the subject
    random.seed(3)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()  # noqa: NPY002
    load(tmp_path / "model.skh")
    assert torch.equal(torch.get_rng_state(), before[0])
    np.testing.assert_array_equal(np.random.get_state()[1], before[1])  # noqa: NPY002
    assert random.getstate() == before[2]


def test_a_model_saved_with_a_cuda_device_loads_on_the_cpu(data, tmp_path):
    # a model trained on a GPU carries device="cuda"; its tensors and its device
    # parameter are mapped to load's device (the CPU by default)
    estimator = fitted("classifier", data)
    estimator.set_params(device="cuda")
    restored = _safe_round_trip(estimator, tmp_path)
    assert restored.device == "cpu"
    assert all(p.device.type == "cpu" for p in restored.module_.parameters())
    _assert_same_outputs("classifier", estimator.set_params(device="cpu"), restored, data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
def test_a_pickled_gpu_model_predicts_on_a_machine_without_cuda(data):
    X = data["channels"][0]
    estimator = fitted("classifier", data)
    expected = estimator.predict(X)
    with pytest.warns(UserWarning, match="no CUDA device is available here"):
        restored = pickle.loads(pickle.dumps(estimator.set_params(device="cuda")))
    assert restored.device == "cpu"
    np.testing.assert_array_equal(restored.predict(X), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_fitted_on_a_gpu_predicts_the_same_on_the_cpu(data, tmp_path):
    estimator = clone(ESTIMATORS["classifier"][0]).set_params(device="cuda", random_state=0)
    estimator.fit(*data["channels"])
    restored = _safe_round_trip(estimator, tmp_path)
    X = data["channels"][0]
    np.testing.assert_allclose(
        restored.predict_pair_proba(X, [[0, 1], [2, 3]]),
        estimator.predict_pair_proba(X, [[0, 1], [2, 3]]),
        rtol=1e-5,
    )


def test_archive_members_are_plain_json_npy_and_state_dicts(data, tmp_path):
    save(fitted("classifier-end-to-end", data), tmp_path / "model.skh")
    with zipfile.ZipFile(tmp_path / "model.skh") as archive:
        names = archive.namelist()
        document = json.loads(archive.read("skheatmap.json"))
        for name in names:
            if name.endswith(".npy"):
                np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
            elif name.endswith(".pt"):
                torch.load(io.BytesIO(archive.read(name)), weights_only=True)
    assert document["version"] == FORMAT_VERSION
    assert {n.rsplit(".", 1)[-1] for n in names} == {"json", "npy", "pt"}


class _Payload:
    """Runs code when unpickled, as a malicious file would."""

    ran = False

    def __reduce__(self):
        return (_Payload._run, ())

    @staticmethod
    def _run():
        _Payload.ran = True


def _edit_archive(path, edit):
    """Rewrite the archive at ``path`` after ``edit(document, members)`` changed it in place."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    document = json.loads(members.pop("skheatmap.json"))
    edit(document, members)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("skheatmap.json", json.dumps(document))
        for name, content in members.items():
            archive.writestr(name, content)


def _tamper(path, member_suffix, content):
    """Replace the first archive member ending in ``member_suffix`` by ``content``."""

    def replace(document, members):
        members[next(n for n in members if n.endswith(member_suffix))] = content

    _edit_archive(path, replace)


def test_tensor_member_with_pickled_code_is_refused_without_running_it(data, tmp_path):
    path = tmp_path / "model.skh"
    save(fitted("ica-pcl", data), path)
    buffer = io.BytesIO()
    torch.save({"weight": _Payload()}, buffer)
    _tamper(path, ".pt", buffer.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load(path)
    assert not _Payload.ran


def test_array_member_with_pickled_objects_is_refused(data, tmp_path):
    path = tmp_path / "model.skh"
    save(fitted("wavelet-swt", data), path)
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload()], dtype=object), allow_pickle=True)
    _tamper(path, ".npy", buffer.getvalue())
    with pytest.raises(ValueError, match="allow_pickle=False"):
        load(path)
    assert not _Payload.ran


def _rename_root_class(path, new_class):
    def rename(document, members):
        document["root"]["class"] = new_class

    _edit_archive(path, rename)


@pytest.mark.parametrize(
    "named, message",
    [
        ("os.system", "os.system, which is not a skheatmap or scikit-learn class"),
        ("sklearn.utils.deprecate", "not an estimator class"),
    ],
    ids=["outside-sklearn-and-skheatmap", "not-an-estimator"],
)
def test_archive_naming_an_untrusted_class_is_refused(named, message, tmp_path):
    path = tmp_path / "model.skh"
    save(WaveletBandReconstructor(), path)
    _rename_root_class(path, named)
    with pytest.raises(TypeError, match=message):
        load(path)


@pytest.mark.parametrize(
    "replace_module, message",
    [
        (True, "stores NonlinearICAEncoder.module_ as data, but it must be a torch module"),
        (False, "torch state for NonlinearICAEncoder does not fit the architecture"),
    ],
    ids=["module-replaced", "module-kept"],
)
def test_training_state_smuggled_under_a_class_alias_is_refused_without_running_it(
    replace_module, message, data, tmp_path, code_payload
):
    # a public alias of the class name, and torch-pickled code where the encoder
    # keeps the training state that partial_fit resumes from
    payload, marker = code_payload
    path = tmp_path / "model.skh"
    save(fitted("ica-pcl", data), path)
    code = io.BytesIO()
    torch.save({"model": payload}, code)
    payload = io.BytesIO()
    np.save(payload, np.frombuffer(code.getvalue(), dtype=np.uint8), allow_pickle=False)

    def smuggle(document, members):
        root = document["root"]
        root["class"] = "skheatmap.ica.NonlinearICAEncoder"
        members["arrays/payload.npy"] = payload.getvalue()
        attributes = root["attributes"]
        attributes["_training_state"] = {
            "kind": "ndarray",
            "file": "arrays/payload.npy",
            "scalar": False,
        }
        if replace_module:
            attributes["module_"] = 0  # makes partial_fit resume instead of starting afresh

    _edit_archive(path, smuggle)
    with pytest.raises(ValueError, match=message):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "version, message",
    [
        (1, "format version 1, written by an older skheatmap .* refit"),
        (FORMAT_VERSION, "the file is corrupted or was altered"),
    ],
)
def test_a_training_state_that_does_not_fit_names_an_older_format(
    version, message, data, tmp_path
):
    # version 1 kept the encoder's training state in another layout, which a
    # version-2 reader cannot rebuild: the error says so instead of "corrupted"
    path = tmp_path / "model.skh"
    save(fitted("ica-pcl", data), path)

    def older(document, members):
        document["version"] = version
        document["root"]["attributes"]["_training_state"] = {"kind": "dict", "items": []}

    _edit_archive(path, older)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_an_archive_naming_a_class_by_an_alias_still_rebuilds_its_modules(data, tmp_path):
    path = tmp_path / "model.skh"
    estimator = fitted("ica-tcl", data)
    save(estimator, path)
    _rename_root_class(path, "skheatmap.ica.NonlinearICAEncoder")
    _assert_same_outputs("ica-tcl", estimator, load(path), data)


@pytest.mark.parametrize(
    "name, node, message",
    [
        ("_secret", 1, r"attribute\(s\) \['_secret'\], which are neither parameters"),
        ("not_fitted", 1, r"attribute\(s\) \['not_fitted'\]"),
        ("gains_", {"kind": "torch_module", "file": "x.pt"}, "stores .*gains_ as a torch module"),
    ],
    ids=["private", "neither-parameter-nor-fitted", "module-where-data-belongs"],
)
def test_an_archive_giving_an_estimator_an_attribute_it_cannot_have_is_refused(
    name, node, message, data, tmp_path
):
    path = tmp_path / "model.skh"
    save(fitted("wavelet-swt", data), path)

    def add(document, members):
        document["root"]["attributes"][name] = node

    _edit_archive(path, add)
    with pytest.raises(ValueError, match=message):
        load(path)


def test_save_refuses_private_state_that_load_would_refuse(data, tmp_path):
    embedder = fitted("embedder-percentiles", data)
    embedder._cache = np.zeros(3)
    with pytest.raises(TypeError, match=r"attribute\(s\) \['_cache'\], which are neither.*pickle"):
        save(embedder, tmp_path / "model.skh")


def test_ica_training_state_is_cpu_tensors_that_load_with_weights_only(data):
    # weights, EMA weights and Adam moments as state_dicts: data that torch loads without
    # unpickling code, whether from a pickle, the safe format or a checkpoint
    state = fitted("ica-ivae-ema", data)._training_state
    buffer = io.BytesIO()
    torch.save(state, buffer)
    loaded = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert loaded["epochs"] == 3 and loaded["ema"].keys() == loaded["model"].keys()
    moments = [m for per_parameter in loaded["optimizer"]["state"].values()
               for m in per_parameter.values()]  # fmt: skip
    tensors = [*loaded["model"].values(), *loaded["ema"].values(), *moments]
    assert tensors and all(t.device.type == "cpu" for t in tensors)


class UserScaler(TransformerMixin, BaseEstimator):
    """A user's own pipeline step."""

    def __init__(self, factor=2.0):
        self.factor = factor

    def fit(self, X, y=None):
        self.factor_ = float(self.factor)
        return self

    def transform(self, X):
        return X * self.factor_


def test_user_classes_load_only_when_trusted(data, tmp_path):
    X = data["channels"][0]
    pipeline = make_pipeline(UserScaler(3.0), WaveletBandReconstructor(level=1)).fit(X)
    save(pipeline, tmp_path / "model.skh")
    with pytest.raises(TypeError, match="pass it to load"):
        load(tmp_path / "model.skh")
    restored = load(tmp_path / "model.skh", trusted=[UserScaler])
    np.testing.assert_array_equal(restored.transform(X), pipeline.transform(X))


def test_an_attribute_that_is_not_data_is_named_at_save(data, tmp_path):
    embedder = HeatmapEmbedder(mask=lambda mean_frame: np.isfinite(mean_frame))
    embedder.fit(data["heatmaps"][0])
    with pytest.raises(TypeError, match=r"estimator\.mask is a .*function.*use pickle"):
        save(embedder, tmp_path / "model.skh")


def test_saving_something_else_than_an_estimator_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="save expects a scikit-learn estimator"):
        save({"not": "an estimator"}, tmp_path / "model.skh")


def test_a_zip_without_the_index_is_not_an_archive(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not an archive written by skheatmap"):
        load(tmp_path / "other.zip")


def test_an_archive_from_a_newer_format_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "model.skh"
    save(WaveletBandReconstructor(), path)

    def from_the_future(document, members):
        document["version"] = FORMAT_VERSION + 1

    _edit_archive(path, from_the_future)
    with pytest.raises(ValueError, match="Upgrade skheatmap"):
        load(path)
