"""Lazy matplotlib import and the axes plumbing shared by every figure."""

import numpy as np

__all__ = ["axes_grid", "check_recording", "new_axes", "pyplot", "time_axis"]


def pyplot():
    """``matplotlib.pyplot``, or an ImportError naming the ``[plot]`` extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "skheatmap.plotting needs matplotlib; install it with "
            "`pip install skheatmap[plot]` (or `pip install matplotlib`)."
        ) from None
    return plt


def new_axes(ax, figsize):
    """``(figure, ax)``: the given axes' figure, or a new figure with one axes."""
    if ax is not None:
        return ax.figure, ax
    return pyplot().subplots(figsize=figsize, layout="constrained")


def axes_grid(n_panels, *, n_cols, panel_size, sharex=False, sharey=False):
    """A figure with ``n_panels`` axes on a grid, as a flat list (spare axes removed)."""
    n_rows = -(-n_panels // n_cols)
    n_cols = min(n_cols, n_panels)
    fig, axes = pyplot().subplots(
        n_rows, n_cols, figsize=(panel_size[0] * n_cols, panel_size[1] * n_rows),
        squeeze=False, layout="constrained", sharex=sharex, sharey=sharey,
    )  # fmt: skip
    axes = list(axes.ravel())
    for spare in axes[n_panels:]:
        spare.remove()
    return fig, axes[:n_panels]


def check_recording(recording, n):
    if not (isinstance(recording, (int, np.integer)) and 0 <= recording < n):
        raise ValueError(f"recording must be an index in [0, {n}), got {recording!r}.")
    return int(recording)


def time_axis(n_frames, fs):
    if not fs > 0:
        raise ValueError(f"fs must be a frame rate > 0 Hz, got {fs!r}.")
    return np.arange(n_frames) / fs
