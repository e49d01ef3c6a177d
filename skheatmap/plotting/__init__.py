"""Figures of the evaluation protocol (matplotlib, the ``[plot]`` extra).

matplotlib is imported when a figure is drawn, not when this module is
imported. Every function returns the :class:`matplotlib.figure.Figure`; those
drawing a single panel also accept ``ax`` to draw into an existing axes.

- recordings and trajectories: :func:`plot_frames` (frames with region
  outlines), :func:`plot_channel_series` (before/after the wavelet stage),
  :func:`plot_sources` (recovered vs true sources),
  :func:`plot_event_timeline` (transients, truth vs detections);
- pair classification: :func:`plot_pair_distances`, :func:`plot_roc`,
  :func:`plot_reliability`;
- search: :func:`plot_search_results` (score vs complexity),
  :func:`plot_halving_traces` (per-branch successive-halving traces).
"""

from ._pairs import plot_pair_distances, plot_reliability, plot_roc
from ._search import plot_halving_traces, plot_search_results
from ._signals import plot_channel_series, plot_event_timeline, plot_frames, plot_sources

__all__ = [
    "plot_channel_series",
    "plot_event_timeline",
    "plot_frames",
    "plot_halving_traces",
    "plot_pair_distances",
    "plot_reliability",
    "plot_roc",
    "plot_search_results",
    "plot_sources",
]
