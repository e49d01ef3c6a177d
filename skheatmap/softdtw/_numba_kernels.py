"""numba CPU kernels: soft-DTW forward, and backward from stored soft-min weights.

Order. Each pair's DP runs over its anti-diagonals ``k = i + j``: the cells of
one anti-diagonal do not depend on each other, so the loop over them has unit
stride in every array it touches and LLVM vectorises it (AVX2/AVX-512, with
the branch-free exp and log of :mod:`._simd_math` and explicit FMAs). Series
are copied once into ``(d, T)`` layouts, the second one reversed in time, so
frame ``j = k - i`` of y is at ``i + (m - 1 - k)`` (plus ``_Y_LEAD``): squared
distances are computed on the fly with unit stride too, two anti-diagonals at
a time, and no ``(N, M, d)`` tensor exists.

State. Three anti-diagonals of ``r`` (indexed by row + 1) live in a small
buffer; only the cells kept by the band are computed, and the two cells just
outside each computed range are set to ``+inf`` so the next two anti-diagonals
read the right boundary values without any test. The three soft-min weights
of every kept cell are stored anti-diagonal by anti-diagonal, each
anti-diagonal with one zero slot on either side, so the backward pass
``e_ij = Σ w·e`` over the three successors reads them at unit stride, with no
exp and no bounds test. Each worker thread handles whole pairs (forward then
backward while the weights are still in cache) and reuses its buffers.

Vector width. The loops over an anti-diagonal's cells run to a multiple of
``_LANES`` past the first kept row: LLVM's vector body then does every cell,
and its scalar remainder loop, which costs as much per cell as the vector body
does per eight, never runs (at length 128 it took a fifth of the forward
pass). The extra lanes read padding (zeros in the series copies, ``+inf`` or
stale values in the buffers) and write only slots that are either reset just
after (the boundary cells) or rewritten before they are read (the next
anti-diagonals' weights); no result depends on them.

Gradient. The backward pass copies each anti-diagonal of E into a row-major
scratch (columns reversed like ``yr``; band cells only, ``_row_blocks``) and
then folds it row by row: ``Σ_j E_ij (x_i - y_j)`` is a dot product along the
row, accumulated in registers, and ``-Σ_i E_ij (x_i - y_j)`` one streaming
update of ``y``'s gradient per two rows. Folded anti-diagonal by anti-diagonal
instead, both gradients would be read and written back for every cell and
feature (that took 45 % of a forward and backward pass; the copy and fold
take half as long).

Forward only. Without a backward pass a second loop body computes values
alone, without the weights' arithmetic (a tenth faster). Pairs are then
sorted by lengths, and each run of ``_LANES`` of them goes through one
forward pass side by side: copies interleave their series so that pair ``l``
of the run takes slot ``row·_LANES + l`` of every buffer, and the loops
above, with offsets of ``_LANES`` slots instead of one, fill whole vectors on
every anti-diagonal, however short, and share its fixed costs (1.17× faster
at length 128, 1.37× at 64). Pairs of nearly equal lengths share the grid of
the largest; each one's value is read at its own end cell.

Band. The two-axis slope rule keeps a staircase of cells: the first and last
kept columns never decrease from one row to the next. On an anti-diagonal the
kept cells are therefore one run of rows, found by two pointers
(``_diagonal_spans``), so a band saves memory and time alike.
"""

import threading

import numpy as np
from numba import njit

from .._threads import run_on_threads
from ._simd_math import exp_nonpositive, fma, log_1_to_4

_INF = np.inf
_U = np.uint64
# Cells per padded anti-diagonal run: a multiple of the widest vector (AVX-512's
# eight doubles), and the zero columns after each series copy.
_LANES = 8
# Zero columns before each reversed copy of y: the distances of anti-diagonal
# k + 1, computed with those of k, read one column before the first frame.
_Y_LEAD = 1


