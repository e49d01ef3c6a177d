"""Input checks shared by the metric functions: sampling rates and NaN-padded recordings.

A metric must never turn a NaN or an infinity in its input into a silent
answer (a NaN score, or no events at all); these checks say which recording
and frame is at fault and what to do about it.
"""

import math
import numbers

import numpy as np

from ._validation import lengths_of

__all__ = ["check_fs", "check_padded_recordings"]


def check_fs(fs, name="fs"):
    """``fs`` as a float, or a ValueError if it is not a finite rate > 0 Hz."""
    if isinstance(fs, bool) or not isinstance(fs, numbers.Real) or not (
        math.isfinite(fs) and fs > 0
    ):
        raise ValueError(
            f"{name} must be a finite sampling rate > 0 Hz, got {fs!r}; pass the frame rate "
            "of the recordings."
        )
    return float(fs)


def check_padded_recordings(x, name):
    """Lengths of the NaN-padded recordings ``x`` of shape (n, T, ...), checked.

    Trailing all-NaN frames are padding and are excluded by the lengths. An
    infinity anywhere, a NaN inside a recording (a dead value or dropped
    frame before its end) and a recording that is all padding are errors
    naming the recording and the frame.
    """
    lengths = lengths_of(x)
    values = x.reshape(x.shape[0], x.shape[1], -1)
    infinite = np.isinf(values).any(axis=2)
    if infinite.any():
        i, t = np.argwhere(infinite)[0]
        raise ValueError(
            f"{name}: recording {i} has an infinite value at frame {t}; remove or clip "
            "infinities before scoring."
        )
    inside = np.isnan(values).any(axis=2) & (np.arange(x.shape[1]) < lengths[:, np.newaxis])
    if inside.any():
        i, t = np.argwhere(inside)[0]
        raise ValueError(
            f"{name}: recording {i} has NaN at frame {t}, inside the recording (only trailing "
            "all-NaN frames are padding); impute or interpolate missing values first."
        )
    if (lengths == 0).any():
        raise ValueError(
            f"{name}: recording {np.flatnonzero(lengths == 0)[0]} is all NaN (no frames); "
            "drop empty recordings before scoring."
        )
    return lengths
