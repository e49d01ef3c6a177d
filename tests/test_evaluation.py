"""evaluate(): the protocol on held-out subjects, and its report."""

import functools
import json
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skheatmap._alignment_metrics import alignment_report
from skheatmap._event_metrics import detect_transients, event_detection_scores
from skheatmap._generalisation_metrics import grouped_cv_scores
from skheatmap._pair_metrics import pair_classification_report
from skheatmap._source_metrics import mean_correlation_coefficient
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.datasets import make_thermal_faces
from skheatmap.embedding import HeatmapEmbedder
from skheatmap.evaluation import (
    EvaluationReport,
    _events_of,
    _injected_denoising_section,
    _mean_scores,
    evaluate,
)
from skheatmap.metrics import band_mse, band_snr, inject_transients, injection_recovery
from skheatmap.pairs import label_pairs
from skheatmap.wavelet import WaveletBandReconstructor


@pytest.fixture(scope="module")
def faces():
    return make_thermal_faces(n_subjects=4, n_segments=2, n_frames=40, frame_shape=(12, 12),
                              random_state=0)  # fmt: skip


def _stages():
    return make_pipeline(HeatmapEmbedder("moments"), WaveletBandReconstructor("haar", level=2))


def _model():
    return make_pipeline(*clone(_stages()).named_steps.values(),
                         SoftDTWPairClassifier(max_epochs=2, random_state=0))  # fmt: skip


@pytest.fixture(scope="module")
def report(faces):
    return evaluate(_model(), faces.X, faces.y, faces.groups, faces.events,
                    sources=faces.sources, X_clean=faces.X_clean, fs=faces.fs, test_size=0.5,
                    calibrate=False, random_state=0)  # fmt: skip


def _split(faces):
    splitter = GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=0)
    return next(splitter.split(faces.X, faces.y, faces.groups))


def _refit(faces, train):
    return clone(_model()).fit(faces.X[train], faces.y[train],
                               softdtwpairclassifier__groups=faces.groups[train])  # fmt: skip


def test_held_out_subjects_are_not_trained_on(report, faces):
    split = report["split"]
    assert not set(split["train_subjects"]) & set(split["test_subjects"])
    assert split["n_train"] + split["n_test"] == len(faces.X)
    test = report.data["test_index"]
    assert set(faces.groups[test]) == set(split["test_subjects"])


def test_pair_section_equals_the_pair_report_of_a_refitted_model(report, faces):
    train, test = _split(faces)
    fitted = _refit(faces, train)
    pairs, labels = label_pairs(faces.y[test])
    proba = fitted[-1].predict_pair_proba(fitted[:-1].transform(faces.X[test]), pairs)[:, 1]
    expected = pair_classification_report(labels, proba)
    for name, value in expected.items():
        assert report["pairs"][name] == pytest.approx(value, rel=1e-9, nan_ok=True)
    assert report["pairs"]["n_pairs"] == len(pairs)


def test_alignment_section_is_the_alignment_of_the_encoded_test_recordings(report, faces):
    test = report.data["test_index"]
    expected = alignment_report(faces.y[test], report.data["Z_test"], max_lag=8, beta=10.0)
    assert report["alignment"] == pytest.approx(expected)


def test_event_section_scores_the_detector_against_test_events(report, faces):
    test = report.data["test_index"]
    truth = _events_of(faces.events, test)
    found = detect_transients(report.data["Z_test"], faces.fs)
    expected = event_detection_scores(truth, found, tolerance_s=1.0, fs=faces.fs)
    assert report["events"] == pytest.approx(expected, nan_ok=True)


def test_source_section_is_the_mcc_of_test_sources(report, faces):
    test = report.data["test_index"]
    mcc = mean_correlation_coefficient(faces.sources[test], report.data["Z_test"])
    assert report["sources"]["mcc"] == pytest.approx(mcc)


