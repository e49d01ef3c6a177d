"""Transient (micro-event) detection on encoded trajectories and its scoring.

The detector is deliberately simple and documented so that scores are
comparable across pipelines: per recording, remove the slow background with a
running median, standardise each channel robustly (median absolute
deviation), take the largest absolute z-score across channels, and report
every run of frames above ``threshold`` lasting at least ``min_duration``.

Trailing all-NaN frames are padding and never fire; a NaN inside a recording
(which the running median would spread into a silent "no event") or an
infinity is an error naming the recording and the frame.
"""

import math
import numbers

import numpy as np
from scipy.ndimage import median_filter
from scipy.optimize import linear_sum_assignment

from ._metric_inputs import check_fs, check_padded_recordings

__all__ = ["detect_transients", "event_detection_scores", "match_events"]

# MAD of a standard normal: scales the median absolute deviation to a standard deviation.
_MAD_TO_STD = 1.4826


def detect_transients(Z, fs, *, threshold=5.0, background_s=2.0, min_duration_s=0.5):
    """Detect short transients in encoded trajectories.

    Parameters
    ----------
    Z : array-like of shape (n, T, L)
        Encoded trajectories, NaN-padded at the end. A NaN before a
        recording's padding, an infinity or an all-NaN recording is a
        ValueError naming the recording and the frame.
    fs : float
        Frame rate in Hz, finite and > 0.
    threshold : float, default=5.0
        Robust z-score a frame must exceed (in any channel).
    background_s : float, default=2.0
        Length in seconds of the running median removed as background; about
        the longest transient to detect (slower changes count as background).
    min_duration_s : float, default=0.5
        Shortest run, in seconds, reported as an event.

    Returns
    -------
    events : dict of ndarray
        ``recording``, ``onset`` and ``duration`` (frames), ``onset_s``,
        ``duration_s``, ``peak`` (frame of the largest z-score) and ``score``.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import detect_transients
    >>> z = np.random.default_rng(0).normal(scale=0.1, size=(1, 200, 2))
    >>> z[0, 100:106, 1] += 3.0
    >>> events = detect_transients(z, fs=10.0)
    >>> events["onset"].tolist(), events["duration"].tolist()
    ([100], [6])
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 3:
        raise ValueError(f"Z must have shape (n, T, L), got {Z.shape}.")
    fs = check_fs(fs)
    window = max(3, int(round(background_s * fs)) | 1)
    min_frames = max(1, int(round(min_duration_s * fs)))
    rows = []
    for i, length in enumerate(check_padded_recordings(Z, "Z")):
        z = _robust_zscore(Z[i, :length], window)
        above = z >= threshold
        for onset, stop in _runs(above):
            if stop - onset >= min_frames:
                peak = onset + int(np.argmax(z[onset:stop]))
                rows.append((i, onset, stop - onset, peak, z[peak]))
    columns = np.array(rows, dtype=float).reshape(-1, 5)
    events = {
        name: columns[:, k].astype(np.intp)
        for k, name in enumerate(["recording", "onset", "duration", "peak"])
    }
    events["score"] = columns[:, 4]
    events["onset_s"] = events["onset"] / fs
    events["duration_s"] = events["duration"] / fs
    return events


def _robust_zscore(z, window):
    """Largest absolute robust z-score across channels, per frame."""
    background = median_filter(z, size=(window, 1), mode="nearest")
    residual = z - background
    scale = _MAD_TO_STD * np.median(np.abs(residual - np.median(residual, axis=0)), axis=0)
    scale = np.where(scale > 0, scale, np.inf)  # a flat channel never fires
    return np.max(np.abs(residual) / scale, axis=1)


def _runs(mask):
    """``(start, stop)`` of each run of True values."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)


