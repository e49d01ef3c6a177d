"""Soft-DTW engine: values, gradients, bands, padding, divergences, pairwise matrices.

Oracles: brute force over alignment paths, tslearn, closed forms, finite
differences. Most tests run on both engines (numba kernels and the torch
wavefront used on accelerators).
"""

import itertools
from math import comb

import numpy as np
import pytest
import torch
from tslearn.metrics import cdist_soft_dtw_normalized, dtw
from tslearn.metrics import soft_dtw as tslearn_soft_dtw
from tslearn.metrics import soft_dtw_alignment as tslearn_alignment

from skheatmap import to_dataset
from skheatmap.softdtw import (
    _autograd,
    soft_dtw,
    soft_dtw_alignment,
    soft_dtw_divergence,
    soft_dtw_pairs,
    soft_dtw_pairwise,
)
from skheatmap.softdtw._inputs import (
    _finite_frame_counts,
    _finite_frame_counts_on_device,
    series_lengths,
)
from skheatmap.softdtw._numba_kernels import (
    _diagonal_spans,
    _expected_cost,
    _forward_pair,
    _interleaved,
    _row_blocks,
    _time_major,
    scatter_pair_rows,
    soft_dtw_blocks,
)
from skheatmap.softdtw._simd_math import exp_nonpositive, log_1_to_4
from skheatmap.softdtw._torch_wavefront import band_mask


@pytest.fixture(params=["numba", "torch"])
def backend(request):
    """The CPU kernels and the torch wavefront (the accelerator path, run on CPU)."""
    return request.param


def _paths(n, m):
    """Every monotone alignment path from (0, 0) to (n-1, m-1), as cell lists."""
    if n == 1 and m == 1:
        yield [(0, 0)]
        return
    for di, dj in ((1, 1), (1, 0), (0, 1)):
        if n - di >= 1 and m - dj >= 1:
            for path in _paths(n - di, m - dj):
                yield path + [(n - 1, m - 1)]


def _brute_force(x, y, gamma, keep=None):
    """-γ log Σ_paths exp(-cost/γ) over the paths whose cells all satisfy ``keep``."""
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    totals = [
        sum(cost[c] for c in path)
        for path in _paths(len(x), len(y))
        if keep is None or all(keep[c] for c in path)
    ]
    totals = -np.array(totals) / gamma
    top = totals.max()
    return -gamma * (top + np.log(np.exp(totals - top).sum()))


def _random_pair(rng, n, m, d=2):
    return rng.normal(size=(n, d)), rng.normal(size=(m, d))


def _delannoy(n, m):
    return sum(comb(m, k) * comb(n, k) * 2**k for k in range(min(n, m) + 1))


# --- the engine's own exp and log -------------------------------------------------


def test_vectorisable_exp_is_within_half_an_ulp_of_one_and_relatively_close():
    x = np.concatenate([-np.logspace(-12, np.log10(700), 2001), [0.0]])
    ours = np.array([exp_nonpositive(v) for v in x])
    # The soft-min adds its exps to 1: their absolute error is what counts.
    assert np.abs(ours - np.exp(x)).max() <= 2.0**-53
    relative = np.abs(ours / np.exp(x) - 1)
    assert (relative <= 4.5e-16 + 3.5e-17 * np.abs(x)).all()


def test_vectorisable_exp_underflows_to_zero():
    assert exp_nonpositive(-np.inf) == 0.0
    assert exp_nonpositive(-800.0) == 0.0


def test_vectorisable_exp_of_nan_is_zero():
    # The soft-min's exponent is (+inf) - (+inf) when a cell is unreachable.
    assert exp_nonpositive(np.inf - np.inf) == 0.0


def test_vectorisable_log_is_within_an_ulp_on_one_to_four():
    s = np.linspace(1.0, 4.0, 2001)
    ours = np.array([log_1_to_4(v) for v in s])
    np.testing.assert_allclose(ours, np.log(s), rtol=0, atol=2.3e-16)


# --- the CPU kernels' own machinery -----------------------------------------------


@pytest.mark.parametrize("band", [-1, 0, 1, 2, 5])
def test_anti_diagonal_spans_are_exactly_the_band_cells(band):
    for n, m in itertools.product(range(1, 16), range(1, 16)):
        if band < 0 or n == 1:
            keep = np.ones((n, m), dtype=bool)
        else:
            keep = _slope_band(n, m, band + 1e-9)
        lo, hi, offsets = _diagonal_spans(n, m, band)
        rows = np.arange(n)
        for k in range(n + m):
            kept = [i for i in rows if 0 <= k - i < m and keep[i, k - i]]
            assert kept == list(range(lo[k], hi[k] + 1)), (n, m, band, k)
        # What the unchecked loads rely on: runs never shrink below empty, and
        # neither end moves back or jumps ahead by more than one row.
        assert np.all(hi >= lo - 1)
        assert np.all(np.diff(lo) >= 0) and np.all(np.diff(lo) <= 1)
        assert np.all(np.diff(hi) >= 0) and np.all(np.diff(hi) <= 1)
        np.testing.assert_array_equal(np.diff(offsets), hi - lo + 3)


