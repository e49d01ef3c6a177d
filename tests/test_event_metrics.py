"""Transient detection and event scoring against hand-computed cases and brute force."""

import itertools

import numpy as np
import pytest

from skheatmap.datasets import make_thermal_faces
from skheatmap.metrics import detect_transients, event_detection_scores, match_events


def test_match_events_is_the_optimal_one_to_one_matching():
    rng = np.random.default_rng(0)
    for _ in range(20):
        true = np.sort(rng.uniform(0, 50, size=4))
        found = np.sort(rng.uniform(0, 50, size=5))
        matches = match_events(true, found, tolerance=4.0)
        # brute force: the largest matching, then the smallest total error
        best = (0, 0.0)
        for perm in itertools.permutations(range(5), 4):
            pairs = [(t, d) for t, d in enumerate(perm) if abs(true[t] - found[d]) <= 4.0]
            score = (len(pairs), -sum(abs(true[t] - found[d]) for t, d in pairs))
            best = max(best, score)
        total = -sum(abs(true[t] - found[d]) for t, d in matches)
        assert (len(matches), total) == pytest.approx(best)


def test_match_events_one_detection_cannot_serve_two_events():
    assert match_events([10, 11], [10.5], tolerance=2).tolist() == [[0, 0]]


def test_match_events_empty_inputs():
    assert match_events([], [1.0], tolerance=1).shape == (0, 2)


def test_scores_hand_computed():
    truth = {"recording": [0, 0, 1, 2], "onset": [10, 50, 5, 7]}
    found = {"recording": [0, 0, 1, 3], "onset": [13, 48, 30, 1]}
    scores = event_detection_scores(truth, found, tolerance_s=0.5, fs=8.0)  # 4 frames
    assert scores["n_matched"] == 2
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 4)
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["mean_error_frames"] == pytest.approx(2.5)
    assert scores["median_error_s"] == pytest.approx(2.5 / 8)


def test_scores_without_detections_are_zero_not_nan():
    scores = event_detection_scores({"recording": [0], "onset": [3]},
                                    {"recording": [], "onset": []}, tolerance_s=1, fs=1)
    assert scores["precision"] == scores["recall"] == scores["f1"] == 0.0
    assert np.isnan(scores["mean_error_frames"])


def test_scores_reject_tables_without_columns():
    with pytest.raises(ValueError, match="'recording' and 'onset' columns"):
        event_detection_scores({"onset": [1]}, {"recording": [0], "onset": [1]},
                               tolerance_s=1, fs=1)


def test_detector_finds_an_injected_bump_and_ignores_slow_drift():
    rng = np.random.default_rng(1)
    t = np.arange(400) / 10.0
    z = 0.05 * rng.normal(size=(2, 400, 3)) + np.sin(2 * np.pi * 0.02 * t)[None, :, None]
    z[1, 250:260, 2] += 1.0
    events = detect_transients(z, fs=10.0, threshold=4.0)
    assert events["recording"].tolist() == [1]
    assert abs(events["onset"][0] - 250) <= 1
    assert abs(events["duration"][0] - 10) <= 2
    assert 250 <= events["peak"][0] < 260


def test_detector_respects_padding_and_flat_channels():
    z = np.zeros((1, 50, 2))
    z[0, 40:] = np.nan
    events = detect_transients(z, fs=10.0)
    assert len(events["onset"]) == 0


def test_detector_recovers_thermal_face_transients_from_region_means():
    faces = make_thermal_faces(n_subjects=2, n_segments=2, n_frames=256, response_amplitude=0.3,
                               events_per_recording=3, random_state=0)  # fmt: skip
    series = np.stack(
        [np.stack([x[:, masks[i]].mean(axis=1) for masks in faces.region_masks.values()], axis=1)
         for i, x in enumerate(faces.X)]
    )  # fmt: skip
    found = detect_transients(series, fs=faces.fs, threshold=7.0)
    scores = event_detection_scores(faces.events, found, tolerance_s=1.0, fs=faces.fs)
    assert scores["n_true"] >= 5
    assert scores["recall"] >= 0.8
    assert scores["precision"] >= 0.8


def test_detector_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"shape \(n, T, L\)"):
        detect_transients(np.zeros((3, 4)), fs=1.0)