def test_denoising_compares_the_wavelet_stage_input_and_output_to_clean_channels(report, faces):
    data, test = report.data, report.data["test_index"]
    stages = _stages().fit(faces.X[report.data["train_index"]])
    np.testing.assert_allclose(data["channels_before"], stages[0].transform(faces.X[test]))
    np.testing.assert_allclose(data["channels_after"], stages.transform(faces.X[test]))
    np.testing.assert_allclose(data["channels_clean"], stages[0].transform(faces.X_clean[test]))
    assert data["channel_names"][:2] == ["mean", "var"]
    assert report["denoising"]["ground_truth"] == "clean recordings"


@pytest.mark.parametrize("stage", ["before", "after"])
@pytest.mark.parametrize("name, band", [("band", (0.05, 1.0)), ("full", (0.0, 4.0))])
def test_denoising_scores_are_mean_band_snr_and_mse_against_clean_channels(report, stage, name,
                                                                           band):  # fmt: skip
    data, section = report.data, report["denoising"]
    clean, estimate = data["channels_clean"], data[f"channels_{stage}"]
    snr = band_snr(clean, estimate, 8.0, band)
    assert np.isfinite(snr).all()  # nothing left out here
    assert section[f"snr_db_{stage}_{name}"] == pytest.approx(snr.mean(), rel=1e-12)
    mse = band_mse(clean, estimate, 8.0, band)
    assert section[f"mse_{stage}_{name}"] == pytest.approx(mse.mean(), rel=1e-12)
    assert section["n_infinite_snr"] == 0


def test_mean_snr_leaves_out_and_counts_infinite_values_unless_all_are():
    mse = np.zeros(3)
    assert _mean_scores(np.array([1.0, 3.0, np.inf]), mse, "x") == (
        {"snr_db_x": 2.0, "mse_x": 0.0}, 1
    )
    assert _mean_scores(np.full(3, np.inf), mse, "x") == ({"snr_db_x": np.inf, "mse_x": 0.0}, 0)
    scores, dropped = _mean_scores(np.array([np.inf, -np.inf, np.inf]), mse, "x")
    assert np.isnan(scores["snr_db_x"]) and dropped == 3


@pytest.fixture(scope="module")
def injected_report(faces):
    return evaluate(_model(), faces.X, faces.y, faces.groups, fs=faces.fs, test_size=0.5,
                    calibrate=False, injection={"amplitude": 2.0}, random_state=0)  # fmt: skip


def test_without_clean_recordings_denoising_scores_injected_transients(injected_report, faces):
    train, test = injected_report.data["train_index"], injected_report.data["test_index"]
    stages = _stages().fit(faces.X[train])
    rows, columns = np.indices((12, 12))
    footprint = np.exp(-((rows - 5.5) ** 2 + (columns - 5.5) ** 2) / 8.0)  # centred, σ = 12 / 6
    injected = inject_transients(faces.X[test], amplitude=2.0, n_events=2, duration_s=1.0,
                                 footprint=footprint, fs=faces.fs, random_state=0)  # fmt: skip
    channels = stages[0].transform(faces.X[test])
    channels_injected = stages[0].transform(injected.X)
    recovery = injection_recovery(stages[1], channels, channels_injected, fs=faces.fs,
                                  band=(0.05, 1.0))  # fmt: skip
    section = injected_report["denoising"]
    assert section["ground_truth"] == "injected transients"
    assert np.isfinite(recovery["snr_db"]).all()
    assert section["n_unreached_channels"] == section["n_infinite_snr"] == 0
    assert section["snr_db_injection_band"] == pytest.approx(recovery["snr_db"].mean(), rel=1e-9)
    assert section["mse_injection_band"] == pytest.approx(recovery["mse"].mean(), rel=1e-9)
    found = detect_transients(stages.transform(injected.X), faces.fs)
    expected = event_detection_scores(injected.events, found, tolerance_s=1.0, fs=faces.fs)
    assert section["n_injected_events"] == 2 * len(test)
    assert section["injected_event_recall"] == pytest.approx(expected["recall"])
    np.testing.assert_allclose(injected_report.data["channels_before"], channels_injected)