def _engine(X, Y, pairs, want_grad=True, n_workers=1, band=-1, lx=None, ly=None):
    lx = np.full(len(X), X.shape[1]) if lx is None else lx
    ly = np.full(len(Y), Y.shape[1]) if ly is None else ly
    pairs = np.asarray(pairs, dtype=np.int64)
    scale = np.linspace(0.5, 2.0, len(pairs))
    return soft_dtw_blocks(X, Y, lx, ly, pairs, 0.7, band, scale, want_grad, False, n_workers)


def test_engine_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    # every pair worth a thread, however small
    monkeypatch.setattr("skheatmap.softdtw._numba_kernels._MIN_CELLS_PER_WORKER", 1)
    rng = np.random.default_rng(30)
    X, Y = rng.normal(size=(5, 17, 3)), rng.normal(size=(4, 11, 3))
    pairs = list(itertools.product(range(5), range(4)))
    serial = _engine(X, Y, pairs, n_workers=1)
    for n_workers in (2, 3, 64):
        for ours, expected in zip(_engine(X, Y, pairs, n_workers=n_workers), serial, strict=True):
            np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize(
    "n, m, band", [(9, 7, 1), (7, 9, 2), (8, 8, -1), (1, 5, 1), (5, 1, 0), (64, 40, 3)]
)
def test_row_blocks_give_each_band_cell_its_own_slot_and_little_more(n, m, band):
    bases, starts, stops, size = _row_blocks(n, m, band)
    keep = np.ones((n, m), bool) if band < 0 else _slope_band(n, m, band)
    rows, columns = np.nonzero(keep)
    slots = bases[rows] + m - 1 - columns
    assert len(np.unique(slots)) == len(slots)
    assert slots.min() >= 0 and slots.max() < size
    for i, j in zip(rows, columns, strict=True):  # inside its block's column range
        assert starts[i // 2] <= m - 1 - j < stops[i // 2]
    assert size <= 2 * keep.sum()


@pytest.mark.parametrize("band", [-1, 2])
@pytest.mark.parametrize("n_workers", [1, 2])
def test_forward_only_values_equal_those_of_the_forward_that_stores_weights(band, n_workers):
    # Two loop bodies (one without the weights' arithmetic), and forward only,
    # runs of _LANES pairs of the same lengths side by side: the same values.
    # Shuffled pairs over three x lengths and two y lengths, regrouped by the
    # sort on lengths: 16 pairs of 20 × 13 hold a whole run in one chunk.
    rng = np.random.default_rng(31)
    X, Y = rng.normal(size=(6, 20, 2)), rng.normal(size=(5, 13, 2))
    lx, ly = np.array([20, 9, 20, 14, 20, 20]), np.array([13, 13, 6, 13, 13])
    pairs = rng.permutation(list(itertools.product(range(6), range(5))))
    forward_only = _engine(X, Y, pairs, False, n_workers, band, lx, ly)[0]
    stored = _engine(X, Y, pairs, True, n_workers, band, lx, ly)[0]
    np.testing.assert_array_equal(forward_only, stored)
    tslearn_values = [tslearn_soft_dtw(X[a, : lx[a]], Y[b, : ly[b]], gamma=0.7) for a, b in pairs]
    if band < 0:
        np.testing.assert_allclose(forward_only, tslearn_values, rtol=1e-12)


@pytest.mark.parametrize("band, unequal", [(-1, False), (2, False), (-1, True)])
def test_eight_pairs_side_by_side_equal_each_pair_alone_bitwise(band, unequal):
    # The forward pass with _LANES pairs interleaved, on the grid of their
    # largest lengths (9 × 7), against the same pass one pair at a time on its
    # own grid (whose values the tests above hold to tslearn and brute force).
    rng = np.random.default_rng(33)
    X, Y = rng.normal(size=(8, 11, 3)), rng.normal(size=(8, 7, 3))
    lx, ly = np.full(8, 9), np.full(8, 7)  # x padded beyond its length
    if unequal:
        lx, ly = np.array([9, 6, 8, 9, 1, 7, 9, 5]), np.array([7, 5, 7, 2, 6, 7, 1, 4])
    xts, yrs = _time_major(X, lx, False), _time_major(Y, ly, True)
    no_weights = (np.empty(0),) * 3
    members = rng.permutation(8)
    lengths = np.stack([lx, ly[members]], axis=1)
    x_run, y_run = np.empty((3, xts.shape[2] * 8)), np.empty((3, yrs.shape[2] * 8))
    _interleaved(xts, np.arange(8), np.zeros(8, dtype=np.int64), x_run)
    _interleaved(yrs, members, 7 - lengths[:, 1], y_run)
    together, alone = np.empty(8), np.empty(1)
    buffers = np.empty((5, (11 + 2 + 8) * 8))
    spans = _diagonal_spans(9, 7, band)
    _forward_pair(x_run, y_run, 9, 7, 0.6, spans, no_weights, buffers, lengths, together)
    for lane, (b, (n, m)) in enumerate(zip(members, lengths, strict=True)):
        spans = _diagonal_spans(n, m, band)
        own = lengths[lane : lane + 1]
        _forward_pair(xts[lane], yrs[b], n, m, 0.6, spans, no_weights, buffers, own, alone)
        assert together[lane] == alone[0]
        if band < 0:
            expected = tslearn_soft_dtw(X[lane, :n], Y[b, :m], gamma=0.6)
            assert np.isclose(alone[0], expected, rtol=1e-12)


def test_pairs_of_nearly_equal_lengths_go_side_by_side_with_unchanged_values():
    # Lengths 40 and 41: runs of eight mix them (the grid of the largest has
    # under 1/16 more cells); forward-only values equal the stored-weight pass's.
    rng = np.random.default_rng(34)
    X = rng.normal(size=(12, 41, 2))
    lengths = np.array([40, 41] * 6)
    pairs = rng.permutation(list(itertools.product(range(12), range(12))))
    forward_only = _engine(X, X, pairs, False, 1, -1, lengths, lengths)[0]
    stored = _engine(X, X, pairs, True, 1, -1, lengths, lengths)[0]
    np.testing.assert_array_equal(forward_only, stored)


def test_interleaved_series_put_pair_l_in_lane_l_after_its_shift():
    copies = np.arange(5 * 2 * 4, dtype=float).reshape(5, 2, 4)
    copies[:, :, 3] = 0.0  # zero padding, shifted out
    members, shifts = np.array([3, 0, 3]), np.array([0, 1, 0])
    out = np.full((2, 4 * 3), np.nan)
    _interleaved(copies, members, shifts, out)
    for f, t, lane in itertools.product(range(2), range(4), range(3)):
        source = t - shifts[lane]
        expected = copies[members[lane], f, source] if source >= 0 else 0.0
        assert out[f, 3 * t + lane] == expected


def test_expected_cost_from_gradients_equals_the_sum_over_cells_far_from_origin():
    rng = np.random.default_rng(32)
    x, y = 1e3 + rng.normal(size=(9, 3)), 1e3 + rng.normal(size=(7, 3))
    E = tslearn_alignment(x, y, gamma=0.4)[0]
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    gxt = (E.sum(1)[:, None] * x - E @ y).T
    gyr = (E.sum(0)[:, None] * y - E.T @ x).T[:, ::-1]
    lengths = np.array([9]), np.array([7])
    xt, yr = _time_major(x[None], lengths[0], False)[0], _time_major(y[None], lengths[1], True)[0]
    ours = _expected_cost(xt, yr, np.ascontiguousarray(gxt), np.ascontiguousarray(gyr), 9, 7)
    assert ours == pytest.approx((E * cost).sum(), rel=1e-11)


def test_scatter_pair_rows_sums_scaled_gradients_per_series():
    rng = np.random.default_rng(33)
    per_pair, rows, scale = rng.normal(size=(8, 5, 2)), rng.integers(0, 3, 8), rng.normal(size=8)
    expected = np.zeros((4, 5, 2))
    np.add.at(expected, rows, scale[:, None, None] * per_pair)
    np.testing.assert_allclose(scatter_pair_rows(4, rows, per_pair, scale), expected, atol=1e-15)


# --- 1. brute force over paths -----------------------------------------------------


@pytest.mark.parametrize("gamma", [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3])
def test_value_equals_brute_force_over_paths(gamma, backend):
    rng = np.random.default_rng(0)
    for n, m in [(1, 1), (1, 4), (3, 2), (4, 5), (5, 5)]:
        x, y = _random_pair(rng, n, m)
        expected = _brute_force(x, y, gamma)
        got = soft_dtw(x, y, gamma=gamma, _backend=backend)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


# --- 2. tslearn ---------------------------------------------------------------------


@pytest.mark.parametrize("n, m, d", [(17, 23, 3), (64, 50, 1), (256, 201, 4)])
def test_value_matches_tslearn(n, m, d):
    rng = np.random.default_rng(n)
    x, y = _random_pair(rng, n, m, d)
    for gamma in (0.1, 1.0):
        assert soft_dtw(x, y, gamma=gamma) == pytest.approx(
            tslearn_soft_dtw(x, y, gamma=gamma), rel=1e-12, abs=1e-9
        )


def test_wavefront_value_matches_tslearn():
    rng = np.random.default_rng(1)
    x, y = _random_pair(rng, 40, 31, 3)
    assert soft_dtw(x, y, gamma=0.5, _backend="torch") == pytest.approx(
        tslearn_soft_dtw(x, y, gamma=0.5), rel=1e-12
    )


# --- 3. golden values ---------------------------------------------------------------


@pytest.mark.parametrize(
    "x, y, gamma, expected",
    [
        (np.zeros((10, 8)), np.ones((12, 8)), 1.0, 91.98061035026274),
        (np.zeros((10, 8)), np.zeros((10, 8)), 1.0, -np.log(1462563)),
        ([1.0, 2, 2, 3], [1.0, 2, 3, 4], 1.0, -0.8954437807217474),
        ([1.0, 2, 3, 3], [1.0, 2, 2.1, 3.2], 0.01, 0.09000000000000016),
        ([1.0, 2, 2, 3], [1.0, 2, 2, 3], 0.01, -0.01 * np.log(3)),
        ([[1.0], [2], [3]], [[3.0], [4], [-3]], 1.0, 41.187627311413216),
        (np.zeros((10, 2)), np.full((12, 2), 2.0), 0.1, 95.59926668147676),
    ],
    ids=[
        "zeros-ones",
        "self-delannoy",
        "univariate",
        "small-gamma",
        "self-ln3",
        "3x3",
        "constant-cost",
    ],
)
def test_golden_values(x, y, gamma, expected, backend):
    assert soft_dtw(x, y, gamma=gamma, _backend=backend) == pytest.approx(
        expected, rel=1e-12, abs=1e-10
    )


def test_golden_gradient(backend):
    x = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[3.0], [4.0], [-3.0]], dtype=torch.float64)
    soft_dtw(x, y, gamma=1.0, _backend=backend).backward()
    np.testing.assert_allclose(x.grad.ravel(), [-4.0001, -2.2852, 10.1643], atol=1e-4)


