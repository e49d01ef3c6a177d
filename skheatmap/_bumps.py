"""The transient shape shared by the synthetic data and the injection metrics."""

import numpy as np

__all__ = ["raised_cosine_bump"]


def raised_cosine_bump(n_frames):
    """A raised-cosine bump of ``n_frames`` samples peaking at 1, zero just outside.

    ``sin²(π (t + ½) / n)`` sampled at frame centres, so the bump is symmetric and
    every sample lies inside the event.

    Examples
    --------
    >>> from skheatmap._bumps import raised_cosine_bump
    >>> raised_cosine_bump(4).round(3).tolist()
    [0.146, 0.854, 0.854, 0.146]
    """
    return np.sin(np.pi * (np.arange(n_frames) + 0.5) / n_frames) ** 2