def test_channels_the_injection_does_not_reach_are_left_out_of_the_means_and_counted(faces):
    stages = _stages().fit(faces.X)
    detect = functools.partial(detect_transients, fs=faces.fs)
    score = functools.partial(event_detection_scores, tolerance_s=1.0, fs=faces.fs)
    whole_frame = {"footprint": np.ones((12, 12))}
    section, _ = _injected_denoising_section(stages, faces.X[:3], faces.fs, (0.05, 1.0),
                                             whole_frame, 0, detect, score)  # fmt: skip
    # warming the whole frame moves its mean but none of its 8 other moments
    assert section["n_unreached_channels"] == 3 * 8 * 2  # recordings x channels x bands
    channels = stages[0].transform(faces.X[:3])
    injected = inject_transients(faces.X[:3], amplitude=0.5, fs=faces.fs, random_state=0,
                                 **whole_frame)  # fmt: skip
    recovery = injection_recovery(stages[1], channels, stages[0].transform(injected.X),
                                  fs=faces.fs, band=(0.05, 1.0))  # fmt: skip
    assert section["snr_db_injection_band"] == pytest.approx(recovery["snr_db"][:, 0].mean())


def test_recordings_too_short_for_the_injection_name_the_evaluate_option(faces):
    stages = _stages().fit(faces.X)
    with pytest.raises(ValueError, match=r"without X_clean, .* too few .* injection=\{'n_events'"):
        _injected_denoising_section(stages, faces.X[:2], faces.fs, (0.05, 1.0),
                                    {"n_events": 6}, 0, None, None)  # fmt: skip


def test_an_injection_that_reaches_no_channel_is_refused(faces):
    stages = _stages().fit(faces.X)
    with pytest.raises(ValueError, match=r"no power in the band .* raise injection\['amplitude'\]"):
        _injected_denoising_section(stages, faces.X[:2], faces.fs, (0.05, 1.0),
                                    {"amplitude": 0.0}, 0, None, None)  # fmt: skip


def test_injected_transients_of_an_identity_wavelet_stage_are_recovered_exactly(faces):
    model = make_pipeline(HeatmapEmbedder("moments"), WaveletBandReconstructor(level=0),
                          SoftDTWPairClassifier(max_epochs=1, random_state=0))  # fmt: skip
    report = evaluate(model, faces.X, faces.y, faces.groups, fs=faces.fs, test_size=0.5,
                      calibrate=False, random_state=0)  # fmt: skip
    section = report["denoising"]
    assert section["snr_db_injection_band"] == section["snr_db_injection_full"] == np.inf
    assert section["mse_injection_band"] == section["mse_injection_full"] == 0.0
    assert section["n_infinite_snr"] == 0


def test_generalisation_gap_is_train_minus_test_auc(report):
    section = report["generalisation"]
    assert section["validation_gap"] == pytest.approx(
        section["train_roc_auc"] - section["test_roc_auc"]
    )


def test_events_of_renumbers_the_chosen_recordings():
    events = {"recording": np.array([0, 3, 3, 5]), "onset": np.array([1, 2, 3, 4])}
    chosen = _events_of(events, np.array([5, 3]))
    assert chosen["recording"].tolist() == [1, 1, 0]
    assert chosen["onset"].tolist() == [2, 3, 4]


def test_report_is_json_ready_and_tidy(report):
    loaded = json.loads(report.to_json())
    assert loaded["pairs"]["roc_auc"] == pytest.approx(report["pairs"]["roc_auc"])
    records = report.to_records()
    assert {"section": "pairs", "metric": "roc_auc", "value": report["pairs"]["roc_auc"]} in records
    assert all(set(r) == {"section", "metric", "value"} for r in records)


def test_nan_becomes_null_in_json():
    assert json.loads(EvaluationReport({"a": {"x": float("nan")}}).to_json()) == {"a": {"x": None}}


def test_report_as_data_frame_has_one_row_per_metric(report):
    pd = pytest.importorskip("pandas")
    frame = report.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(report.to_records())


def test_report_pickles_with_its_data(report):
    restored = pickle.loads(pickle.dumps(report))
    assert restored == report
    np.testing.assert_array_equal(restored.data["Z_test"], report.data["Z_test"])


