"""Figures of recordings and trajectories: frames, channel series, sources, transients."""

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._base import axes_grid, check_recording, new_axes, pyplot, time_axis

__all__ = ["plot_channel_series", "plot_event_timeline", "plot_frames", "plot_sources"]


def plot_frames(X, region_masks=None, *, recording=0, frames=None, fs=1.0, cmap="inferno"):
    """Heatmap frames of one recording in °C, with the outlines of the regions of interest.

    Parameters
    ----------
    X : array-like of shape (n, T, I, J)
        Recordings in °C.
    region_masks : dict of str to bool array of shape (n, I, J) or (I, J), optional
        Regions to outline (``make_thermal_faces(...).region_masks``).
    recording : int, default=0
    frames : sequence of int, optional
        Frames to show; default the first, middle and last.
    fs : float, default=1.0
        Frame rate in Hz, for the time in the panel titles.
    cmap : str, default="inferno"

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skheatmap.datasets import make_thermal_faces
    >>> from skheatmap.plotting import plot_frames
    >>> faces = make_thermal_faces(n_subjects=1, n_segments=1, n_frames=8, random_state=0)
    >>> fig = plot_frames(faces.X, faces.region_masks, fs=faces.fs)
    >>> len(fig.axes)  # three frames and the colour bar
    4
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 4:
        raise ValueError(f"X must have shape (n, T, I, J), got {X.shape}.")
    recording = check_recording(recording, X.shape[0])
    T = X.shape[1]
    frames = [0, T // 2, T - 1] if frames is None else [int(f) for f in frames]
    if not frames or min(frames) < 0 or max(frames) >= T:
        raise ValueError(f"frames must be indices in [0, {T}), got {frames!r}.")
    video = X[recording, frames]
    limits = np.nanpercentile(video, [1, 99])
    fig, axes = axes_grid(len(frames), n_cols=len(frames), panel_size=(3.2, 3.4))
    colours = pyplot().get_cmap("tab10").colors
    for ax, frame, image in zip(axes, frames, video, strict=True):
        shown = ax.imshow(image, cmap=cmap, vmin=limits[0], vmax=limits[1])
        ax.set_title(f"frame {frame} (t = {frame / fs:.1f} s)")
        ax.set_xlabel("column (pixel)")
        ax.set_ylabel("row (pixel)")
        for k, (name, masks) in enumerate((region_masks or {}).items()):
            mask = np.asarray(masks)
            mask = mask[recording] if mask.ndim == 3 else mask
            colour = colours[k % len(colours)]
            ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=1.2)
            ax.plot([], [], color=colour, label=name)  # legend entry of the outline
    if region_masks:
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small",
                        title="region")  # fmt: skip
    fig.colorbar(shown, ax=axes, label="temperature (°C)", shrink=0.8)
    return fig


def plot_channel_series(
    before, after, *, clean=None, recording=0, fs=1.0, channels=None, channel_names=None,
    unit="a.u.",
):  # fmt: skip
    """Channel series of one recording before and after the wavelet stage Ω.

    Parameters
    ----------
    before, after : array-like of shape (n, T, K)
        Channel series entering and leaving Ω.
    clean : array-like of shape (n, T, K), optional
        The noise-free series (ground truth), dashed.
    recording : int, default=0
    fs : float, default=1.0
        Frame rate in Hz.
    channels : sequence of int, optional
        Channels to show; default the first four.
    channel_names : sequence of str, optional
        Names of all ``K`` channels (``HeatmapEmbedder.get_feature_names_out()``).
    unit : str or dict of str to str, default="a.u."
        Unit of the channel values (e.g. "°C" for percentiles), or one unit
        per channel name (channels not named get "a.u.").

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.plotting import plot_channel_series
    >>> noisy = np.random.default_rng(0).normal(size=(1, 50, 2))
    >>> fig = plot_channel_series(noisy, 0.5 * noisy, fs=8.0, unit="°C")
    >>> fig.axes[-1].get_xlabel()
    'time (s)'
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.ndim != 3 or before.shape != after.shape:
        raise ValueError(
            f"before and after must both have shape (n, T, K), got {before.shape} and "
            f"{after.shape}."
        )
    recording = check_recording(recording, before.shape[0])
    K = before.shape[2]
    channels = list(range(min(K, 4))) if channels is None else [int(c) for c in channels]
    names = [f"channel {k}" for k in range(K)] if channel_names is None else list(channel_names)
    t = time_axis(before.shape[1], fs)
    fig, axes = axes_grid(len(channels), n_cols=1, panel_size=(8.0, 1.9), sharex=True)
    for ax, k in zip(axes, channels, strict=True):
        ax.plot(t, before[recording, :, k], color="0.6", lw=0.8, label="before Ω (noisy)")
        ax.plot(t, after[recording, :, k], color="C0", lw=1.4, label="after Ω")
        if clean is not None:
            ax.plot(t, np.asarray(clean)[recording, :, k], "k--", lw=1.0, label="clean (truth)")
        ax.set_ylabel(f"{names[k]}\n({_unit_of(unit, names[k])})")
    axes[0].legend(loc="upper right", ncols=3, fontsize="small")
    axes[-1].set_xlabel("time (s)")
    return fig


def _unit_of(unit, name):
    return unit.get(name, "a.u.") if isinstance(unit, dict) else unit


