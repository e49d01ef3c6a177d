"""Compiled per-frame kernels of :class:`~skheatmap.HeatmapEmbedder`.

Each kernel takes a ``(n_frames, n_pixels)`` block of frames and returns one
row of channels per frame, ignoring NaN pixels (dead pixels). Frames are
independent, so :func:`in_frame_blocks` runs a kernel on as many blocks of
frames as numba may use threads, side by side on the process's thread pool
(the kernels release the GIL).
"""

import functools

import numba
import numpy as np
from numba import njit, types

from ._threads import run_on_threads

__all__ = [
    "frame_status",
    "histogram_kernel",
    "in_frame_blocks",
    "moment_kernel",
    "percentile_kernel",
]

# Fewer frames than this per thread are not worth a thread's start-up.
_MIN_FRAMES_PER_THREAD = 64

_EPS = float(np.finfo(np.float64).eps)

# --------------------------------------------------------------------------- kernels
# One compiled pass (or two) per frame; float32 frames are promoted to float64
# inside the kernels, so both dtypes compute the same statistics. Reductions use
# only the reassociation fast-math flags (vectorised sums); no kernel that uses
# an infinite sentinel gets fast-math, and none gets nnan/ninf.
_REASSOC = {"reassoc", "contract", "nsz"}
# Explicit read-only signatures: writable arrays convert to them, so read-only
# inputs (memory maps, joblib's shared arrays) reuse the same compiled kernels.
_VECTOR = types.Array(types.float64, 1, "C", readonly=True)


def _frames_signatures(*trailing):
    """Signatures for C-contiguous float32 and float64 frames, then ``trailing`` args."""
    return [
        (types.Array(dtype, 2, "C", readonly=True), *trailing)
        for dtype in (types.float32, types.float64)
    ]


