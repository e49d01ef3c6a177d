"""The ``skheatmap`` command line."""

import json
import os
import pickle
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skheatmap.cli import RecordingCentrer, centre_recordings, default_pipeline, main
from skheatmap.embedding import HeatmapEmbedder
from skheatmap.persistence import load, save
from skheatmap.wavelet import WaveletBandReconstructor


@pytest.fixture
def recordings(tmp_path):
    X = np.random.default_rng(0).normal(30.0, 1.0, size=(5, 20, 6, 6))
    path = tmp_path / "recordings.npy"
    np.save(path, X)
    return X, path


def _default_stages(X, level):
    return make_pipeline(
        HeatmapEmbedder(method="moments"), WaveletBandReconstructor("db4", level=level)
    ).fit(X[:1])


def _one_line_error(capsys, command):
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"skheatmap {command}: error:"), err
    assert len(err.splitlines()) == 1, err
    return err


def test_demo_writes_the_report_and_prints_its_metrics(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["demo", "--quick", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "8 recordings (4 subjects x 2 segments)" in captured.out
    assert "frames: 96 of 32x32 pixels" in captured.out
    assert "roc_auc" in captured.out and f"report written to {out / 'report.html'}" in captured.out
    assert "12/12 done" in captured.err  # the progress bar reached its end
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"pairs", "alignment", "events", "sources", "denoising", "generalisation"} <= set(
        metrics
    )
    html = (out / "report.html").read_text()
    for figure in ("frames", "channels", "sources", "pair_distances", "roc", "reliability",
                   "events"):  # fmt: skip
        assert (out / f"{figure}.png").stat().st_size > 1000
        assert f'src="{figure}.png"' in html


def test_demo_refuses_a_folder_that_is_not_a_report(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--quick", "--no-progress", "-o", str(tmp_path)]) == 1
    assert "holds no previous report" in _one_line_error(capsys, "demo")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_bad_argument_is_one_line_error(capsys):
    assert main(["demo", "--frames", "1", "--no-progress"]) == 1
    assert "n_frames" in _one_line_error(capsys, "demo")


def test_help_lists_and_explains_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "embed", "fit", "evaluate", "search"):
        assert command in out
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert len(capsys.readouterr().out.splitlines()) > 8


def test_embed_runs_the_default_stages(recordings, tmp_path, capsys):
    X, path = recordings
    out = tmp_path / "Z.npy"
    assert main(["embed", str(path), "-o", str(out), "--level", "1"]) == 0
    np.testing.assert_allclose(np.load(out), _default_stages(X, 1).transform(X), rtol=1e-12)
    assert "wrote 5 embedded recordings" in capsys.readouterr().out


def test_embed_in_chunks_equals_embed_at_once(recordings, tmp_path):
    _, path = recordings
    main(["embed", str(path), "-o", str(tmp_path / "a.npy"), "--level", "1"])
    main(["embed", str(path), "-o", str(tmp_path / "b.npy"), "--level", "1", "--chunk-size", "2"])
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_embed_memory_budget_sets_the_chunk(recordings, tmp_path):
    _, path = recordings
    main(["embed", str(path), "-o", str(tmp_path / "a.npy"), "--level", "1"])
    # one recording is 20*36*8 bytes = 5.6 KiB: a 0.01 MiB budget holds one at a time
    main(["embed", str(path), "-o", str(tmp_path / "b.npy"), "--level", "1",
          "--memory-mb", "0.01"])  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


def test_embed_refuses_to_overwrite_without_force(recordings, tmp_path, capsys):
    _, path = recordings
    out = tmp_path / "Z.npy"
    out.write_bytes(b"keep me")
    assert main(["embed", str(path), "-o", str(out)]) == 1
    assert "--force" in _one_line_error(capsys, "embed")
    assert out.read_bytes() == b"keep me"
    assert main(["embed", str(path), "-o", str(out), "--level", "1", "--force"]) == 0
    assert np.load(out).shape == (5, 20, 9)


def test_embed_reads_and_writes_npz(recordings, tmp_path):
    X, _ = recordings
    np.savez(tmp_path / "in.npz", frames=X)
    out = tmp_path / "out.npz"
    assert main(["embed", str(tmp_path / "in.npz"), "--key", "frames", "-o", str(out),
                 "--level", "1", "--chunk-size", "3"]) == 0  # fmt: skip
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["Z"], _default_stages(X, 1).transform(X), rtol=1e-12)


def test_embed_hdf5_round_trip(recordings, tmp_path):
    h5py = pytest.importorskip("h5py")
    X, _ = recordings
    with h5py.File(tmp_path / "in.h5", "w") as handle:
        handle["X"] = X
    assert main(["embed", str(tmp_path / "in.h5"), "-o", str(tmp_path / "out.h5"),
                 "--level", "1", "--chunk-size", "2"]) == 0  # fmt: skip
    with h5py.File(tmp_path / "out.h5", "r") as handle:
        np.testing.assert_allclose(handle["Z"][()], _default_stages(X, 1).transform(X))


