"""Alignment metrics: soft-lag correlation within vs between segments."""

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import FunctionTransformer

from skheatmap._alignment_metrics import (
    alignment_gap,
    alignment_report,
    alignment_scorer,
    pairwise_soft_lag,
)


def _brute_soft_lag(a, b, max_lag, beta):
    """ρ̃ by explicit loops: cosine of the overlaps per lag, channel mean, log-sum-exp."""
    T = a.shape[0]
    rhos = []
    for lag in range(-max_lag, max_lag + 1):
        per_channel = []
        for c in range(a.shape[1]):
            pa = [a[t, c] for t in range(T) if 0 <= t + lag < T]
            pb = [b[t + lag, c] for t in range(T) if 0 <= t + lag < T]
            pa, pb = np.array(pa), np.array(pb)
            per_channel.append(pa @ pb / (np.linalg.norm(pa) * np.linalg.norm(pb)))
        rhos.append(np.mean(per_channel))
    return np.log(np.sum(np.exp(beta * np.array(rhos)))) / beta


@pytest.fixture
def trajectories():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 24, 2)) + rng.normal(size=(5, 1, 2))


def test_pairwise_soft_lag_matches_brute_force_on_centred_series(trajectories):
    rho = pairwise_soft_lag(trajectories, max_lag=3, beta=7.0)
    centred = trajectories - trajectories.mean(axis=1, keepdims=True)
    for i in range(5):
        for j in range(5):
            expected = _brute_soft_lag(centred[i], centred[j], 3, 7.0)
            np.testing.assert_allclose(rho[i, j], expected, rtol=1e-10)


def test_center_false_uses_raw_series(trajectories):
    rho = pairwise_soft_lag(trajectories, max_lag=2, beta=5.0, center=False)
    expected = _brute_soft_lag(trajectories[0], trajectories[3], 2, 5.0)
    np.testing.assert_allclose(rho[0, 3], expected, rtol=1e-10)


def test_constant_offset_does_not_change_centred_alignment(trajectories):
    shifted = trajectories.copy()
    shifted[2] += 100.0
    np.testing.assert_allclose(
        pairwise_soft_lag(shifted, max_lag=2, beta=5.0),
        pairwise_soft_lag(trajectories, max_lag=2, beta=5.0),
        rtol=1e-9,
    )


def test_padded_recordings_are_compared_over_their_common_length(trajectories):
    padded = trajectories.copy()
    padded[1, 18:] = np.nan
    rho = pairwise_soft_lag(padded, max_lag=2, beta=5.0)
    a = trajectories[0, :18] - trajectories[0].mean(axis=0)
    b = trajectories[1, :18] - trajectories[1, :18].mean(axis=0)
    np.testing.assert_allclose(rho[0, 1], _brute_soft_lag(a, b, 2, 5.0), rtol=1e-10)
    np.testing.assert_allclose(rho, rho.T)


def test_nan_inside_a_recording_is_rejected(trajectories):
    trajectories[0, 5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN inside recordings"):
        pairwise_soft_lag(trajectories, max_lag=2, beta=5.0)


def test_report_averages_within_and_between_segment_pairs(trajectories):
    y = np.array([0, 0, 1, 1, 1])
    rho = pairwise_soft_lag(trajectories, max_lag=3, beta=7.0)
    within = np.mean([rho[0, 1], rho[2, 3], rho[2, 4], rho[3, 4]])
    between = np.mean([rho[i, j] for i in (0, 1) for j in (2, 3, 4)])
    report = alignment_report(y, trajectories, max_lag=3, beta=7.0)
    np.testing.assert_allclose(report["within"], within, rtol=1e-12)
    np.testing.assert_allclose(report["between"], between, rtol=1e-12)
    np.testing.assert_allclose(report["gap"], within - between, rtol=1e-12)
    assert (report["n_within"], report["n_between"]) == (4, 6)


def test_across_groups_keeps_only_pairs_of_different_subjects(trajectories):
    y = np.array([0, 0, 1, 1, 1])
    groups = np.array([0, 1, 0, 1, 1])
    rho = pairwise_soft_lag(trajectories, max_lag=3, beta=7.0)
    report = alignment_report(y, trajectories, max_lag=3, beta=7.0, groups=groups,
                              across_groups=True)  # fmt: skip
    # different-subject pairs: (0,1) (0,3) (0,4) (1,2) (2,3) (2,4)
    np.testing.assert_allclose(report["within"], np.mean([rho[0, 1], rho[2, 3], rho[2, 4]]))
    np.testing.assert_allclose(report["between"], np.mean([rho[0, 3], rho[0, 4], rho[1, 2]]))


def test_across_groups_needs_groups(trajectories):
    with pytest.raises(ValueError, match="needs groups"):
        alignment_report([0, 0, 1, 1, 1], trajectories, max_lag=1, beta=1.0, across_groups=True)


def test_lagged_copies_of_one_segment_align_better_than_other_segments():
    t = np.arange(80)
    rng = np.random.default_rng(1)
    base = [np.sin(t / 5.0), np.cos(t / 2.3)]
    Z = np.stack([np.roll(base[k], shift) + 0.05 * rng.normal(size=80)
                  for k in (0, 1) for shift in (0, 2, -3)])  # fmt: skip
    report = alignment_report([0, 0, 0, 1, 1, 1], Z, max_lag=4, beta=20.0)
    assert report["within"] > 0.9 > 0.3 > report["between"]


def test_single_label_leaves_between_undefined(trajectories):
    report = alignment_report(np.zeros(5), trajectories, max_lag=1, beta=1.0)
    assert np.isnan(report["between"]) and np.isnan(report["gap"])


def test_labels_of_wrong_length_are_rejected(trajectories):
    with pytest.raises(ValueError, match="one label per recording"):
        alignment_report([0, 1], trajectories, max_lag=1, beta=1.0)


def test_scorer_scores_the_transform_output(trajectories):
    y = np.array([0, 0, 1, 1, 1])
    scorer = alignment_scorer(max_lag=2, beta=5.0)
    halve = FunctionTransformer(lambda X: X[:, ::2]).fit(trajectories)
    expected = alignment_gap(y, trajectories[:, ::2], max_lag=2, beta=5.0)
    assert scorer(halve, trajectories, y) == pytest.approx(expected, rel=1e-12)


def test_scorer_works_inside_cross_validation(trajectories):
    X = np.concatenate([trajectories, trajectories])
    y = np.array([0, 0, 1, 1, 1] * 2)
    scores = cross_val_score(FunctionTransformer(), X, y, cv=2,
                             scoring=alignment_scorer(max_lag=2, beta=5.0))  # fmt: skip
    expected = alignment_gap(y[:5], trajectories, max_lag=2, beta=5.0)
    np.testing.assert_allclose(scores, expected, rtol=1e-10)