def in_frame_blocks(kernel, frames, *args):
    """``kernel(frames, *args)``, its frames split into blocks run side by side.

    Returns what ``kernel`` returns (an array, or a tuple of arrays), with the
    blocks' rows concatenated: frames are independent, so the result does not
    depend on the number of threads.
    """
    n_threads = min(numba.get_num_threads(), frames.shape[0] // _MIN_FRAMES_PER_THREAD)
    if n_threads <= 1:
        return kernel(frames, *args)
    bounds = np.linspace(0, frames.shape[0], n_threads + 1).astype(np.int64)
    parts = run_on_threads(
        [functools.partial(kernel, frames[start:stop], *args)
         for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
    )  # fmt: skip
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(outputs) for outputs in zip(*parts, strict=True))
    return np.concatenate(parts)


@njit(_frames_signatures(), nogil=True, cache=True, fastmath=_REASSOC)
def frame_status(frames):
    """NaN count of every frame and whether it holds an infinite value."""
    n_nan = np.zeros(frames.shape[0], np.int64)
    has_inf = np.zeros(frames.shape[0], np.bool_)
    for f in range(frames.shape[0]):
        row = frames[f]
        count = 0
        spoiled = 0.0  # v - v is NaN exactly when v is infinite (NaN pixels are skipped)
        for p in range(row.size):
            v = row[p]
            finite_or_inf = v == v
            count += not finite_or_inf
            spoiled += (v - v) if finite_or_inf else 0.0
        n_nan[f] = count
        has_inf[f] = spoiled != 0.0
    return n_nan, has_inf


@njit(cache=True)
def _lerp(below, above, gamma):
    # numpy's linear-interpolation formula, so that results match np.percentile
    diff = above - below
    if gamma >= 0.5:
        return above - diff * (1.0 - gamma)
    return below + diff * gamma


@njit(cache=True)
def _bucket(v, low, scale, top):
    # clamp before converting: a value far outside the range must not overflow int64
    return int(min(max((v - low) * scale, 0.0), top))


@njit(cache=True)
def _ranked(buffer, starts, slot_of, slot_start, rank):
    # the value of the given rank: its bucket's slot was gathered and sorted
    b = np.searchsorted(starts, rank, side="right") - 1
    return buffer[slot_start[slot_of[b]] + rank - starts[b]]


@njit(cache=True)
def _finite_range(row):
    low = np.inf
    high = -np.inf
    for v in row:
        if v == v:
            low = min(low, v)
            high = max(high, v)
    return low, high


@njit(_frames_signatures(_VECTOR), nogil=True, cache=True)
def percentile_kernel(frames, fractions):
    """Linear-interpolation percentiles of the finite pixels of each frame.

    A bucket select instead of a sort: the finite values are counted into
    equal-width buckets (a monotone map, so bucket order is sort order), only
    the values of the buckets holding a requested rank are gathered and those
    few small buckets sorted. The buckets span the previous frame's range
    (consecutive video frames are alike; values outside it fall into the end
    buckets, which only costs time). Each frame is read twice; the second
    read takes only the values whose bucket (noted in the first) is wanted.
    """
    n_frames, n_pixels = frames.shape
    n_ranks = 2 * fractions.size
    out = np.full((n_frames, fractions.size), np.nan)
    # about one bucket per two pixels: zeroing and summing the counts costs less
    # than sorting crowded buckets (faces concentrate their pixels in a few
    # degrees), and the compact counts, slots and bucket numbers below keep a
    # 64x64 frame's working set in L1 (measured 7 % and 4 % faster than one
    # bucket per pixel and than int64 bookkeeping)
    n_buckets = min(max(n_pixels // 2, 1), 2048)
    starts = np.empty(n_buckets + 1, np.int32)  # frames have fewer than 2**31 pixels
    slot_of = np.full(n_buckets + 1, -1, np.int32)  # the last bucket: NaN, never wanted
    slot_start = np.empty(n_ranks, np.int64)
    slot_bucket = np.empty(n_ranks, np.int64)
    ranks = np.empty(n_ranks, np.int64)
    buffer = np.empty(n_pixels, np.float64)
    fill = np.empty(n_ranks, np.int64)
    bucket_of = np.empty(n_pixels, np.uint16)  # n_buckets for NaN
    low, high = np.inf, -np.inf
    for f in range(n_frames):
        row = frames[f]
        if not low < high:  # first frame, or the previous one was flat or empty
            low, high = _finite_range(row)
            if not low < high:
                if low == high:
                    out[f, :] = low
                continue
        scale = n_buckets / (high - low)
        if not np.isfinite(scale):  # a subnormal spread: one bucket, sorted in full
            scale = 0.0
        starts[:] = 0
        n = 0
        next_low, next_high = np.inf, -np.inf
        for p in range(n_pixels):
            v = np.float64(row[p])
            b = n_buckets
            if v == v:
                n += 1
                b = _bucket(v, low, scale, n_buckets - 1)
                starts[b + 1] += 1
                next_low = min(next_low, v)
                next_high = max(next_high, v)
            bucket_of[p] = b
        if n > 0 and next_low == next_high:
            out[f, :] = next_low
        elif n > 0:
            for b in range(n_buckets):
                starts[b + 1] += starts[b]
            for k in range(fractions.size):
                # clamped, so that no fraction (a NaN or one outside [0, 1] from a
                # tampered model file) can index outside the counts
                position = min(max(fractions[k] * (n - 1), 0.0), n - 1.0)
                below = int(np.floor(position)) if position == position else 0
                ranks[2 * k] = below
                ranks[2 * k + 1] = min(below + 1, n - 1)
            n_slots = 0
            total = 0
            for r in ranks:
                b = np.searchsorted(starts, r, side="right") - 1
                if slot_of[b] < 0:
                    slot_of[b] = n_slots
                    slot_bucket[n_slots] = b
                    slot_start[n_slots] = total
                    total += starts[b + 1] - starts[b]
                    n_slots += 1
            fill[:n_slots] = slot_start[:n_slots]
            for p in range(n_pixels):  # the second read: only the wanted buckets' values
                s = slot_of[bucket_of[p]]
                if s >= 0:
                    buffer[fill[s]] = row[p]
                    fill[s] += 1
            for s in range(n_slots):
                buffer[slot_start[s] : fill[s]].sort()
            for k in range(fractions.size):
                below = _ranked(buffer, starts, slot_of, slot_start, ranks[2 * k])
                above = _ranked(buffer, starts, slot_of, slot_start, ranks[2 * k + 1])
                out[f, k] = _lerp(below, above, fractions[k] * (n - 1) - ranks[2 * k])
            slot_of[slot_bucket[:n_slots]] = -1
        low, high = next_low, next_high
    return out


@njit(_frames_signatures(_VECTOR), nogil=True, cache=True)
def histogram_kernel(frames, edges):
    """Bin counts with np.histogram's semantics: [e0, e1), ..., [e_{B-1}, e_B].

    Returns the counts and the number of finite values of each frame. A first
    guess from the equal-width formula is corrected against the edges, so
    non-uniform edges are exact too. Values outside the edges (and NaN) go to
    an overflow slot; four interleaved count rows keep neighbouring pixels,
    which often share a bin, from waiting on each other's increments.
    """
    n_bins = edges.size - 1
    first = edges[0]
    last = edges[n_bins]
    inverse_width = n_bins / (last - first)
    if not np.isfinite(inverse_width):  # subnormal span: the correction loops find the bin
        inverse_width = 0.0
    counts = np.zeros((frames.shape[0], n_bins))
    n_valid = np.zeros(frames.shape[0], np.int64)
    lanes = np.zeros((4, n_bins + 1), np.int64)
    for f in range(frames.shape[0]):
        row = frames[f]
        lanes[:] = 0
        valid = 0
        for p in range(row.size):
            v = np.float64(row[p])
            valid += v == v
            b = n_bins
            if first <= v <= last:
                b = int(min((v - first) * inverse_width, n_bins - 1.0))
                while b > 0 and v < edges[b]:
                    b -= 1
                while b < n_bins - 1 and v >= edges[b + 1]:
                    b += 1
            lanes[p & 3, b] += 1
        n_valid[f] = valid
        for b in range(n_bins):
            counts[f, b] = lanes[0, b] + lanes[1, b] + lanes[2, b] + lanes[3, b]
    return counts, n_valid


@njit(cache=True)
def _finish_moments(result, n, mean, central, warm):
    m2, m3, m4 = central
    result[0] = mean
    result[1] = m2
    # a flat frame has no asymmetry and no tails: 0 keeps the channels finite
    if m2 == 0.0 or m2 <= (_EPS * abs(mean)) ** 2:
        result[2] = 0.0
        result[3] = 0.0
    else:
        result[2] = m3 / m2**1.5
        result[3] = m4 / (m2 * m2) - 3.0
    w, wy, wx, wyy, wxx, wxy = warm
    if w > 0.0:
        cy = wy / w
        cx = wx / w
        result[4] = cy
        result[5] = cx
        result[6] = wyy / w - cy * cy
        result[7] = wxx / w - cx * cx
        result[8] = wxy / w - cx * cy
    else:  # no pixel warmer than the mean: the caller puts the centroid at the ROI centre
        result[6] = 0.0
        result[7] = 0.0
        result[8] = 0.0


@njit(cache=True)
def _roi_centre(row, ys, xs):
    n = 0
    y_sum = 0.0
    x_sum = 0.0
    for p in range(row.size):
        if row[p] == row[p]:
            n += 1
            y_sum += ys[p]
            x_sum += xs[p]
    return y_sum / n, x_sum / n


@njit(_frames_signatures(_VECTOR, _VECTOR), nogil=True, cache=True, fastmath=_REASSOC)
def moment_kernel(frames, ys, xs):
    """Temperature moments and warm-region geometry of each frame.

    Columns follow ``_MOMENT_NAMES``; ``ys, xs`` are the row and column of
    each pixel. The warm region weighs each pixel by how much warmer than the
    frame mean it is, ``max(x - mean, 0)``.
    """
    out = np.full((frames.shape[0], 9), np.nan)
    for f in range(frames.shape[0]):
        row = frames[f]
        n = 0
        total = 0.0
        for p in range(row.size):
            v = np.float64(row[p])
            finite = v == v
            n += finite
            total += v if finite else 0.0
        if n == 0:
            continue
        mean = total / n
        m2 = m3 = m4 = 0.0
        w = wy = wx = wyy = wxx = wxy = 0.0
        for p in range(row.size):
            v = np.float64(row[p])
            d = v - mean if v == v else 0.0
            d2 = d * d
            m2 += d2
            m3 += d2 * d
            m4 += d2 * d2
            warm = max(d, 0.0)
            warm_y = warm * ys[p]
            warm_x = warm * xs[p]
            w += warm
            wy += warm_y
            wx += warm_x
            wyy += warm_y * ys[p]
            wxx += warm_x * xs[p]
            wxy += warm_x * ys[p]
        _finish_moments(out[f], n, mean, (m2 / n, m3 / n, m4 / n), (w, wy, wx, wyy, wxx, wxy))
        if w == 0.0:
            out[f, 4], out[f, 5] = _roi_centre(row, ys, xs)
    return out