# --- 4. gradients -------------------------------------------------------------------


def test_gradcheck_both_inputs_and_gamma(backend):
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(3, 6, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(3, 8, 2)), requires_grad=True)
    gamma = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, g: soft_dtw(a, b, gamma=g, _backend=backend), (x, y, gamma), fast_mode=True
    )


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    x0, y0 = _random_pair(rng, 7, 9, 2)
    x = torch.tensor(x0, requires_grad=True)
    y = torch.tensor(y0, requires_grad=True)
    soft_dtw(x, y, gamma=0.3).backward()
    step = 1e-6
    for array, grad in ((x0, x.grad.numpy()), (y0, y.grad.numpy())):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += step
            minus[index] -= step
            args = (plus, y0) if array is x0 else (x0, plus)
            args_minus = (minus, y0) if array is x0 else (x0, minus)
            numeric[index] = (soft_dtw(*args, gamma=0.3) - soft_dtw(*args_minus, gamma=0.3)) / (
                2 * step
            )
        np.testing.assert_allclose(grad, numeric, atol=1e-6)


def test_gamma_gradient_matches_central_difference(backend):
    rng = np.random.default_rng(4)
    x, y = _random_pair(rng, 9, 6)
    gamma = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    soft_dtw(torch.tensor(x), torch.tensor(y), gamma=gamma, _backend=backend).backward()
    step = 1e-6
    numeric = (soft_dtw(x, y, gamma=0.4 + step) - soft_dtw(x, y, gamma=0.4 - step)) / (2 * step)
    assert float(gamma.grad) == pytest.approx(numeric, rel=1e-7)