def match_events(true_onsets, detected_onsets, tolerance):
    """One-to-one matching of detected to true onsets within a tolerance.

    The matching minimises the total absolute onset error (Hungarian
    algorithm) among pairs closer than ``tolerance``.

    Parameters
    ----------
    true_onsets, detected_onsets : array-like of shape (n_true,), (n_detected,)
        Onsets in any unit (frames or seconds).
    tolerance : float
        Largest onset error, in the same unit, that still counts as a hit.

    Returns
    -------
    matches : ndarray of shape (n_matches, 2)
        Index pairs ``(true, detected)``.

    Examples
    --------
    >>> from skheatmap.metrics import match_events
    >>> match_events([10, 50], [12, 49, 90], tolerance=3).tolist()
    [[0, 0], [1, 1]]
    """
    true_onsets = np.asarray(true_onsets, dtype=float).ravel()
    detected_onsets = np.asarray(detected_onsets, dtype=float).ravel()
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}.")
    for name, onsets in (("true_onsets", true_onsets), ("detected_onsets", detected_onsets)):
        if not np.isfinite(onsets).all():
            raise ValueError(f"{name} must be finite frame indices; got NaN or inf.")
    if true_onsets.size == 0 or detected_onsets.size == 0:
        return np.empty((0, 2), dtype=np.intp)
    error = np.abs(true_onsets[:, np.newaxis] - detected_onsets[np.newaxis, :])
    # pairs beyond the tolerance get a cost no admissible matching can prefer
    forbidden = error.max() * (error.size + 1) + 1.0
    cost = np.where(error <= tolerance, error, forbidden)
    rows, cols = linear_sum_assignment(cost)
    keep = error[rows, cols] <= tolerance
    return np.column_stack([rows[keep], cols[keep]]).astype(np.intp)


def event_detection_scores(true_events, detected_events, *, tolerance_s, fs):
    """Precision, recall, F1 and onset localisation error of detected transients.

    Events are matched per recording with :func:`match_events` on their onsets.

    Parameters
    ----------
    true_events, detected_events : dict of array-like
        Tables with at least ``recording`` and ``onset`` (frames), such as
        ``make_thermal_faces(...).events`` and :func:`detect_transients`'s output.
    tolerance_s : float
        Largest onset error in seconds that counts as a detection, >= 0.
    fs : float
        Frame rate in Hz, finite and > 0.

    Returns
    -------
    scores : dict
        ``precision``, ``recall``, ``f1``, ``n_true``, ``n_detected``,
        ``n_matched``, ``mean_error_frames``, ``median_error_frames``,
        ``mean_error_s`` and ``median_error_s`` (NaN without matches).

    Examples
    --------
    >>> from skheatmap.metrics import event_detection_scores
    >>> truth = {"recording": [0, 0, 1], "onset": [10, 50, 5]}
    >>> found = {"recording": [0, 1, 1], "onset": [12, 5, 40]}
    >>> scores = event_detection_scores(truth, found, tolerance_s=0.5, fs=8.0)
    >>> scores["precision"], scores["recall"], scores["mean_error_frames"]
    (0.666..., 0.666..., 1.0)
    """
    fs = check_fs(fs)
    if not (isinstance(tolerance_s, numbers.Real) and 0 <= tolerance_s < math.inf):
        raise ValueError(
            f"tolerance_s must be a finite onset error >= 0 s, got {tolerance_s!r}."
        )
    tolerance = tolerance_s * fs
    errors = []
    true_rec, true_onset = _event_columns(true_events, "true_events")
    found_rec, found_onset = _event_columns(detected_events, "detected_events")
    for recording in np.union1d(true_rec, found_rec):
        t = true_onset[true_rec == recording]
        d = found_onset[found_rec == recording]
        matches = match_events(t, d, tolerance)
        errors.extend(np.abs(t[matches[:, 0]] - d[matches[:, 1]]))
    n_matched, n_true, n_detected = len(errors), true_onset.size, found_onset.size
    precision = n_matched / n_detected if n_detected else 0.0
    recall = n_matched / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    errors = np.asarray(errors, dtype=float)
    mean_error = float(errors.mean()) if errors.size else float("nan")
    median_error = float(np.median(errors)) if errors.size else float("nan")
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_true": n_true,
        "n_detected": n_detected,
        "n_matched": n_matched,
        "mean_error_frames": mean_error,
        "median_error_frames": median_error,
        "mean_error_s": mean_error / fs,
        "median_error_s": median_error / fs,
    }


def _event_columns(events, name):
    try:
        recording = np.asarray(events["recording"])
        onset = np.asarray(events["onset"], dtype=float)
    except (KeyError, TypeError):
        raise ValueError(
            f"{name} must be a table (dict) with 'recording' and 'onset' columns."
        ) from None
    if recording.shape != onset.shape:
        raise ValueError(f"{name}: 'recording' and 'onset' columns differ in length.")
    return recording, onset