@njit(cache=True, error_model="numpy")
def _band_columns(i, n, m, band):
    """Columns ``[first, last]`` of row ``i`` kept for a pair of lengths n, m.

    The two-axis slope rule keeps cell (i, j) when ``|i·(m-1)/(n-1) - j| <= band``
    or ``|j·(n-1)/(m-1) - i| <= band``; multiplying out, that is the exact integer
    test ``|i·(m-1) - j·(n-1)| <= band·max(n-1, m-1)``, which keeps the end cell
    reachable for every n, m and band >= 1. ``band < 0`` keeps the whole row.
    A row may be empty (``last < first``), but ``first <= last + 1`` always.
    """
    if band < 0 or n == 1:
        return 0, m - 1
    centre = i * (m - 1)
    reach = band * max(n - 1, m - 1)
    first = -((reach - centre) // (n - 1))  # ceil((centre - reach) / (n - 1))
    last = (centre + reach) // (n - 1)
    return max(first, 0), min(last, m - 1)


@njit(cache=True, error_model="numpy")
def _diagonal_spans(n, m, band):
    """Kept rows ``lo[k]..hi[k]`` of anti-diagonals ``k = 0..n+m-1``, and weight offsets.

    Anti-diagonal ``n + m - 1`` is past the end: empty, it gives the backward
    pass the zeros it reads there. ``hi[k] >= lo[k] - 1`` (an empty run is
    never "negative"), ``lo`` and ``hi`` never decrease and grow by at most one
    per anti-diagonal; the padded run of stored weights of anti-diagonal k,
    rows ``lo[k]-1..hi[k]+1``, starts at ``offsets[k]``.
    """
    first = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    for i in range(n):
        first[i], last[i] = _band_columns(i, n, m, band)
    n_diagonals = n + m
    lo = np.empty(n_diagonals, dtype=np.int64)
    hi = np.empty(n_diagonals, dtype=np.int64)
    offsets = np.zeros(n_diagonals + 1, dtype=np.int64)
    top, bottom = 0, -1
    for k in range(n_diagonals):
        # Cell (i, k - i) is kept iff i + first[i] <= k <= i + last[i]; both
        # sides are monotone in i, so the kept rows are a prefix cut by a suffix.
        while top < n and top + last[top] < k:
            top += 1
        while bottom + 1 < n and bottom + 1 + first[bottom + 1] <= k:
            bottom += 1
        lo[k], hi[k] = top, bottom
        offsets[k + 1] = offsets[k] + bottom - top + 3
    return lo, hi, offsets


@njit(cache=True, error_model="numpy")
def _row_blocks(n, m, band):
    """Where the backward pass keeps E row by row: two rows a block, band cells only.

    Block b holds rows 2b and 2b + 1 over the union of their kept columns
    (reversed, ``t = m - 1 - j``, like ``yr``), ``starts[b] <= t < stops[b]``;
    a row ``n`` after the last, for odd n, is all zeros. ``E_ij`` is at
    ``bases[i] + m - 1 - j``, and ``size`` values hold them all.
    """
    n_blocks = (n + 1) // 2
    bases = np.empty(2 * n_blocks, dtype=np.int64)
    starts = np.empty(n_blocks, dtype=np.int64)
    stops = np.empty(n_blocks, dtype=np.int64)
    size = 0
    for b in range(n_blocks):
        first, _ = _band_columns(2 * b, n, m, band)
        _, last = _band_columns(min(2 * b + 1, n - 1), n, m, band)
        starts[b], stops[b] = m - 1 - last, max(m - first, m - 1 - last)
        width = stops[b] - starts[b]
        bases[2 * b], bases[2 * b + 1] = size - starts[b], size + width - starts[b]
        size += 2 * width
    return bases, starts, stops, size


@njit(cache=True, error_model="numpy", inline="always")
def _ordered(diag, up, left, inv_gamma):
    """The smallest predecessor, the exps of the other two relative to it, and which is which.

    The smallest argument's exp is exactly 1, so two exps suffice. Selects
    only (numba's ``min()`` is a call that blocks vectorisation). All three
    ``+inf`` give NaN exponents, whose exps are 0 (see ``exp_nonpositive``).
    """
    diag_low = diag < up
    low = diag if diag_low else up
    high = up if diag_low else diag
    left_best = left < low
    best = left if left_best else low
    middle = low if left_best else left
    e_middle = exp_nonpositive((best - middle) * inv_gamma)
    e_high = exp_nonpositive((best - high) * inv_gamma)
    return best, e_middle, e_high, diag_low, left_best


@njit(cache=True, error_model="numpy", inline="always")
def _soft_min_value(diag, up, left, gamma, inv_gamma):
    """``min^γ`` of the three predecessors (``+inf`` if all three are)."""
    best, e_middle, e_high, _, _ = _ordered(diag, up, left, inv_gamma)
    return best - gamma * log_1_to_4(1.0 + e_middle + e_high)


@njit(cache=True, error_model="numpy", inline="always")
def _soft_min(diag, up, left, gamma, inv_gamma):
    """``min^γ`` of the three predecessors and the weight each one gets.

    When all three are ``+inf`` the weights are (1, 0, 0) in some order: the
    cell is unreachable, so its expected alignment, which they spread to its
    predecessors, is exactly 0.
    """
    best, e_middle, e_high, diag_low, left_best = _ordered(diag, up, left, inv_gamma)
    # Two divisions (the log's and 1/total) run side by side; deriving both from
    # one, as a shared reciprocal would, chains them and took 4 % longer.
    total = 1.0 + e_middle + e_high
    log_total, norm = log_1_to_4(total), 1.0 / total
    e_low = e_middle if left_best else 1.0
    e_left = 1.0 if left_best else e_middle
    e_diag = e_low if diag_low else e_high
    e_up = e_high if diag_low else e_low
    return best - gamma * log_total, e_diag * norm, e_up * norm, e_left * norm


@njit(cache=True, error_model="numpy", inline="always")
def _padded_stop(first, last, lanes):
    """End (exclusive) of the slots of rows ``first..last``, ``lanes`` slots a row,
    rounded up to whole vectors of ``_LANES`` slots past the first."""
    return first * lanes + ((last - first + 1) * lanes + _LANES - 1) // _LANES * _LANES


@njit(cache=True, error_model="numpy", inline="always")
def _distances(xt, yr, first, stop, shift, lanes, out, out_next):
    """Squared distances of slots ``first..stop-1`` on two anti-diagonals, k and k + 1.

    ``out[i] = ||x_i - y_(k-i)||²`` and ``out_next[i] = ||x_i - y_(k+1-i)||²``
    for slot ``i`` (row ``i // lanes`` of pair ``i % lanes``), where ``y_j`` is
    column ``shift + i`` of ``yr`` on anti-diagonal k (``lanes`` less on
    k + 1). Each value of x is loaded once for both: the loads are what this
    loop waits on. Rows outside an anti-diagonal read the zero columns
    around the series. Indices are cast to unsigned (here and below): numba
    then drops its negative-index wraparound, whose select would keep LLVM from
    vectorising, and no array views (with their reference counting) are made
    per anti-diagonal.
    """
    d = xt.shape[0]
    for i in range(first, stop):
        out[_U(i)] = 0.0
        out_next[_U(i)] = 0.0
    for f in range(d % 2, d, 2):  # two features per pass: half the loads and stores of out
        for i in range(first, stop):
            x_value, x_next = xt[f, _U(i)], xt[f + 1, _U(i)]
            diff = x_value - yr[f, _U(i + shift)]
            diff_next = x_next - yr[f + 1, _U(i + shift)]
            out[_U(i)] = fma(diff_next, diff_next, fma(diff, diff, out[_U(i)]))
            diff = x_value - yr[f, _U(i + shift - lanes)]
            diff_next = x_next - yr[f + 1, _U(i + shift - lanes)]
            out_next[_U(i)] = fma(diff_next, diff_next, fma(diff, diff, out_next[_U(i)]))
    if d % 2:
        for i in range(first, stop):
            diff = xt[0, _U(i)] - yr[0, _U(i + shift)]
            out[_U(i)] = fma(diff, diff, out[_U(i)])
            diff = xt[0, _U(i)] - yr[0, _U(i + shift - lanes)]
            out_next[_U(i)] = fma(diff, diff, out_next[_U(i)])


@njit(cache=True, error_model="numpy")
def _forward_pair(xt, yr, n, m, gamma, spans, weights, buffers, lengths, values):
    """Soft-DTW of ``lanes = len(values)`` pairs side by side, into ``values``.

    Pair ``l``, of lengths ``lengths[l]`` (at most ``n`` and ``m``, the
    lengths of the grid run over, and equal to them under a band), takes slot
    ``i·lanes + l`` of every array indexed by row ``i`` (see ``_interleaved``).
    Its cells depend on its own cells only, so the cells of the grid beyond
    its lengths change nothing: its value is read as its end cell is passed.
    ``xt`` holds x as ``(d, ≥(n+_LANES)·lanes)``, ``yr`` holds y reversed in
    time (within ``m``) as ``(d, ≥(_Y_LEAD+m+_LANES)·lanes)``, both zero
    around their series. ``buffers`` is a ``(5, ≥(n+2+_LANES)·lanes)``
    scratch: three anti-diagonals of ``r`` (index row + 1) and the squared
    distances of two. Given storage (not empty ``weights``), fills the stored
    weights; that needs ``lanes == 1``. (Both are read from the arguments, not
    passed as constants, so that numba compiles one version, not one per use.)
    """
    lo, hi, offsets = spans
    w_diag, w_up, w_left = weights
    lanes, store = values.shape[0], w_diag.shape[0] > 0
    inv_gamma = 1.0 / gamma
    two_back, one_back, current = buffers[0], buffers[1], buffers[2]
    two_back[:] = _INF
    one_back[:] = _INF
    # Padding lanes read past the kept cells: +inf, not uninitialised bits (denormals are slow).
    current[:] = _INF
    two_back[:lanes] = 0.0  # r(-1, -1)
    for k in range(n + m - 1):
        first, last = lo[k], hi[k]
        start, stop = first * lanes, _padded_stop(first, last, lanes)
        if k % 2 == 0:  # anti-diagonal n + m - 1, past the end, is empty
            both = max(stop, _padded_stop(lo[k + 1], hi[k + 1], lanes))
            shift = (m - 1 - k + _Y_LEAD) * lanes
            _distances(xt, yr, start, both, shift, lanes, buffers[3], buffers[4])
        dist = buffers[3 + k % 2]
        if store:
            at = offsets[k] + 1 - first
            for i in range(first, stop):
                r, w_diag[_U(at + i)], w_up[_U(at + i)], w_left[_U(at + i)] = _soft_min(
                    two_back[_U(i)], one_back[_U(i)], one_back[_U(i + 1)], gamma, inv_gamma
                )
                current[_U(i + 1)] = dist[_U(i)] + r
            for edge in (offsets[k], offsets[k + 1] - 1):
                w_diag[edge], w_up[edge], w_left[edge] = 0.0, 0.0, 0.0
        else:  # without the weights' arithmetic: a tenth faster
            for i in range(start, stop):
                current[_U(i + lanes)] = dist[_U(i)] + _soft_min_value(
                    two_back[_U(i)], one_back[_U(i)], one_back[_U(i + lanes)], gamma, inv_gamma
                )
        for lane in range(lanes):  # loops, not slices: no array views per anti-diagonal
            own_n = lengths[lane, 0]
            if own_n + lengths[lane, 1] - 2 == k:  # the pair's end cell
                values[lane] = current[own_n * lanes + lane]
            current[start + lane] = _INF
            current[(last + 2) * lanes + lane] = _INF
        two_back, one_back, current = one_back, current, two_back
    if store:  # the empty anti-diagonal past the end: two zero slots
        past_end = offsets[n + m - 1]
        for buffer in weights:
            buffer[past_end : past_end + 2] = 0.0


@njit(cache=True, error_model="numpy")
def _backward_pair(xt, yr, n, m, spans, weights, buffers, rows, expected, gxt, gyr, alignment):
    """Expected alignment E from the stored weights, and the gradients from E.

    When ``expected`` is not empty (laid out by ``rows``, from ``_row_blocks``,
    and zero where no cell is kept), sets ``gxt`` (``(d, ≥n+1)``) to
    ``Σ_j E_ij (x_i - y_j)`` and subtracts the same per column from ``gyr``
    (``(d, ≥m)``, reversed like ``yr``). Writes E to ``alignment``
    (``(n, m)``) when that is not empty. ``buffers`` holds three anti-diagonals
    of E (index row + 1).
    """
    lo, hi, offsets = spans
    w_diag, w_up, w_left = weights
    current, one_ahead, two_ahead = buffers[0], buffers[1], buffers[2]
    one_ahead[:] = 0.0
    two_ahead[:] = 0.0
    for k in range(n + m - 2, -1, -1):
        first, last, shift = lo[k], hi[k], m - 1 - k
        if k == n + m - 2:
            current[n] = 1.0  # the end cell
        else:
            # Successors (i+1, j+1), (i+1, j) and (i, j+1) of cell (i, j).
            at_diag = offsets[k + 2] + 2 - lo[k + 2]  # + i: weight slot of row i+1
            at_down = offsets[k + 1] + 2 - lo[k + 1]
            for i in range(first, _padded_stop(first, last, 1)):
                current[_U(i + 1)] = (
                    w_diag[_U(at_diag + i)] * two_ahead[_U(i + 2)]
                    + w_up[_U(at_down + i)] * one_ahead[_U(i + 2)]
                    + w_left[_U(at_down - 1 + i)] * one_ahead[_U(i + 1)]
                )
        current[first] = 0.0
        current[last + 2] = 0.0
        if expected.shape[0] > 0:  # row i, reversed column m-1-(k-i) = i + shift
            bases = rows[0]
            for i in range(first, last + 1):
                expected[_U(bases[i] + i + shift)] = current[_U(i + 1)]
        if alignment.shape[0] > 0:
            for i in range(first, last + 1):
                alignment[i, k - i] = current[i + 1]
        current, one_ahead, two_ahead = two_ahead, current, one_ahead
    if expected.shape[0] > 0:
        _fold_rows(xt, yr, n, rows, expected, gxt, gyr)


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _fold_rows(xt, yr, n, rows, expected, gxt, gyr):
    """``gxt[:, i] = Σ_j E_ij (x_i - y_j)`` and ``gyr[:, m-1-j] -= Σ_i E_ij (x_i - y_j)``.

    Rows go two at a time (a block of ``rows``) over the union of their band
    columns, so each element of ``gyr`` is read and written once per two rows;
    for odd n the zero row n pairs with the last (``gxt`` has a column for it).
    ``reassoc`` lets LLVM split each row's sum over vector lanes (the order of
    a sum of products, nothing else: no ``nnan``/``ninf``).
    """
    bases, starts, stops, _ = rows
    for i in range(0, n, 2):
        base, next_base = bases[i], bases[i + 1]
        for f in range(xt.shape[0]):
            x_value, x_next = xt[f, i], xt[f, i + 1]
            total, total_next = 0.0, 0.0
            for t in range(starts[i // 2], stops[i // 2]):
                y_value = yr[f, _U(_Y_LEAD + t)]
                g = expected[_U(base + t)] * (x_value - y_value)
                g_next = expected[_U(next_base + t)] * (x_next - y_value)
                total += g
                total_next += g_next
                gyr[f, _U(t)] -= g + g_next
            gxt[f, i], gxt[f, i + 1] = total, total_next


@njit(cache=True, error_model="numpy")
def _time_major(S, lengths, reverse):
    """``(B, d, T + _LANES)`` copies of series ``(B, T, d)``, zero after each length.

    Reversed copies (of y) are reversed within each length and start with
    ``_Y_LEAD`` more zero columns.
    """
    lead = _Y_LEAD if reverse else 0
    out = np.zeros((S.shape[0], S.shape[2], lead + S.shape[1] + _LANES))
    for b in range(S.shape[0]):
        n = lengths[b]
        for t in range(n):
            for f in range(S.shape[2]):
                out[b, f, lead + n - 1 - t if reverse else t] = S[b, t, f]
    return out


@njit(cache=True, error_model="numpy")
def _grown(weights, size):
    """``weights`` if each array holds ``size`` values, else three larger ones.

    Three separate allocations, not rows of one array, so LLVM sees that the
    weight stores cannot alias.
    """
    if weights[0].shape[0] >= size:
        return weights
    size = max(size, 2 * weights[0].shape[0])
    return np.empty(size), np.empty(size), np.empty(size)


@njit(cache=True, error_model="numpy")
def _expected_cost(xt, yr, gxt, gyr, n, m):
    """``<E, Δ> = Σ_i x_i·gx_i + Σ_j y_j·gy_j`` from the half-gradients, no pass over cells.

    Exact since ``gx_i = Σ_j E_ij (x_i - y_j)`` and ``gy_j = -Σ_i E_ij (x_i - y_j)``;
    the series are centred first (``Σ gx + Σ gy = 0``, so any centre gives the
    same value) to avoid cancellation when they sit far from the origin.
    """
    total = 0.0
    for f in range(xt.shape[0]):
        centre = xt[f, :n].mean()
        for t in range(n):
            total += (xt[f, t] - centre) * gxt[f, t]
        for t in range(m):
            total += (yr[f, _Y_LEAD + t] - centre) * gyr[f, t]
    return total


@njit(cache=True, error_model="numpy")
def _unload_gradients(gxt, gyr, n, m, factor, grad_x, grad_y):
    """``grad_x = factor·gxtᵀ`` and ``grad_y = factor·(gyr reversed)ᵀ``, then clear ``gyr``.

    (``gxt`` is overwritten by the next pair; ``gyr`` is accumulated into.)
    """
    for f in range(gxt.shape[0]):
        for t in range(n):
            grad_x[t, f] = factor * gxt[f, t]
        for t in range(m):
            grad_y[m - 1 - t, f] = factor * gyr[f, t]
            gyr[f, t] = 0.0


@njit(cache=True, error_model="numpy")
def _interleaved(copies, members, shifts, out):
    """``out[f, (t + shifts[l])·L + l] = copies[members[l], f, t]`` for ``L = len(members)``.

    Columns shifted out at the end must be zero padding; the first
    ``shifts[l]`` columns of lane ``l`` are zeros.
    """
    lanes = members.shape[0]
    for lane in range(lanes):
        series, shift = copies[members[lane]], shifts[lane]
        for f in range(series.shape[0]):
            for t in range(shift):
                out[f, t * lanes + lane] = 0.0
            for t in range(series.shape[1] - shift):
                out[f, (t + shift) * lanes + lane] = series[f, t]


@njit(cache=True, error_model="numpy")
def _forward_scratch(xts, yrs, lanes):
    """The ``buffers`` of ``_forward_pair`` for ``lanes`` pairs of series in ``xts``, ``yrs``."""
    longest = max(xts.shape[2] - _LANES, yrs.shape[2] - _Y_LEAD - _LANES)
    return np.empty((5, (longest + 2 + _LANES) * lanes))


@njit(cache=True, error_model="numpy")
def _run_shape(lx, ly, pairs, start, stop, lengths):
    """Lengths of pairs ``start..stop-1`` into ``lengths``; the largest of each, and their cells."""
    n, m, cells = 0, 0, 0
    for p in range(start, stop):
        lengths[p - start, 0], lengths[p - start, 1] = lx[pairs[p, 0]], ly[pairs[p, 1]]
        n, m = max(n, lengths[p - start, 0]), max(m, lengths[p - start, 1])
        cells += lengths[p - start, 0] * lengths[p - start, 1]
    return n, m, cells


@njit(nogil=True, cache=True, error_model="numpy")
def _run_values(xts, yrs, lx, ly, pairs, chunk, gamma, band, values):
    """Values alone of pairs ``chunk[0] <= p < chunk[1]``, ``_LANES`` at a time where they can.

    ``_LANES`` consecutive pairs go through the forward pass side by side, one
    pair per SIMD lane (see the module notes), on the grid of their largest
    lengths, when that grid has at most ``1/_RUN_SLACK`` more cells than the
    pairs (none more under a band, whose cells depend on both lengths); other
    pairs go one at a time. Releases the GIL, as ``_run_pairs``.
    """
    d = xts.shape[1]
    buffers, run_buffers = _forward_scratch(xts, yrs, 1), _forward_scratch(xts, yrs, _LANES)
    x_run, y_run = np.empty((d, xts.shape[2] * _LANES)), np.empty((d, yrs.shape[2] * _LANES))
    lengths, shifts = np.empty((_LANES, 2), dtype=np.int64), np.empty(_LANES, dtype=np.int64)
    no_weights = (np.empty(0), np.empty(0), np.empty(0))
    shape = (-1, -1)
    spans = _diagonal_spans(1, 1, band)
    p = chunk[0]
    while p < chunk[1]:
        end = min(p + _LANES, chunk[1])
        n, m, cells = _run_shape(lx, ly, pairs, p, end, lengths)
        slack = cells // _RUN_SLACK if band < 0 else 0
        if end - p == _LANES and _LANES * n * m <= cells + slack:
            shifts[:] = 0
            _interleaved(xts, pairs[p:end, 0], shifts, x_run)
            shifts[:] = m - lengths[:, 1]  # y reversed within m: its frame j at column m - 1 - j
            _interleaved(yrs, pairs[p:end, 1], shifts, y_run)
            x, y, scratch = x_run, y_run, run_buffers
        else:
            end = p + 1
            n, m = lengths[0, 0], lengths[0, 1]
            x, y, scratch = xts[pairs[p, 0]], yrs[pairs[p, 1]], buffers
        if (n, m) != shape:
            shape = (n, m)
            spans = _diagonal_spans(n, m, band)
        _forward_pair(x, y, n, m, gamma, spans, no_weights, scratch, lengths, values[p:end])
        p = end


@njit(nogil=True, cache=True, error_model="numpy")
def _run_pairs(xts, yrs, lx, ly, pairs, chunk, gamma, band, scale, outputs, weights, expected):
    """Pairs ``chunk[0] <= p < chunk[1]``, forward and backward; writes their rows of ``outputs``.

    Releases the GIL, so several Python threads run chunks side by side.
    ``weights`` and ``expected`` (the row-major copy of E) are the calling
    thread's storage, returned grown if they had to be: reusing them spares
    faulting in fresh pages (4·8 bytes per cell, 32 MB for one 1024 × 1024
    pair) for every chunk.
    """
    values, grad_x, grad_y, inner, alignment = outputs
    want_grad, want_alignment = grad_x.shape[0] > 0, alignment.shape[0] > 0
    d, N, M = xts.shape[1], xts.shape[2] - _LANES, yrs.shape[2] - _Y_LEAD - _LANES
    buffers = _forward_scratch(xts, yrs, 1)
    gxt, gyr = np.zeros((d, N + 1)), np.zeros((d, M))
    no_alignment = np.empty((0, 0))
    lengths = np.empty((1, 2), dtype=np.int64)
    shape = (-1, -1)
    spans, rows = _diagonal_spans(1, 1, band), _row_blocks(1, 1, band)
    for p in range(chunk[0], chunk[1]):
        a, b = pairs[p, 0], pairs[p, 1]
        n, m = lx[a], ly[b]
        if (n, m) != shape:
            shape = (n, m)
            spans = _diagonal_spans(n, m, band)
            weights = _grown(weights, spans[2][-1] + _LANES)
            if want_grad:
                rows = _row_blocks(n, m, band)
                if expected.shape[0] < rows[3]:
                    expected = np.empty(max(rows[3], 2 * expected.shape[0]))
                expected[: rows[3]] = 0.0  # cells outside the band, never written, stay zero
        lengths[0, 0], lengths[0, 1] = n, m
        value = values[p : p + 1]
        _forward_pair(xts[a], yrs[b], n, m, gamma, spans, weights, buffers, lengths, value)
        _backward_pair(
            xts[a],
            yrs[b],
            n,
            m,
            spans,
            weights,
            buffers,
            rows,
            expected,
            gxt,
            gyr,
            alignment[p] if want_alignment else no_alignment,
        )
        if want_grad:
            inner[p] = _expected_cost(xts[a], yrs[b], gxt, gyr, n, m)
            _unload_gradients(gxt, gyr, n, m, 2.0 * scale[p], grad_x[p], grad_y[p])
    return weights, expected


def soft_dtw_blocks(X, Y, lx, ly, pairs, gamma, band, scale, want_grad, want_alignment, n_workers):
    """Soft-DTW of many pairs ``(X[pairs[p, 0]], Y[pairs[p, 1]])``.

    Parameters
    ----------
    X, Y : float64 arrays of shape (B, N, d) and (C, M, d)
        Series; frames beyond ``lx``/``ly`` are never read.
    lx, ly : int64 arrays of shape (B,) and (C,)
        Lengths (all >= 1).
    pairs : int64 array of shape (P, 2)
        Row of X and row of Y of each pair.
    gamma : float
    band : int
        Sakoe-Chiba radius, or -1 for none.
    scale : float64 array of shape (P,)
        Gradient of each pair is multiplied by it (the upstream gradient).
    want_grad, want_alignment : bool
    n_workers : int
        Threads to spread the pairs over (``numba.get_num_threads()``).

    Returns
    -------
    values : (P,) soft-DTW values.
    grad_x, grad_y : (P, N, d) and (P, M, d) scaled gradients, or empty.
    inner : (P,) <E, Δ> per pair (for ∂S/∂γ), or empty.
    alignment : (P, N, M) expected alignments, or empty.

    Notes
    -----
    Python threads over a ``nogil`` kernel rather than ``prange``: no parfor
    compilation (a large part of the cold JIT time), and chunks are handed out
    as threads free up, so a core taken by another process delays one chunk,
    not a barrier that a spinning thread waits at.
    """
    n_pairs, (_, N, d), M = len(pairs), X.shape, Y.shape[1]
    grad_size = n_pairs if want_grad else 0
    outputs = (
        np.empty(n_pairs),
        np.zeros((grad_size, N, d)),
        np.zeros((grad_size, M, d)),
        np.zeros(grad_size),
        np.zeros((n_pairs if want_alignment else 0, N, M)),
    )
    xts, yrs = _time_major(X, lx, False), _time_major(Y, ly, True)
    values_only = not (want_grad or want_alignment)
    if values_only:
        # Sorted by lengths, for _run_values to take _LANES neighbours of equal or
        # nearly equal lengths at a time (stable: pairs of one shape keep their order).
        order = np.lexsort((ly[pairs[:, 1]], lx[pairs[:, 0]]))
        pairs = pairs[order]
    n_cells = int((lx[pairs[:, 0]] * ly[pairs[:, 1]]).sum())
    n_workers = max(1, min(n_workers, n_pairs, n_cells // _MIN_CELLS_PER_WORKER))
    # Values alone: chunks of whole runs of _LANES pairs (but the last).
    step = _LANES if values_only else 1
    n_steps = -(-n_pairs // step)
    bounds = np.linspace(0, n_steps, min(n_steps, _CHUNKS_PER_WORKER * n_workers) + 1)
    bounds = np.minimum(bounds.astype(np.int64) * step, n_pairs)
    chunks = [np.array(bounds[c : c + 2]) for c in range(len(bounds) - 1)]

    pending, taking = iter(chunks), threading.Lock()

    def work():
        """Run chunks until none is left, reusing this worker's storage."""
        weights, expected = (np.empty(0),) * 3, np.empty(0)
        while True:
            with taking:
                chunk = next(pending, None)
            if chunk is None:
                return
            if values_only:  # compiled apart from _run_pairs: a first call compiles one of them
                _run_values(xts, yrs, lx, ly, pairs, chunk, gamma, band, outputs[0])
                continue
            weights, expected = _run_pairs(xts, yrs, lx, ly, pairs, chunk, gamma, band, scale,
                                           outputs, weights, expected)  # fmt: skip

    if n_workers == 1:
        work()
    else:
        run_on_threads([work] * n_workers)
    if values_only:
        values = np.empty(n_pairs)
        values[order] = outputs[0]
        return (values,) + outputs[1:]
    return outputs


# Pairs of different lengths go side by side on the grid of the largest when
# it has at most 1/_RUN_SLACK more cells than they have (forward only, no band).
# All-pairs of 200 series of lengths 110-146, against one pair at a time: 1.15×
# faster; of 80 series of lengths 240-272: 1.13×.
_RUN_SLACK = 16
# Chunks of pairs per thread, handed out as threads free up: when one core is
# slowed (by another process), the other takes more chunks, and the two finish
# at most one chunk apart.
_CHUNKS_PER_WORKER = 16
# Below this many DP cells per thread, handing work to another thread costs more
# than it saves (small pairs, short series: the fits of a coarse search).
_MIN_CELLS_PER_WORKER = 1 << 18


@njit(cache=True, error_model="numpy")
def scatter_pair_rows(n_rows, rows, per_pair, scale):
    """``out[rows[p]] += scale[p]·per_pair[p]``: per-pair gradients summed per series.

    Serial on purpose: it is memory-bound, and a short parallel region (torch's
    ``index_add_``) costs more than the work whenever the cores are shared.
    """
    flat = per_pair.reshape(per_pair.shape[0], -1)
    out = np.zeros((n_rows, flat.shape[1]))
    for p in range(flat.shape[0]):
        for k in range(flat.shape[1]):
            out[rows[p], k] += scale[p] * flat[p, k]
    return out.reshape((n_rows,) + per_pair.shape[1:])