# --- 5. expected alignment ------------------------------------------------------------


def test_alignment_matches_tslearn(backend):
    rng = np.random.default_rng(5)
    x, y = _random_pair(rng, 12, 15, 3)
    expected, _ = tslearn_alignment(x, y, gamma=0.5)
    np.testing.assert_allclose(
        soft_dtw_alignment(x, y, gamma=0.5, _backend=backend), expected, atol=1e-12
    )


def test_alignment_properties(backend):
    rng = np.random.default_rng(6)
    x, y = _random_pair(rng, 10, 13)
    E = soft_dtw_alignment(x, y, gamma=1.0, _backend=backend)
    assert E[0, 0] == pytest.approx(1.0, abs=1e-12) and E[-1, -1] == 1.0
    assert E.min() >= 0.0 and E.max() <= 1.0 + 1e-12
    assert (E.sum(1) >= 1 - 1e-12).all() and (E.sum(0) >= 1 - 1e-12).all()
    np.testing.assert_allclose(
        soft_dtw_alignment(y, x, gamma=1.0, _backend=backend), E.T, atol=1e-12
    )


# --- 6. γ -> 0 sandwich -----------------------------------------------------------------


@pytest.mark.parametrize("gamma", [1e-3, 0.1, 1.0, 10.0])
def test_value_is_sandwiched_by_dtw(gamma):
    rng = np.random.default_rng(7)
    x, y = _random_pair(rng, 11, 8)
    hard = dtw(x, y) ** 2  # tslearn returns the square root of the path cost
    value = soft_dtw(x, y, gamma=gamma)
    assert hard - gamma * np.log(_delannoy(10, 7)) - 1e-10 <= value <= hard + 1e-10