def test_embed_without_h5py_names_it(recordings, tmp_path, capsys, monkeypatch):
    X, _ = recordings
    monkeypatch.setitem(sys.modules, "h5py", None)
    (tmp_path / "in.h5").write_bytes(b"")
    assert main(["embed", str(tmp_path / "in.h5"), "-o", str(tmp_path / "o.npy")]) == 1
    assert "h5py" in _one_line_error(capsys, "embed")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"\x93NUMPY garbage", "is not a readable .npy file"),
        (np.zeros((3, 4)), "must be numeric recordings of shape"),
    ],
    ids=["missing", "corrupt", "wrong-shape"],
)
def test_embed_bad_input_is_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "in.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content)
    assert main(["embed", str(path), "-o", str(tmp_path / "out.npy")]) == 1
    assert message.lower() in _one_line_error(capsys, "embed").lower()
    assert not (tmp_path / "out.npy").exists()


def test_embed_rejects_a_zero_chunk_size(recordings, tmp_path, capsys):
    _, path = recordings
    with pytest.raises(SystemExit) as exit_info:
        main(["embed", str(path), "-o", str(tmp_path / "o.npy"), "--chunk-size", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skheatmap embed: error: argument --chunk-size: must be > 0, got 0")
    assert len(err.splitlines()) == 1


def test_embed_unknown_output_type_is_one_line_error(recordings, tmp_path, capsys):
    _, path = recordings
    assert main(["embed", str(path), "-o", str(tmp_path / "out.csv")]) == 1
    assert "unsupported file type '.csv'" in _one_line_error(capsys, "embed")


@pytest.fixture
def labelled(tmp_path):
    from skheatmap.datasets import make_thermal_faces

    faces = make_thermal_faces(n_subjects=4, n_segments=2, n_frames=24, frame_shape=(10, 10),
                               random_state=0)  # fmt: skip
    path = tmp_path / "faces.npz"
    np.savez(path, X=faces.X, y=faces.y, groups=faces.groups, fs=faces.fs)
    config = tmp_path / "fit.toml"
    config.write_text("[wavelet]\nlevel = 1\n[ica]\nenabled = true\nmax_epochs = 1\n"
                      "[classifier]\nmax_epochs = 1\n")  # fmt: skip
    return faces, path, config


def test_fit_saves_a_safe_model_that_embed_uses(labelled, tmp_path):
    faces, path, config = labelled
    model_path = tmp_path / "model.skh"
    assert main(["fit", str(path), "-o", str(model_path), "--config", str(config)]) == 0
    model = load(model_path)  # the safe format: no pickle involved
    np.testing.assert_array_equal(model.steps[-1][1].classes_, [0, 1])
    assert "nonlinearicaencoder" in model.named_steps
    out = tmp_path / "Z.npy"
    assert main(["embed", str(path), "-o", str(out), "--model", str(model_path)]) == 0
    np.testing.assert_allclose(np.load(out), model[:-1].transform(faces.X), rtol=1e-12)


def test_fit_needs_labels(recordings, tmp_path, capsys):
    X, _ = recordings
    np.savez(tmp_path / "unlabelled.npz", X=X)
    assert main(["fit", str(tmp_path / "unlabelled.npz"), "-o", str(tmp_path / "m.pkl")]) == 1
    assert "has no array 'y'" in _one_line_error(capsys, "fit")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a model", "File is not a zip file"),
        ("pickle", "File is not a zip file"),
        ("zip-without-index", "no skheatmap.json inside"),
    ],
    ids=["garbage", "pickle", "other-zip"],
)
def test_embed_refuses_a_model_file_not_written_by_fit_in_one_line(
    recordings, tmp_path, capsys, content, message, code_payload
):
    _, path = recordings
    payload, marker = code_payload
    model = tmp_path / "model.skh"
    if content == "pickle":  # an old-style model: it must not be unpickled
        model.write_bytes(pickle.dumps(payload))
    elif content == "zip-without-index":
        with zipfile.ZipFile(model, "w") as archive:
            archive.writestr("readme.txt", "hello")
    else:
        model.write_bytes(content)
    assert main(["embed", str(path), "-o", str(tmp_path / "o.npy"), "--model", str(model)]) == 1
    error = _one_line_error(capsys, "embed")
    assert f"{model} is not a model saved by `skheatmap fit`" in error and message in error
    assert not marker.exists() and not (tmp_path / "o.npy").exists()


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5"])
def test_embed_output_gets_the_mode_of_a_new_file(recordings, tmp_path, suffix):
    if suffix == ".h5":
        pytest.importorskip("h5py")
    _, path = recordings
    out = tmp_path / f"Z{suffix}"
    assert main(["embed", str(path), "-o", str(out), "--level", "1"]) == 0
    assert _mode(out) == 0o644  # 0o666 & ~umask, not the 0o600 of a temporary file


@pytest.mark.usefixtures("umask_022")
def test_fit_model_gets_the_mode_of_a_new_file(labelled, tmp_path):
    _, path, config = labelled
    model_path = tmp_path / "model.skh"
    assert main(["fit", str(path), "-o", str(model_path), "--config", str(config)]) == 0
    assert _mode(model_path) == 0o644