def _matched_sources(true, recovered):
    """Recovered channels matched one-to-one to true sources, sign-aligned, both z-scored."""
    def zscore(s):
        s = s - np.nanmean(s, axis=0)
        scale = np.nanstd(s, axis=0)
        return s / np.where(scale > 0, scale, 1.0)

    true, recovered = zscore(true), zscore(recovered)
    complete = ~(np.isnan(true).any(axis=1) | np.isnan(recovered).any(axis=1))
    K = true.shape[1]
    correlation = np.corrcoef(true[complete].T, recovered[complete].T)[:K, K:]
    rows, cols = linear_sum_assignment(np.abs(np.nan_to_num(correlation)), maximize=True)
    signs = np.sign(correlation[rows, cols])
    return rows, recovered[:, cols] * signs, np.abs(correlation[rows, cols]), true


def plot_sources(true, recovered, *, recording=0, fs=1.0, source_names=None):
    """True latent sources of one recording against the recovered ones.

    Each recovered channel is matched to a true source (Hungarian algorithm on
    the absolute correlation, as in the MCC), its sign aligned, and both are
    standardised (z-scores), since nonlinear ICA recovers sources up to
    permutation, sign and scale.

    Parameters
    ----------
    true : array-like of shape (n, T, L)
    recovered : array-like of shape (n, T, L')
    recording : int, default=0
    fs : float, default=1.0
    source_names : sequence of str, optional
        Name of each true source (``make_thermal_faces(...).source_regions``).

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.plotting import plot_sources
    >>> s = np.random.default_rng(0).normal(size=(1, 60, 2))
    >>> fig = plot_sources(s, -s[:, :, ::-1], fs=8.0)
    >>> fig.axes[0].get_legend_handles_labels()[1]
    ['true', 'recovered (|r| = 1.00)']
    """
    true, recovered = np.asarray(true, dtype=float), np.asarray(recovered, dtype=float)
    if true.ndim != 3 or recovered.ndim != 3 or true.shape[:2] != recovered.shape[:2]:
        raise ValueError(
            "true and recovered must have shapes (n, T, L) and (n, T, L') with the same n and "
            f"T, got {true.shape} and {recovered.shape}."
        )
    recording = check_recording(recording, true.shape[0])
    rows, matched, r, true_z = _matched_sources(true[recording], recovered[recording])
    names = source_names or [f"source {k}" for k in range(true.shape[2])]
    t = time_axis(true.shape[1], fs)
    fig, axes = axes_grid(len(rows), n_cols=1, panel_size=(8.0, 1.9), sharex=True)
    for ax, row, series, score in zip(axes, rows, matched.T, r, strict=True):
        ax.plot(t, true_z[:, row], "k", lw=1.2, label="true")
        ax.plot(t, series, color="C1", lw=1.2, label=f"recovered (|r| = {score:.2f})")
        ax.set_ylabel(f"{names[row]}\n(z-score)")
        ax.legend(loc="upper right", fontsize="small", ncols=2)
    axes[-1].set_xlabel("time (s)")
    return fig


def plot_event_timeline(true_events, detected_events, *, n_frames, fs=1.0, recordings=None,
                        ax=None):  # fmt: skip
    """Transients on a timeline, one lane per recording: truth above, detections below.

    Parameters
    ----------
    true_events, detected_events : dict of array-like
        Tables with ``recording``, ``onset`` and ``duration`` in frames (as
        ``make_thermal_faces(...).events`` and
        :func:`~skheatmap.metrics.detect_transients`).
    n_frames : int
        Length of the recordings, for the time axis.
    fs : float, default=1.0
    recordings : sequence of int, optional
        Lanes to draw; default every recording with an event (at most 12).
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skheatmap.plotting import plot_event_timeline
    >>> truth = {"recording": [0, 1], "onset": [10, 30], "duration": [8, 6]}
    >>> found = {"recording": [0], "onset": [11], "duration": [6]}
    >>> fig = plot_event_timeline(truth, found, n_frames=64, fs=8.0)
    >>> fig.axes[0].get_ylabel()
    'recording'
    """
    tables = {"true": true_events, "detected": detected_events}
    columns = {}
    for kind, table in tables.items():
        try:
            columns[kind] = [np.asarray(table[c]) for c in ("recording", "onset", "duration")]
        except (KeyError, TypeError):
            raise ValueError(
                f"{kind}_events must be a table with 'recording', 'onset' and 'duration'."
            ) from None
    if recordings is None:
        recordings = np.union1d(columns["true"][0], columns["detected"][0])[:12]
    lanes = {int(r): k for k, r in enumerate(recordings)}
    fig, ax = new_axes(ax, figsize=(8.0, 0.45 * len(lanes) + 1.4))
    styles = {"true": (0.05, "0.25", "true transient"),
              "detected": (-0.35, "C3", "detected")}  # fmt: skip
    for kind, (rec, onset, duration) in columns.items():
        offset, colour, label = styles[kind]
        for r, o, d in zip(rec, onset, duration, strict=True):
            if int(r) in lanes:
                ax.broken_barh([(o / fs, max(d, 1) / fs)], (lanes[int(r)] + offset, 0.3),
                               color=colour)  # fmt: skip
        ax.bar(0, 0, color=colour, label=label)  # legend entry
    ax.set_yticks(range(len(lanes)), [str(r) for r in lanes])
    ax.set_ylim(-0.6, len(lanes) - 0.3)
    ax.set_xlim(0, n_frames / fs)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("recording")
    ax.legend(loc="upper right", fontsize="small", ncols=2)
    ax.set_title("transients: truth vs detections")
    return fig
