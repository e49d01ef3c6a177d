"""Argument checks and array conversions shared by the public soft-DTW functions."""

import numbers

import numpy as np
from numba import njit

from .._torch import import_torch


def is_tensor(value):
    """True for a torch tensor (without importing torch for NumPy callers)."""
    return type(value).__module__.startswith("torch")


def check_gamma(gamma, dtype, device):
    """Smoothing ``gamma`` as a 0-d tensor (a tensor given by the user is kept as is)."""
    torch = import_torch()
    if is_tensor(gamma):
        if gamma.numel() != 1:
            raise ValueError(f"gamma must be a scalar tensor, got shape {tuple(gamma.shape)}.")
        value = float(gamma.detach())
        if not value > 0:
            raise ValueError(f"gamma must be > 0, got {value}.")
        return gamma.reshape(())
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise TypeError(f"gamma must be a positive float, got {type(gamma).__name__}.")
    if not gamma > 0 or not np.isfinite(gamma):
        raise ValueError(f"gamma must be a finite float > 0, got {gamma}.")
    return torch.tensor(float(gamma), dtype=dtype, device=device)


def check_band(band):
    """Sakoe-Chiba radius as an int, ``-1`` meaning no band."""
    if band is None:
        return -1
    if isinstance(band, bool) or not isinstance(band, numbers.Integral):
        raise TypeError(f"band must be None or an int >= 0, got {type(band).__name__}.")
    if band < 0:
        raise ValueError(f"band must be None or an int >= 0, got {band}.")
    return int(band)


def as_float_tensor(value, name, like=None):
    """``value`` as a floating tensor; float32/float64 kept, integers -> float64."""
    torch = import_torch()
    if not is_tensor(value):
        array = np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}.")
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
        value = torch.from_numpy(np.ascontiguousarray(array))
        if like is not None:
            value = value.to(like.device)
    elif not value.is_floating_point():
        if value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}.")
        value = value.to(torch.float64)
    return value


def series_lengths(X, name):
    """Lengths of ``(B, T, d)`` series whose trailing all-NaN frames are padding."""
    torch = import_torch()
    if X.shape[1] == 0 or X.shape[2] == 0:
        raise ValueError(
            f"{name} has shape {tuple(X.shape)}: every series needs at least one frame of at "
            "least one value."
        )
    if X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64):
        lengths, valid = _finite_frame_counts(np.ascontiguousarray(X.detach().numpy()))
        lengths = torch.from_numpy(lengths)
    else:
        lengths, valid = _finite_frame_counts_on_device(X)
    if not valid:
        _explain_invalid(X, name, torch.isfinite(X).all(-1), lengths)
    return lengths


def _finite_frame_counts_on_device(X):
    """:func:`_finite_frame_counts` in a few whole-tensor operations and one synchronisation."""
    torch = import_torch()
    finite_values = torch.isfinite(X).sum(-1)  # (B, T)
    lengths = (finite_values == X.shape[2]).sum(1)
    steps = torch.arange(X.shape[1], device=X.device)
    layout = torch.where(steps < lengths[:, None], X.shape[2], 0)
    no_infinity = torch.isnan(X).sum(-1) + finite_values == X.shape[2]
    valid = (
        torch.equal(finite_values, layout)
        and bool(no_infinity.all())
        and bool((lengths > 0).all())
    )
    return lengths.to(torch.int64), valid


@njit(cache=True, nogil=True)
def _finite_frame_counts(X):
    """Finite frames of each series ``(B, T, d)``, and whether all are a prefix before all-NaN ones.

    One pass over a CPU array, 0.06 ms for 64 series of 256 × 8: the
    whole-tensor operations took 1 ms, a twentieth of a soft-DTW forward and
    backward pass on them.
    """
    lengths = np.zeros(X.shape[0], dtype=np.int64)
    valid = True
    for b in range(X.shape[0]):
        for t in range(X.shape[1]):
            finite, nan = 0, 0
            for f in range(X.shape[2]):
                finite += np.isfinite(X[b, t, f])
                nan += np.isnan(X[b, t, f])
            if finite == X.shape[2]:
                lengths[b] += 1
                valid &= lengths[b] == t + 1
            else:
                valid &= nan == X.shape[2]
        valid &= lengths[b] > 0
    return lengths, valid