# --- 7. divergence -------------------------------------------------------------------


def test_divergence_is_exactly_zero_with_zero_gradient_on_identical_input(backend):
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.normal(size=(4, 9, 3)), requires_grad=True)
    d = soft_dtw_divergence(x, x.detach().clone(), gamma=0.5, _backend=backend)
    assert (d == 0).all()
    d.sum().backward()
    assert float(x.grad.abs().max()) <= 1e-12


def test_divergence_is_symmetric_and_nonnegative_over_many_cases():
    rng = np.random.default_rng(9)
    lengths = rng.integers(1, 12, size=(2, 1000))
    x = to_dataset([rng.normal(size=(n, 2)) for n in lengths[0]])
    y = to_dataset([rng.normal(size=(n, 2)) * rng.uniform(0.1, 3) for n in lengths[1]])
    gamma = 0.5
    forward = soft_dtw_divergence(x, y, gamma=gamma)
    np.testing.assert_allclose(forward, soft_dtw_divergence(y, x, gamma=gamma), atol=1e-12)
    assert forward.min() >= -1e-10


# --- 8-10. band ------------------------------------------------------------------------


def test_wide_band_equals_no_band(backend):
    rng = np.random.default_rng(10)
    x, y = _random_pair(rng, 9, 14)
    assert soft_dtw(x, y, gamma=0.5, band=14, _backend=backend) == soft_dtw(
        x, y, gamma=0.5, _backend=backend
    )


def _slope_band(n, m, band):
    i, j = np.arange(n)[:, None], np.arange(m)[None, :]
    rows = np.abs(i * ((m - 1) / (n - 1) if n > 1 else 0) - j) <= band
    cols = np.abs(j * ((n - 1) / (m - 1) if m > 1 else 0) - i) <= band
    return rows | cols


@pytest.mark.parametrize("n, m, band", [(5, 5, 1), (4, 6, 1), (6, 3, 1), (5, 4, 2), (1, 5, 1)])
def test_banded_value_equals_brute_force_over_in_band_paths(n, m, band, backend):
    rng = np.random.default_rng(n * 10 + m)
    x, y = _random_pair(rng, n, m)
    expected = _brute_force(x, y, 0.3, keep=_slope_band(n, m, band))
    assert soft_dtw(x, y, gamma=0.3, band=band, _backend=backend) == pytest.approx(
        expected, rel=1e-12
    )


def test_band_mask_is_the_two_axis_slope_rule():
    for n, m, band in itertools.product(range(1, 20), range(1, 20), (0, 1, 2, 3)):
        lengths = torch.tensor([n]), torch.tensor([m])
        mask = band_mask(*lengths, n, m, band)[0].numpy()
        expected = _slope_band(n, m, band + 1e-9)  # the float rule, rounding-proof
        np.testing.assert_array_equal(mask, expected, err_msg=f"n={n} m={m} band={band}")


@pytest.mark.parametrize("band", [1, 2, 3])
def test_end_cell_reachable_for_every_length_pair(band):
    lengths = np.arange(1, 65)
    n, m = (g.ravel() for g in np.meshgrid(lengths, lengths))
    rng = np.random.default_rng(band)
    x = to_dataset([rng.normal(size=(k, 1)) for k in n])
    y = to_dataset([rng.normal(size=(k, 1)) for k in m])
    assert np.isfinite(soft_dtw(x, y, gamma=1.0, band=band)).all()


def _autograd_recursion(x, y, gamma, keep):
    """Soft-DTW by the textbook recursion over the kept cells, in torch (autograd's oracle)."""
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    r = {(-1, -1): torch.zeros((), dtype=x.dtype)}
    for i, j in itertools.product(range(len(x)), range(len(y))):
        previous = [r[c] for c in ((i - 1, j - 1), (i - 1, j), (i, j - 1)) if c in r]
        if keep[i, j] and previous:  # unreachable cells stay out of the dictionary
            r[i, j] = cost[i, j] - gamma * torch.logsumexp(-torch.stack(previous) / gamma, 0)
    return r[len(x) - 1, len(y) - 1]


