"""Figures: the data drawn, the labels and legends, and the lazy matplotlib import."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from skheatmap import plotting  # noqa: E402
from skheatmap.datasets import make_thermal_faces  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def pairs():
    rng = np.random.default_rng(0)
    labels = np.repeat([1, 0], [20, 40])
    proba = np.clip(0.3 * labels + rng.uniform(0.1, 0.7, size=60), 0, 1)
    return labels, proba


def _labelled(ax):
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def test_missing_matplotlib_names_the_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"skheatmap\[plot\]"):
        plotting.plot_roc([0, 1], [0.2, 0.8])


def test_frames_show_the_chosen_frames_with_region_outlines():
    faces = make_thermal_faces(n_subjects=1, n_segments=2, n_frames=6, random_state=0)
    fig = plotting.plot_frames(faces.X, faces.region_masks, recording=1, frames=[0, 5], fs=2.0)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 2
    np.testing.assert_array_equal(image_axes[1].images[0].get_array(), faces.X[1, 5])
    assert image_axes[1].get_title() == "frame 5 (t = 2.5 s)"
    legend = image_axes[-1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(faces.region_masks)
    colorbar = [ax for ax in fig.axes if not ax.images]
    assert colorbar[0].get_ylabel() == "temperature (°C)"


def test_frames_reject_out_of_range_frames():
    faces = make_thermal_faces(n_subjects=1, n_segments=1, n_frames=4, random_state=0)
    with pytest.raises(ValueError, match="frames must be indices"):
        plotting.plot_frames(faces.X, frames=[4])


def test_channel_series_draw_before_after_and_clean():
    rng = np.random.default_rng(0)
    before = rng.normal(size=(2, 30, 3))
    after, clean = 0.5 * before, 0.4 * before
    fig = plotting.plot_channel_series(before, after, clean=clean, recording=1, fs=10.0,
                                       channels=[2], channel_names=["a", "b", "c"], unit="°C")
    (ax,) = fig.axes
    lines = ax.get_lines()
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(30) / 10.0)
    np.testing.assert_array_equal(lines[1].get_ydata(), after[1, :, 2])
    np.testing.assert_array_equal(lines[2].get_ydata(), clean[1, :, 2])
    assert ax.get_ylabel() == "c\n(°C)" and ax.get_xlabel() == "time (s)"
    assert len(ax.get_legend().get_texts()) == 3


def test_sources_are_matched_sign_aligned_and_standardised():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(1, 50, 2))
    recovered = np.stack([-3.0 * true[0, :, 1], 2.0 * true[0, :, 0] + 1.0], axis=1)[None]
    fig = plotting.plot_sources(true, recovered, fs=5.0, source_names=["nose", "forehead"])
    for ax, k in zip(fig.axes, (0, 1), strict=True):
        true_line, recovered_line = ax.get_lines()
        np.testing.assert_allclose(recovered_line.get_ydata(), true_line.get_ydata(), atol=1e-12)
        z = (true[0, :, k] - true[0, :, k].mean()) / true[0, :, k].std()
        np.testing.assert_allclose(true_line.get_ydata(), z, atol=1e-12)
    assert fig.axes[1].get_ylabel() == "forehead\n(z-score)"


def test_pair_distance_histograms_hold_each_kind_of_pair(pairs):
    labels, values = pairs
    fig = plotting.plot_pair_distances(labels, values, bins=5)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "same segment (n = 20)", "different segment (n = 40)"
    ]
    edges = np.histogram_bin_edges(values, bins=5)
    same = [p.get_height() for p in ax.patches[:5]]
    np.testing.assert_allclose(same, np.histogram(values[labels == 1], edges, density=True)[0])
    assert _labelled(ax)


def test_pair_figures_need_both_kinds_of_pair():
    with pytest.raises(ValueError, match="both 0"):
        plotting.plot_roc([1, 1], [0.2, 0.9])


def test_roc_curve_is_sklearns(pairs):
    labels, proba = pairs
    ax = plotting.plot_roc(labels, proba).axes[0]
    fpr, tpr, _ = roc_curve(labels, proba)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), fpr)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), tpr)
    assert _labelled(ax) and ax.get_legend() is not None


def test_reliability_curve_is_sklearns_calibration_curve(pairs):
    labels, proba = pairs
    ax = plotting.plot_reliability(labels, proba, n_bins=4).axes[0]
    frequency, confidence = calibration_curve(labels, proba, n_bins=4)
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), confidence)
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), frequency)
    assert "ECE" in ax.get_legend().get_texts()[1].get_text()


def test_event_timeline_draws_one_bar_per_event_in_its_lane():
    truth = {"recording": [0, 2, 2], "onset": [8, 16, 40], "duration": [4, 8, 4]}
    found = {"recording": [2], "onset": [18], "duration": [6]}
    ax = plotting.plot_event_timeline(truth, found, n_frames=64, fs=8.0).axes[0]
    bars = [c for c in ax.collections if len(c.get_paths())]
    assert len(bars) == 4
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert lanes == ["0", "2"]
    assert ax.get_xlim() == (0.0, 8.0) and ax.get_xlabel() == "time (s)"


def test_event_timeline_rejects_tables_without_columns():
    with pytest.raises(ValueError, match="true_events must be a table"):
        plotting.plot_event_timeline({"onset": [1]}, {"recording": [], "onset": [],
                                                       "duration": []}, n_frames=8)


def test_search_results_plot_one_point_per_candidate_coloured_by_branch():
    results = {"branch": np.array(["db4", "haar", "db4"], dtype=object),
               "mean_test_score": np.array([0.7, 0.6, 0.8]),
               "std_test_score": np.array([0.1, 0.1, 0.05]),
               "n_params": np.array([10, 5, 400])}  # fmt: skip
    ax = plotting.plot_search_results(results).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["db4", "haar"]
    db4 = ax.containers[0].lines[0]
    np.testing.assert_array_equal(db4.get_xdata(), [10, 400])
    np.testing.assert_array_equal(db4.get_ydata(), [0.7, 0.8])
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "trainable parameters (count)"


def test_branch_tags_drop_the_step_names():
    results = {"branch": ["heatmapembedder__method=moments,wavelet__wavelet=db4"],
               "mean_test_score": [0.7], "n_params": [3]}  # fmt: skip
    ax = plotting.plot_search_results(results).axes[0]
    assert ax.get_legend().get_texts()[0].get_text() == "method=moments, wavelet=db4"
    assert ax.get_xscale() == "linear"  # a single value spans no decade


def test_search_results_name_a_missing_column():
    with pytest.raises(ValueError, match="no column 'flops'"):
        plotting.plot_search_results({"mean_test_score": [0.5]}, complexity="flops")


def test_halving_traces_follow_each_candidate_across_rungs():
    results = {"iter": [0, 0, 0, 1], "n_resources": [8, 8, 8, 24],
               "mean_test_score": [0.6, 0.7, 0.5, 0.8],
               "params": [{"a": 1}, {"a": 2}, {"a": 3}, {"a": 2}]}  # fmt: skip
    ax = plotting.plot_halving_traces(results).axes[0]
    lines = ax.get_lines()
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[1].get_xdata(), [8, 24])
    np.testing.assert_array_equal(lines[1].get_ydata(), [0.7, 0.8])


def test_halving_traces_use_stage_a_rows_of_two_stage_results():
    results = {"stage": ["A", "A", "B"], "branch": ["x", "x", "x"], "trial": [0, 0, 0],
               "resource": ["downsample"] * 3, "fidelity": [0.25, 1.0, 1.0],
               "mean_test_score": [0.6, 0.7, 0.9]}  # fmt: skip
    ax = plotting.plot_halving_traces(results).axes[0]
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_ydata(), [0.6, 0.7])
    assert ax.get_xlabel() == "fraction of the frames kept"