def test_calibration_sets_the_threshold_on_training_pairs(faces):
    report = evaluate(_model(), faces.X, faces.y, faces.groups, fs=faces.fs, test_size=0.5,
                      random_state=0)  # fmt: skip
    assert isinstance(report["split"]["calibrated"], bool)


def test_progress_is_called_for_each_step(faces):
    steps = []
    evaluate(_model(), faces.X, faces.y, faces.groups, fs=faces.fs, test_size=0.5,
             calibrate=False, random_state=0, progress=steps.append)  # fmt: skip
    assert steps[0] == "fitting" and "pair classification" in steps


def test_estimator_without_pair_probabilities_is_rejected(faces):
    with pytest.raises(TypeError, match="needs a pair classifier"):
        evaluate(make_pipeline(FunctionTransformer()), faces.X, faces.y, faces.groups)


def test_one_held_out_subject_cannot_form_positive_pairs(faces):
    with pytest.raises(ValueError, match="raise test_size"):
        evaluate(_model(), faces.X, faces.y, faces.groups, test_size=0.25, random_state=0)


def test_mismatched_labels_are_rejected(faces):
    with pytest.raises(ValueError, match="y and groups of shape"):
        evaluate(_model(), faces.X, faces.y[:3], faces.groups)


def test_sessions_without_cv_are_rejected(faces):
    with pytest.raises(ValueError, match="pass cv as well"):
        evaluate(_model(), faces.X, faces.y, faces.groups, sessions=faces.y)


def test_cross_validation_adds_cross_subject_and_cross_session_scores(faces):
    model = make_pipeline(HeatmapEmbedder("moments"),
                          SoftDTWPairClassifier(max_epochs=1, random_state=0))  # fmt: skip
    sessions = faces.groups % 2  # two sessions, each with both segments
    report = evaluate(model, faces.X, faces.y, faces.groups, fs=faces.fs, test_size=0.5,
                      calibrate=False, cv=2, sessions=sessions, random_state=0)  # fmt: skip
    expected = grouped_cv_scores(model, faces.X, faces.y, sessions, cv=2,
                                 params={"softdtwpairclassifier__groups": faces.groups})
    section = report["generalisation"]
    assert section["cross_session_roc_auc"] == pytest.approx(expected["test"])
    assert section["cross_session_gap"] == pytest.approx(expected["gap"])
    assert 0.0 <= section["cross_subject_roc_auc"] <= 1.0


def test_x_clean_of_another_shape_is_rejected(faces):
    with pytest.raises(ValueError, match="X_clean has shape"):
        evaluate(_model(), faces.X, faces.y, faces.groups, X_clean=faces.X[:2])


def _pair_only_report(roc_auc):
    labels = np.array([1, 1, 0, 0, 0])
    proba = np.array([0.9, 0.6, 0.7, 0.2, 0.1])
    return EvaluationReport(
        {"pairs": {"roc_auc": roc_auc}},
        {"pair_labels": labels, "pair_proba": proba, "pair_distances": 1 - proba},
    )


def test_write_report_replaces_a_previous_report_and_leaves_no_temporary_files(tmp_path):
    pytest.importorskip("matplotlib")
    from skheatmap._report import write_report

    out = tmp_path / "report"
    write_report(_pair_only_report(0.5), out)
    paths = write_report(_pair_only_report(0.75), out)
    assert json.loads((out / "metrics.json").read_text()) == {"pairs": {"roc_auc": 0.75}}
    assert sorted(p.name for p in paths) == sorted(p.name for p in out.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    assert 'src="roc.png"' in (out / "report.html").read_text()


def test_write_report_keeps_the_old_report_when_drawing_fails(tmp_path):
    pytest.importorskip("matplotlib")
    from skheatmap._report import write_report

    out = tmp_path / "report"
    write_report(_pair_only_report(0.5), out)
    broken = _pair_only_report(0.75)
    broken.data["pair_proba"] = np.array([0.5])  # does not match the labels
    with pytest.raises(ValueError, match="pair_labels and proba"):
        write_report(broken, out)
    assert json.loads((out / "metrics.json").read_text()) == {"pairs": {"roc_auc": 0.5}}
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