@pytest.mark.filterwarnings("default::UserWarning")
def test_warnings_are_printed_on_one_line_before_the_result(recordings, tmp_path, capsys):
    X, _ = recordings
    X = X.copy()
    X[0, 5] = np.nan  # a dropped frame inside the recording
    np.save(tmp_path / "dropped.npy", X)
    # the wavelet stage refuses the NaN frame, so the warning is followed by the error
    assert main(["embed", str(tmp_path / "dropped.npy"), "-o", str(tmp_path / "o.npy"),
                 "--level", "1"]) == 1  # fmt: skip
    warning, error = capsys.readouterr().err.strip().splitlines()
    assert warning == (
        "skheatmap embed: warning: 1 frame(s) that are not padding have no finite pixel "
        "(first: recording 0, frame 5); their channels are NaN. Check the recording for "
        "dropped frames or the mask for a region of dead pixels."
    )
    assert error.startswith("skheatmap embed: error: Recording 0 has NaN at frame 5")


def test_evaluate_with_a_toml_config_writes_a_report(labelled, tmp_path, capsys):
    _, path, _ = labelled
    config = tmp_path / "evaluate.toml"
    config.write_text(
        f'[data]\npath = "{path}"\n[wavelet]\nlevel = 1\n[ica]\nenabled = false\n'
        '[classifier]\nmax_epochs = 1\n[evaluate]\ntest_size = 0.5\nmax_lag = 2\n'
        f'[output]\nreport = "{tmp_path / "out"}"\n'
    )
    assert main(["evaluate", "--config", str(config), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["split"]["n_test"] == 4
    assert "roc_auc" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, message",
    [("[pipeline]\nx = 1\n", "unknown section(s) ['pipeline']"),
     ("[data\n", "not valid TOML"),
     ("[classifier]\nwrong_name = 1\n", "wrong_name")],
    ids=["unknown-section", "invalid-toml", "unknown-parameter"],
)  # fmt: skip
def test_evaluate_bad_config_is_one_line_error(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["evaluate", "--config", str(config), "--no-progress"]) == 1
    assert message in _one_line_error(capsys, "evaluate")


def test_search_with_a_toml_config_writes_the_search_figures(tmp_path, capsys):
    pytest.importorskip("optuna")
    config = tmp_path / "search.toml"
    config.write_text(
        "[data.synthetic]\nn_subjects = 4\nn_segments = 2\nn_frames = 32\n"
        "frame_shape = [8, 8]\n[wavelet]\nlevel = 1\n[ica]\nenabled = false\n"
        "[classifier]\nmax_epochs = 1\n[search]\ncv = 2\ntop_k = 1\nn_trials = 0\n"
        "min_resources = 4\nspace = { heatmapembedder__method = ['moments', 'percentiles'] }\n"
    )
    assert main(["search", "--config", str(config), "-o", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["search"]["n_evaluations"] == 2
    assert metrics["search"]["best heatmapembedder__method"] in ("moments", "percentiles")
    for figure in ("search_results", "halving_traces"):
        assert (tmp_path / "out" / f"{figure}.png").stat().st_size > 1000
    assert "best_score" in capsys.readouterr().out


def test_default_pipeline_centres_with_a_step_the_safe_format_stores(tmp_path):
    X = np.random.default_rng(0).normal(size=(3, 10, 2))
    centrer = default_pipeline(8.0).named_steps["recordingcentrer"]
    np.testing.assert_array_equal(centrer.fit_transform(X), centre_recordings(X))
    save(centrer, tmp_path / "centrer.skh")
    assert isinstance(load(tmp_path / "centrer.skh"), RecordingCentrer)


def test_default_pipeline_steps_take_overrides():
    pipe = default_pipeline(8.0, wavelet={"level": 2}, ica={"enabled": False},
                            classifier={"max_epochs": 1})  # fmt: skip
    assert [name for name, _ in pipe.steps][-1] == "softdtwpairclassifier"
    assert pipe.named_steps["waveletbandreconstructor"].level == 2
    assert "nonlinearicaencoder" not in pipe.named_steps


def test_centring_removes_each_recordings_time_average():
    X = np.random.default_rng(0).normal(size=(3, 10, 2))
    X[1, 7:] = np.nan  # padding stays padding
    centred = centre_recordings(X)
    np.testing.assert_allclose(np.nanmean(centred, axis=1), 0.0, atol=1e-12)
    assert np.isnan(centred[1, 7:]).all()


def test_console_script_reports_errors_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "skheatmap.cli", "embed", str(tmp_path / "missing.npy"),
         "-o", str(tmp_path / "out.npy")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"skheatmap embed: error: no such file: {tmp_path / 'missing.npy'}"
    ]


def test_umask_is_read_without_changing_it():
    from skheatmap.cli import _umask

    previous = os.umask(0o027)
    try:
        assert _umask() == 0o027
        assert os.umask(0o027) == 0o027  # still the mask that was set
    finally:
        os.umask(previous)
