"""numba CPU kernels: soft-DTW forward, and backward from stored soft-min weights.

Layout. Pairs are processed in blocks of ``LANES`` pairs; inside a block every
array is flat with the pair ("lane") index fastest, so the innermost loops run
over lanes with unit stride and LLVM vectorises them (the exp and log come from
:mod:`._simd_math`, which vectorise too). Hot loops take whole arrays plus
offsets, never slices: a slice per cell would cost reference-count updates.
Each block copies its series into a lane-interleaved scratch (``O(T·d·LANES)``),
so squared distances are computed on the fly and no ``(N, M, d)`` tensor
exists. Each worker thread reuses one weight buffer for all its blocks, so
memory is ``O(threads·N·M·LANES)`` whatever the number of pairs, and freshly
mapped pages are not faulted in again for every block.

Per-lane lengths and the Sakoe-Chiba band are cell masks; the block walks only
the union of its lanes' band spans (``_row_spans``), and stores the soft-min
weights of those cells only, so a band saves memory and time alike. The
backward pass is then ``e_ij = Σ w·e`` over the three successors, with no exp.
"""

import numpy as np
from numba import njit, prange

from ._simd_math import exp_nonpositive, log_1_to_4

LANES = 16
_INF = np.inf


@njit(cache=True, error_model="numpy")
def _band_columns(i, n, m, band):
    """Columns ``[first, last]`` of row ``i`` kept for a pair of lengths n, m.

    The two-axis slope rule keeps cell (i, j) when ``|i·(m-1)/(n-1) - j| <= band``
    or ``|j·(n-1)/(m-1) - i| <= band``; multiplying out, that is the exact integer
    test ``|i·(m-1) - j·(n-1)| <= band·max(n-1, m-1)``, which keeps the end cell
    reachable for every n, m and band >= 1. ``band < 0`` keeps the whole row;
    rows past ``n`` are empty (``last < first``).
    """
    if i >= n:
        return 0, -1
    if band < 0 or n == 1:
        return 0, m - 1
    centre = i * (m - 1)
    reach = band * max(n - 1, m - 1)
    first = -((reach - centre) // (n - 1))  # ceil((centre - reach) / (n - 1))
    last = (centre + reach) // (n - 1)
    return max(first, 0), min(last, m - 1)


@njit(cache=True, error_model="numpy")
def _row_spans(nx, ny, band, n_rows):
    """Union over the lanes of each row's kept columns, and the cell offsets."""
    lo = np.zeros(n_rows, dtype=np.int64)
    hi = np.full(n_rows, -1, dtype=np.int64)
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(n_rows):
        first, last = np.iinfo(np.int64).max, -1
        for lane in range(nx.shape[0]):
            lane_first, lane_last = _band_columns(i, nx[lane], ny[lane], band)
            if lane_last >= lane_first:
                first, last = min(first, lane_first), max(last, lane_last)
        if last >= 0:
            lo[i], hi[i] = first, last
        offsets[i + 1] = offsets[i] + hi[i] - lo[i] + 1
    return lo, hi, offsets


@njit(cache=True, error_model="numpy")
def _load_lanes(source, rows, lengths, n_frames):
    """Copy the series of a block into a flat ``(T, d, lanes)`` scratch, padding -> 0."""
    n_lanes, d = rows.shape[0], source.shape[2]
    out = np.zeros(n_frames * d * n_lanes)
    for lane in range(n_lanes):
        if rows[lane] < 0:
            continue
        for t in range(lengths[lane]):
            for k in range(d):
                out[(t * d + k) * n_lanes + lane] = source[rows[lane], t, k]
    return out


@njit(cache=True, error_model="numpy", inline="always")
def _squared_distance(x, y, d, out):
    """``out[lane] = ||x - y||²`` for one frame of each lane (``(d, lanes)`` flat)."""
    n_lanes = out.shape[0]
    for lane in range(n_lanes):
        out[lane] = 0.0
    for k in range(d):
        for lane in range(n_lanes):
            diff = x[k * n_lanes + lane] - y[k * n_lanes + lane]
            out[lane] += diff * diff


@njit(cache=True, error_model="numpy", inline="always")
def _soft_min_cell(window, left, dist, first, last, j, gamma, w_diag, w_up, w_left):
    """Cell (i, j) for every lane: ``r = dist + min^γ(diag, up, left)`` and its weights.

    ``window`` holds r(i-1, j-1) then r(i-1, j); ``left`` holds r(i, j-1) and
    is replaced by r(i, j). Selects only, on lane-sized buffers only (LLVM
    cannot bound offsets into the big arrays), so the loop vectorises.
    """
    n_lanes = left.shape[0]
    inv_gamma = 1.0 / gamma
    for lane in range(n_lanes):
        a, b, c = window[lane], window[n_lanes + lane], left[lane]
        # Selects, not min(): numba's min() is a call that blocks vectorisation.
        best = a if a < b else b
        best = best if best < c else c
        live = (best < _INF) & (j >= first[lane]) & (j <= last[lane])
        shift = best if live else 0.0
        ea = exp_nonpositive((shift - a) * inv_gamma)
        eb = exp_nonpositive((shift - b) * inv_gamma)
        ec = exp_nonpositive((shift - c) * inv_gamma)
        total = ea + eb + ec if live else 1.0
        norm = 1.0 / total if live else 0.0
        r = dist[lane] + best - gamma * log_1_to_4(total)
        left[lane] = r if live else _INF
        w_diag[lane] = ea * norm
        w_up[lane] = eb * norm
        w_left[lane] = ec * norm


@njit(cache=True, error_model="numpy")
def _forward_block(xs, ys, d, nx, ny, gamma, band, spans, weights, store, values):
    """Soft-DTW DP over one block; fills ``values`` and, if ``store``, the weights.

    Row buffers hold columns -1..M-1 of one DP row (column c at ``(c+1)·lanes``).
    """
    lo, hi, offsets = spans
    n_lanes = nx.shape[0]
    n_rows, n_cols = lo.shape[0], ny.max()
    frame = d * n_lanes
    w_diag, w_up, w_left = weights
    prev = np.full((n_cols + 1) * n_lanes, _INF)
    cur = np.full((n_cols + 1) * n_lanes, _INF)
    prev[:n_lanes] = 0.0  # r(-1, -1) = 0
    window = np.empty(2 * n_lanes)
    left = np.empty(n_lanes)
    dist = np.empty(n_lanes)
    cell = np.empty((3, n_lanes))
    first = np.empty(n_lanes, dtype=np.int64)
    last = np.empty(n_lanes, dtype=np.int64)
    for i in range(n_rows):
        if i > 0:
            prev, cur = cur, prev
            # cur still holds row i-2 (or row -1): clear what was written there.
            start = 0 if i == 1 else (lo[i - 2] + 1) * n_lanes
            stop = n_lanes if i == 1 else (hi[i - 2] + 2) * n_lanes
            cur[start:stop] = _INF
        for lane in range(n_lanes):
            first[lane], last[lane] = _band_columns(i, nx[lane], ny[lane], band)
            left[lane] = _INF
        x = xs[i * frame : (i + 1) * frame]
        for j in range(lo[i], hi[i] + 1):
            at = j * n_lanes
            _squared_distance(x, ys[j * frame : (j + 1) * frame], d, dist)
            window[:] = prev[at : at + 2 * n_lanes]
            _soft_min_cell(window, left, dist, first, last, j, gamma, cell[0], cell[1], cell[2])
            cur[at + n_lanes : at + 2 * n_lanes] = left
            if store:
                w_at = (offsets[i] + j - lo[i]) * n_lanes
                w_diag[w_at : w_at + n_lanes] = cell[0]
                w_up[w_at : w_at + n_lanes] = cell[1]
                w_left[w_at : w_at + n_lanes] = cell[2]
        for lane in range(n_lanes):
            if i == nx[lane] - 1:
                values[lane] = cur[ny[lane] * n_lanes + lane]


@njit(cache=True, error_model="numpy")
def _weight_at(spans, i, j, n_lanes):
    """Offset of the stored weights of cell (i, j); the all-zero last cell if absent."""
    lo, hi, offsets = spans
    if i >= lo.shape[0] or j < lo[i] or j > hi[i]:
        return offsets[-1] * n_lanes
    return (offsets[i] + j - lo[i]) * n_lanes


@njit(cache=True, error_model="numpy", inline="always")
def _expected_cell(i, j, nx, ny, window, right, w_diag, w_up, w_left, e):
    """E(i, j) for every lane from its three successors, with no exp.

    ``window`` holds E(i+1, j) then E(i+1, j+1), ``right`` holds E(i, j+1) and
    the ``w_*`` the weights those successors give (i, j); the result goes to
    ``e`` and ``right``.
    """
    n_lanes = e.shape[0]
    for lane in range(n_lanes):
        from_successors = (
            window[n_lanes + lane] * w_diag[lane]
            + window[lane] * w_up[lane]
            + right[lane] * w_left[lane]
        )
        end = (i == nx[lane] - 1) & (j == ny[lane] - 1)
        value = 1.0 if end else from_successors
        e[lane] = value
        right[lane] = value


@njit(cache=True, error_model="numpy", inline="always")
def _accumulate_gradient(x, y, d, e, gx, gy, inner):
    """Fold cell (i, j) into ∂S/∂x_i (``gx``), ∂S/∂y_j (``gy``) and <E, Δ>."""
    n_lanes = e.shape[0]
    for k in range(d):
        for lane in range(n_lanes):
            diff = x[k * n_lanes + lane] - y[k * n_lanes + lane]
            g = 2.0 * e[lane] * diff
            gx[k * n_lanes + lane] += g
            gy[k * n_lanes + lane] -= g
            inner[lane] += e[lane] * diff * diff


@njit(cache=True, error_model="numpy")
def _backward_block(xs, ys, d, nx, ny, spans, weights, gxs, gys, inner, alignment):
    """Expected alignment from stored weights, folded into the input gradients.

    Each weight array has one all-zero cell past the stored ones (the weight of
    a cell outside the spans). ``gxs``/``gys`` receive ∂S/∂x and ∂S/∂y (same
    layout as ``xs``/``ys``), ``inner`` receives <E, Δ> (for ∂S/∂γ) and
    ``alignment`` (flat ``(N, M, lanes)``) receives E when it is not empty.
    """
    lo, hi, offsets = spans
    n_lanes = nx.shape[0]
    n_rows, n_cols = lo.shape[0], ny.max()
    frame = d * n_lanes
    keep_alignment = alignment.shape[0] > 0
    w_diag, w_up, w_left = weights
    nxt = np.zeros((n_cols + 1) * n_lanes)
    cur = np.zeros((n_cols + 1) * n_lanes)
    window = np.empty(2 * n_lanes)
    right = np.empty(n_lanes)
    e = np.empty(n_lanes)
    gx = np.empty(frame)
    for i in range(n_rows - 1, -1, -1):
        if i < n_rows - 1:
            nxt, cur = cur, nxt
            if i + 2 < n_rows:  # cur still holds row i+2
                cur[lo[i + 2] * n_lanes : (hi[i + 2] + 1) * n_lanes] = 0.0
        right[:] = 0.0
        x = xs[i * frame : (i + 1) * frame]
        gx[:] = 0.0
        for j in range(hi[i], lo[i] - 1, -1):
            at = j * n_lanes
            window[:] = nxt[at : at + 2 * n_lanes]
            below_right = _weight_at(spans, i + 1, j + 1, n_lanes)
            below = _weight_at(spans, i + 1, j, n_lanes)
            beside = _weight_at(spans, i, j + 1, n_lanes)
            _expected_cell(
                i,
                j,
                nx,
                ny,
                window,
                right,
                w_diag[below_right : below_right + n_lanes],
                w_up[below : below + n_lanes],
                w_left[beside : beside + n_lanes],
                e,
            )
            cur[at : at + n_lanes] = e
            _accumulate_gradient(
                x,
                ys[j * frame : (j + 1) * frame],
                d,
                e,
                gx,
                gys[j * frame : (j + 1) * frame],
                inner,
            )
            if keep_alignment:
                alignment[(i * n_cols + j) * n_lanes : (i * n_cols + j + 1) * n_lanes] = e
        gxs[i * frame : (i + 1) * frame] = gx


@njit(cache=True, error_model="numpy")
def _block_lanes(pairs, lx, ly, first):
    """Rows of X and Y and lengths of the lanes of the block starting at ``first``."""
    xrows = np.full(LANES, -1, dtype=np.int64)
    yrows = np.full(LANES, -1, dtype=np.int64)
    nx = np.ones(LANES, dtype=np.int64)
    ny = np.ones(LANES, dtype=np.int64)
    for lane in range(min(LANES, pairs.shape[0] - first)):
        xrows[lane], yrows[lane] = pairs[first + lane, 0], pairs[first + lane, 1]
        nx[lane], ny[lane] = lx[xrows[lane]], ly[yrows[lane]]
    return xrows, yrows, nx, ny


@njit(cache=True, error_model="numpy")
def _grown(weights, size):
    """``weights`` if each array holds ``size`` values, else three larger ones.

    Three separate allocations, not rows of one array: LLVM must see that the
    weight stores cannot alias, or it will not vectorise the soft-min loop.
    """
    if weights[0].shape[0] >= size:
        return weights
    size = max(size, 2 * weights[0].shape[0])
    return np.zeros(size), np.zeros(size), np.zeros(size)


@njit(cache=True, error_model="numpy")
def _unload(block, lengths, scale, d, out, lane, p):
    """Copy one lane of a flat ``(T, d, lanes)`` block into ``out[p]``, times ``scale``."""
    for t in range(lengths[lane]):
        for k in range(d):
            out[p, t, k] = scale * block[(t * d + k) * LANES + lane]


@njit(parallel=True, cache=True, error_model="numpy")
def soft_dtw_blocks(X, Y, lx, ly, pairs, gamma, band, scale, want_grad, want_alignment, n_workers):
    """Soft-DTW of many pairs ``(X[pairs[p, 0]], Y[pairs[p, 1]])``.

    Parameters
    ----------
    X, Y : float64 arrays of shape (B, N, d) and (C, M, d)
        Series; frames beyond ``lx``/``ly`` are never read.
    lx, ly : int64 arrays of shape (B,) and (C,)
        Lengths (all >= 1).
    pairs : int64 array of shape (P, 2)
        Row of X and row of Y of each pair; pairs of similar lengths should be
        adjacent (blocks walk the union of their lanes' cells).
    gamma : float
    band : int
        Sakoe-Chiba radius, or -1 for none.
    scale : float64 array of shape (P,)
        Gradient of each pair is multiplied by it (the upstream gradient).
    want_grad, want_alignment : bool
    n_workers : int
        Threads to spread the blocks over (``numba.get_num_threads()``).

    Returns
    -------
    values : (P,) soft-DTW values.
    grad_x, grad_y : (P, N, d) and (P, M, d) scaled gradients, or empty.
    inner : (P,) <E, Δ> per pair (for ∂S/∂γ), or empty.
    alignment : (P, N, M) expected alignments, or empty.
    """
    n_pairs, d = pairs.shape[0], X.shape[2]
    n_blocks = (n_pairs + LANES - 1) // LANES
    backward = want_grad or want_alignment
    values = np.empty(n_pairs)
    grad_size = n_pairs if want_grad else 0
    grad_x = np.zeros((grad_size, X.shape[1], d))
    grad_y = np.zeros((grad_size, Y.shape[1], d))
    inner = np.zeros(grad_size)
    alignment = np.zeros((n_pairs if want_alignment else 0, X.shape[1], Y.shape[1]))
    n_workers = max(1, min(n_workers, n_blocks))
    for worker in prange(n_workers):
        weights = (np.zeros(LANES), np.zeros(LANES), np.zeros(LANES))
        for block in range(worker, n_blocks, n_workers):
            first = block * LANES
            xrows, yrows, nx, ny = _block_lanes(pairs, lx, ly, first)
            spans = _row_spans(nx, ny, band, nx.max())
            n_cells = spans[2][-1]
            xs = _load_lanes(X, xrows, nx, nx.max())
            ys = _load_lanes(Y, yrows, ny, ny.max())
            if backward:
                weights = _grown(weights, (n_cells + 1) * LANES)
                for buffer in weights:
                    buffer[n_cells * LANES : (n_cells + 1) * LANES] = 0.0
            block_values = np.empty(LANES)
            _forward_block(xs, ys, d, nx, ny, gamma, band, spans, weights, backward, block_values)
            n_used = min(LANES, n_pairs - first)
            values[first : first + n_used] = block_values[:n_used]
            if not backward:
                continue
            gxs, gys = np.zeros_like(xs), np.zeros_like(ys)
            block_inner = np.zeros(LANES)
            block_alignment = np.zeros(nx.max() * ny.max() * LANES if want_alignment else 0)
            _backward_block(
                xs, ys, d, nx, ny, spans, weights, gxs, gys, block_inner, block_alignment
            )
            for lane in range(n_used):
                p = first + lane
                if want_grad:
                    inner[p] = block_inner[lane]
                    _unload(gxs, nx, scale[p], d, grad_x, lane, p)
                    _unload(gys, ny, scale[p], d, grad_y, lane, p)
                if want_alignment:
                    for t in range(nx[lane]):
                        for u in range(ny[lane]):
                            alignment[p, t, u] = block_alignment[(t * ny.max() + u) * LANES + lane]
    return values, grad_x, grad_y, inner, alignment