def _explain_invalid(X, name, finite_frame, lengths):
    """Raise the ValueError that says what is wrong with the series ``X``."""
    torch = import_torch()
    if bool(torch.isinf(X).any()):
        raise ValueError(
            f"{name} contains infinity; soft-DTW needs finite values (NaN only as trailing "
            "whole-frame padding). Replace infinite values, e.g. with np.nan_to_num."
        )
    if not bool((torch.isnan(X).all(-1) | finite_frame).all()):
        raise ValueError(
            f"{name} has frames that are partly NaN; only whole-frame NaN padding at the "
            "end of a series is allowed (impute missing values first)."
        )
    if bool((lengths == 0).any()):
        raise ValueError(f"{name} contains a series with no finite frame (all NaN).")
    raise ValueError(
        f"{name} has all-NaN frames before the end of a series; NaN padding must be "
        "trailing (see skheatmap.to_dataset)."
    )


def as_batch(x, name, like=None):
    """A single series ``(T,)``/``(T, d)`` or a batch ``(B, T, d)`` as ``(B, T, d)``."""
    x = as_float_tensor(x, name, like)
    if x.ndim == 1:
        return x.reshape(1, -1, 1), False
    if x.ndim == 2:
        return x.unsqueeze(0), False
    if x.ndim == 3:
        return x, True
    raise ValueError(
        f"{name} must be a series (T,) or (T, d), or a batch (B, T, d); got shape {tuple(x.shape)}."
    )


def check_pair_of_series(x, y):
    """Validate ``x``, ``y`` for the pairwise-by-position functions.

    Returns the two batches (common dtype and device), whether the input was a
    batch, and whether the caller gave NumPy (so the result goes back to NumPy).
    """
    numpy_in = not (is_tensor(x) or is_tensor(y))
    like = x if is_tensor(x) else (y if is_tensor(y) else None)
    X, x_batched = as_batch(x, "x", like)
    Y, y_batched = as_batch(y, "y", like)
    if x_batched != y_batched:
        raise ValueError(
            f"x and y must both be single series or both batches; got shapes "
            f"{tuple(X.shape) if x_batched else tuple(X.shape[1:])} and "
            f"{tuple(Y.shape) if y_batched else tuple(Y.shape[1:])}."
        )
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"x and y must hold the same number of series, got {X.shape[0]} and {Y.shape[0]}."
        )
    check_same_dimension(X, Y, "x", "y")
    X, Y = common_dtype(X, Y)
    return X, Y, x_batched, numpy_in


def check_same_dimension(X, Y, x_name, y_name):
    if X.shape[2] != Y.shape[2]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of channels per frame, got "
            f"{X.shape[2]} and {Y.shape[2]}."
        )
    if X.device != Y.device:
        raise ValueError(f"{x_name} and {y_name} are on different devices.")


def common_dtype(X, Y):
    torch = import_torch()
    dtype = torch.promote_types(X.dtype, Y.dtype)
    return X.to(dtype), Y.to(dtype)


def check_dataset(X, name, like=None):
    """A dataset ``(B, T, d)``; 2-D ``(B, F)`` is B series of one frame (package rule)."""
    X = as_float_tensor(X, name, like)
    if X.ndim == 2:
        return X.unsqueeze(1)
    if X.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n_series, T, d) (or (n_series, F) for one-frame "
            f"series); got shape {tuple(X.shape)}."
        )
    return X


def to_output(result, numpy_in):
    """Give back NumPy (scalars as NumPy scalars) when NumPy came in."""
    if not numpy_in:
        return result
    array = result.detach().cpu().numpy()
    return array[()] if array.ndim == 0 else array