@pytest.mark.parametrize("n, m", [(7, 10), (10, 7), (9, 9), (1, 6), (6, 1), (2, 2)])
@pytest.mark.parametrize("band", [None, 1, 2])
def test_gradients_equal_autograd_through_the_recursion(n, m, band, backend):
    rng = np.random.default_rng(n * 100 + m)
    x0, y0 = _random_pair(rng, n, m, 3)
    keep = np.ones((n, m), bool) if band is None else _slope_band(n, m, band)
    x, y = (torch.tensor(a, requires_grad=True) for a in (x0, y0))
    expected_x, expected_y = torch.autograd.grad(_autograd_recursion(x, y, 0.4, keep), (x, y))
    x, y = (torch.tensor(a, requires_grad=True) for a in (x0, y0))
    soft_dtw(x, y, gamma=0.4, band=band, _backend=backend).backward()
    np.testing.assert_allclose(x.grad, expected_x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.grad, expected_y, rtol=1e-10, atol=1e-12)


def test_gradient_finite_and_alignment_zero_outside_band(backend):
    rng = np.random.default_rng(11)
    x0, y0 = _random_pair(rng, 20, 13)
    E = soft_dtw_alignment(x0, y0, gamma=0.1, band=2, _backend=backend)
    assert (E[~_slope_band(20, 13, 2)] == 0).all()
    x = torch.tensor(x0, requires_grad=True)
    soft_dtw(x, torch.tensor(y0), gamma=0.1, band=2, _backend=backend).backward()
    assert torch.isfinite(x.grad).all()


# --- 11. padding --------------------------------------------------------------------------


def test_padded_batch_equals_loop_of_unpadded_calls(backend):
    rng = np.random.default_rng(12)
    xs = [rng.normal(size=(n, 2)) for n in (5, 9, 3)]
    ys = [rng.normal(size=(n, 2)) for n in (7, 4, 9)]
    X = torch.tensor(to_dataset(xs), requires_grad=True)
    Y = torch.tensor(to_dataset(ys), requires_grad=True)
    values = soft_dtw_divergence(X, Y, gamma=0.5, band=3, _backend=backend)
    values.sum().backward()
    for k, (x0, y0) in enumerate(zip(xs, ys, strict=True)):
        x = torch.tensor(x0, requires_grad=True)
        y = torch.tensor(y0, requires_grad=True)
        single = soft_dtw_divergence(x, y, gamma=0.5, band=3, _backend=backend)
        single.backward()
        assert float(values[k].detach()) == pytest.approx(
            float(single.detach()), rel=1e-12, abs=1e-12
        )
        np.testing.assert_allclose(X.grad[k, : len(x0)], x.grad, atol=1e-12)
        np.testing.assert_allclose(Y.grad[k, : len(y0)], y.grad, atol=1e-12)
        assert (X.grad[k, len(x0) :] == 0).all() and (Y.grad[k, len(y0) :] == 0).all()


def test_normalize_divides_by_sum_of_lengths():
    rng = np.random.default_rng(13)
    X = to_dataset([rng.normal(size=(n, 2)) for n in (4, 7)])
    Y = to_dataset([rng.normal(size=(n, 2)) for n in (6, 3)])
    np.testing.assert_allclose(
        soft_dtw(X, Y, gamma=1.0, normalize=True),
        soft_dtw(X, Y, gamma=1.0) / np.array([10, 10]),
        rtol=1e-15,
    )


# --- 12. dtypes ---------------------------------------------------------------------------


def test_float64_stays_float64_and_float32_stays_float32(dtype):
    rng = np.random.default_rng(14)
    x, y = (a.astype(dtype) for a in _random_pair(rng, 30, 25))
    assert soft_dtw(x, y).dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    value = soft_dtw(xt, torch.tensor(y))
    value.backward()
    assert value.dtype == xt.grad.dtype == torch.from_numpy(x).dtype


def test_float32_error_is_input_rounding_only():
    """float32 runs in float64 inside, so its error is ~1e-7 relative."""
    rng = np.random.default_rng(15)
    x, y = _random_pair(rng, 60, 50, 3)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    exact = tslearn_soft_dtw(x32.astype(np.float64), y32.astype(np.float64), gamma=0.1)
    assert soft_dtw(x32, y32, gamma=0.1) == pytest.approx(exact, rel=1e-7)


# --- 13. aliasing ---------------------------------------------------------------------------


def test_backward_leaves_inputs_unchanged_and_repeats_bitwise(backend):
    rng = np.random.default_rng(16)
    x = torch.tensor(rng.normal(size=(3, 8, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(3, 6, 2)), requires_grad=True)
    x_before, y_before = x.detach().clone(), y.detach().clone()
    value = soft_dtw_divergence(x, y, gamma=0.2, _backend=backend).sum()
    first = torch.autograd.grad(value, (x, y), retain_graph=True)
    second = torch.autograd.grad(value, (x, y))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert torch.equal(x.detach(), x_before) and torch.equal(y.detach(), y_before)


# --- 14. pairwise ------------------------------------------------------------------------------


def test_pairwise_divergence_matches_tslearn_normalized_cdist():
    rng = np.random.default_rng(17)
    X = rng.normal(size=(6, 15, 3))
    np.testing.assert_allclose(
        soft_dtw_pairwise(X, gamma=0.7), cdist_soft_dtw_normalized(X, gamma=0.7), atol=1e-10
    )


def test_pairwise_is_symmetric_with_self_terms_on_diagonal(backend):
    rng = np.random.default_rng(18)
    X = to_dataset([rng.normal(size=(n, 2)) for n in (4, 9, 6, 7)])
    S = soft_dtw_pairwise(X, gamma=0.5, divergence=False, _backend=backend)
    np.testing.assert_array_equal(S, S.T)
    for a in range(4):
        for b in range(4):
            xa, xb = X[a][~np.isnan(X[a, :, 0])], X[b][~np.isnan(X[b, :, 0])]
            assert S[a, b] == pytest.approx(soft_dtw(xa, xb, gamma=0.5), rel=1e-13)


def test_pairwise_between_two_sets_equals_per_pair_divergence():
    rng = np.random.default_rng(19)
    X, Y = rng.normal(size=(3, 8, 2)), rng.normal(size=(4, 5, 2))
    D = soft_dtw_pairwise(X, Y, gamma=0.5, band=2)
    for a, b in itertools.product(range(3), range(4)):
        assert D[a, b] == pytest.approx(
            soft_dtw_divergence(X[a], Y[b], gamma=0.5, band=2), rel=1e-12, abs=1e-13
        )


@pytest.mark.parametrize("divergence", [True, False])
@pytest.mark.parametrize("normalize", [False, True])
def test_chosen_pairs_equal_the_per_pair_functions(divergence, normalize):
    rng = np.random.default_rng(23)
    X = to_dataset([rng.normal(size=(n, 2)) for n in (6, 9, 4, 7, 8)])
    pairs = np.array([[0, 1], [1, 0], [2, 2], [4, 3], [0, 4], [1, 3]])
    values = soft_dtw_pairs(X, pairs, gamma=0.4, band=3, divergence=divergence, normalize=normalize)
    reference = soft_dtw_divergence if divergence else soft_dtw
    for (a, b), value in zip(pairs, values, strict=True):
        xa, xb = X[a][~np.isnan(X[a, :, 0])], X[b][~np.isnan(X[b, :, 0])]
        expected = reference(xa, xb, gamma=0.4, band=3, normalize=normalize)
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_chosen_pairs_gradient_equals_that_of_gathered_rows(backend):
    rng = np.random.default_rng(24)
    X0 = rng.normal(size=(5, 7, 3))
    pairs = torch.tensor([[0, 1], [3, 1], [4, 4], [2, 0]])
    weights = torch.tensor(rng.normal(size=4))
    X = torch.tensor(X0, requires_grad=True)
    (soft_dtw_pairs(X, pairs, gamma=0.5, _backend=backend) * weights).sum().backward()
    gathered = torch.tensor(X0, requires_grad=True)
    values = soft_dtw_divergence(gathered[pairs[:, 0]], gathered[pairs[:, 1]], gamma=0.5)
    (values * weights).sum().backward()
    torch.testing.assert_close(X.grad, gathered.grad, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda a: soft_dtw_pairs(a, pairs, gamma=0.5, _backend=backend),
        (torch.tensor(X0[:, :4], requires_grad=True),),
        fast_mode=True,
    )


@pytest.mark.parametrize(
    "pairs, error, match",
    [
        (np.array([[0, 5]]), ValueError, r"in \[0, 5\)"),
        (np.array([[-1, 0]]), ValueError, r"in \[0, 5\)"),
        (np.array([0, 1, 2]), ValueError, r"shape \(P, 2\)"),
        (np.array([[0.0, 1.0]]), TypeError, "integer row indices"),
    ],
)
def test_bad_pairs_are_named(pairs, error, match):
    with pytest.raises(error, match=match):
        soft_dtw_pairs(np.zeros((5, 3, 1)), pairs)


def test_no_pairs_give_no_values():
    assert soft_dtw_pairs(np.zeros((2, 3, 1)), np.zeros((0, 2), dtype=int)).shape == (0,)


def test_pairwise_gradcheck(backend):
    rng = np.random.default_rng(20)
    X = torch.tensor(rng.normal(size=(4, 5, 2)), requires_grad=True)
    Y = torch.tensor(rng.normal(size=(2, 6, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: soft_dtw_pairwise(a, b, gamma=0.5, _backend=backend), (X, Y), fast_mode=True
    )


def test_pairwise_gradient_recomputed_in_chunks_equals_stored(monkeypatch):
    rng = np.random.default_rng(21)
    X0 = rng.normal(size=(7, 9, 2))

    def gradient():
        X = torch.tensor(X0, requires_grad=True)
        weights = torch.tensor(rng.normal(size=(7, 7)))
        (soft_dtw_pairwise(X, gamma=0.5) * weights).sum().backward()
        return X.grad

    rng = np.random.default_rng(0)
    stored = gradient()
    monkeypatch.setattr(_autograd, "_EAGER_LIMIT", 0)
    monkeypatch.setattr(_autograd, "_CHUNK_PAIRS", 5)
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(gradient(), stored, atol=1e-12)


# --- inputs and outputs ------------------------------------------------------------------------


def test_numpy_in_numpy_out_and_torch_in_torch_out():
    x = np.zeros((4, 2))
    assert isinstance(soft_dtw(x, x), np.floating)
    assert isinstance(soft_dtw_pairwise(x[None].repeat(2, 0)), np.ndarray)
    assert isinstance(soft_dtw(torch.zeros(4, 2), x), torch.Tensor)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"gamma": 0.0}, ValueError, "gamma must be"),
        ({"gamma": "1"}, TypeError, "gamma must be"),
        ({"band": -1}, ValueError, "band must be"),
        ({"band": 1.5}, TypeError, "band must be"),
        ({"_backend": "cuda"}, ValueError, "_backend must be"),
    ],
)
def test_bad_parameters_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        soft_dtw(np.zeros((3, 1)), np.zeros((3, 1)), **kwargs)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="same number of channels"):
        soft_dtw(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="both be single series or both batches"):
        soft_dtw(np.zeros((2, 3, 1)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="partly NaN"):
        soft_dtw(np.array([[1.0, np.nan]]), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN padding must be trailing"):
        soft_dtw(np.array([[1.0], [np.nan], [2.0]]), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="no finite frame"):
        soft_dtw(np.zeros((2, 3, 1)), np.array([[[0.0]] * 3, [[np.nan]] * 3]))


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
@pytest.mark.parametrize("frame", [0, 2])  # inside the series, or a whole padding frame
def test_infinity_is_refused_inside_a_series_and_as_padding(bad, frame):
    x = np.array([[1.0, 2.0], [3.0, 4.0], [np.nan, np.nan]])
    x[frame] = bad
    with pytest.raises(ValueError, match="x contains infinity"):
        soft_dtw(x, np.zeros((3, 2)))


def test_lengths_follow_trailing_padding():
    X = np.zeros((3, 4, 2))
    X[1, 3:] = np.nan
    X[2, 1:] = np.nan
    np.testing.assert_array_equal(series_lengths(torch.tensor(X), "X").numpy(), [4, 3, 1])
    assert series_lengths(torch.zeros((0, 4, 2)), "X").shape == (0,)


def _frame_layout_by_brute_force(series):
    """(finite frames, whether they are a prefix followed only by all-NaN frames)."""
    finite = [bool(np.isfinite(frame).all()) for frame in series]
    length = sum(finite)
    padding_ok = all(np.isnan(frame).all() for frame in series[length:])
    return length, all(finite[:length]) and padding_ok and length > 0


@pytest.mark.parametrize("counts", ["cpu_kernel", "tensor_ops"])
def test_frame_counts_equal_brute_force_on_random_layouts(counts):
    rng = np.random.default_rng(40)
    X = rng.normal(size=(400, 6, 2))
    for b, kind in enumerate(rng.integers(0, 6, size=len(X))):
        t = rng.integers(0, 6)
        if kind == 1:
            X[b, t:] = np.nan  # valid padding (all NaN when t == 0)
        elif kind == 2:
            X[b, t, rng.integers(0, 2)] = np.nan  # part of a frame
        elif kind == 3:
            X[b, t] = np.nan  # a NaN frame, maybe before finite ones
        elif kind == 4:
            X[b, t, 0] = rng.choice([np.inf, -np.inf])
    if counts == "cpu_kernel":
        found = [_finite_frame_counts(X[b : b + 1]) for b in range(len(X))]
    else:
        found = [_finite_frame_counts_on_device(torch.tensor(X[b : b + 1])) for b in range(len(X))]
    for b, (lengths, valid) in enumerate(found):
        assert (int(lengths[0]), bool(valid)) == _frame_layout_by_brute_force(X[b]), b


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_use_the_wavefront_and_match_cpu():
    rng = np.random.default_rng(22)
    X = torch.tensor(rng.normal(size=(5, 30, 3)), device="cuda", requires_grad=True)
    Y = torch.tensor(rng.normal(size=(5, 20, 3)), device="cuda")
    value = soft_dtw_divergence(X, Y, gamma=0.3, band=4)
    value.sum().backward()
    Xc = X.detach().cpu().requires_grad_()
    expected = soft_dtw_divergence(Xc, Y.cpu(), gamma=0.3, band=4)
    expected.sum().backward()
    np.testing.assert_allclose(value.cpu().detach(), expected.detach(), rtol=1e-12)
    np.testing.assert_allclose(X.grad.cpu(), Xc.grad, atol=1e-12)
