"""Torch-native soft-DTW over anti-diagonals, for tensors on an accelerator.

The cells of one anti-diagonal ``i + j = k`` are independent, so each step
updates all of them, for all pairs, with a handful of tensor operations; the
sequential depth is ``N + M - 1`` steps. The soft-min weights and the squared
distances are stored as the forward goes, so the backward is, as on the CPU,
``e_ij = Σ w·e`` over the successors with no exp. It returns exactly what
:func:`._numba_kernels.soft_dtw_blocks` returns, so the autograd Function does
not care which engine ran.
"""

from .._torch import import_torch


def band_mask(lx, ly, n_rows, n_cols, band):
    """``(P, n_rows, n_cols)`` mask of the cells each pair may visit.

    Same rule as the numba kernels: lengths, then the two-axis slope band
    ``|i·(m-1) - j·(n-1)| <= band·max(n-1, m-1)`` (no band when ``band < 0``).
    """
    torch = import_torch()
    i = torch.arange(n_rows, device=lx.device).view(1, -1, 1)
    j = torch.arange(n_cols, device=lx.device).view(1, 1, -1)
    n, m = lx.view(-1, 1, 1), ly.view(-1, 1, 1)
    mask = (i < n) & (j < m)
    if band >= 0:
        reach = band * torch.maximum(n - 1, m - 1)
        mask &= (i * (m - 1) - j * (n - 1)).abs() <= reach
    return mask


def _diagonal(k, n_rows, n_cols, device):
    torch = import_torch()
    i = torch.arange(max(0, k - n_cols + 1), min(k, n_rows - 1) + 1, device=device)
    return i, k - i


def _forward(xp, yp, live_mask, gamma):
    torch = import_torch()
    n_pairs, n_rows, n_cols = live_mask.shape
    inf = torch.tensor(float("inf"), dtype=xp.dtype, device=xp.device)
    r = torch.full(
        (n_pairs, n_rows + 1, n_cols + 1), float("inf"), dtype=xp.dtype, device=xp.device
    )
    r[:, 0, 0] = 0.0
    weights = xp.new_zeros((3, n_pairs, n_rows + 1, n_cols + 1))
    cost = xp.new_zeros((n_pairs, n_rows, n_cols))
    for k in range(n_rows + n_cols - 1):
        i, j = _diagonal(k, n_rows, n_cols, xp.device)
        dist = (xp[:, i] - yp[:, j]).square().sum(-1)
        previous = torch.stack([r[:, i, j], r[:, i, j + 1], r[:, i + 1, j]])
        best = previous.min(0).values
        live = live_mask[:, i, j] & (best < inf)
        shift = torch.where(live, best, torch.zeros_like(best))
        exps = torch.exp((shift - previous) / gamma)
        total = torch.where(live, exps.sum(0), torch.ones_like(best))
        weights[:, :, i + 1, j + 1] = torch.where(live, exps / total, torch.zeros_like(exps))
        r[:, i + 1, j + 1] = torch.where(live, dist + best - gamma * torch.log(total), inf)
        cost[:, i, j] = dist
    return r, weights, cost


def _backward(weights, lx, ly):
    torch = import_torch()
    _, n_pairs, n_rows, n_cols = (s - (k > 1) for k, s in enumerate(weights.shape))
    e = weights.new_zeros((n_pairs, n_rows + 2, n_cols + 2))
    pair = torch.arange(n_pairs, device=weights.device)
    e[pair, lx, ly] = 1.0
    # Pad by one so that successors of the last row/column read zero weights.
    w_diag, w_up, w_left = torch.nn.functional.pad(weights, (0, 1, 0, 1))
    for k in range(n_rows + n_cols - 2, -1, -1):
        i, j = _diagonal(k, n_rows, n_cols, weights.device)
        from_successors = (
            e[:, i + 2, j + 2] * w_diag[:, i + 2, j + 2]
            + e[:, i + 2, j + 1] * w_up[:, i + 2, j + 1]
            + e[:, i + 1, j + 2] * w_left[:, i + 1, j + 2]
        )
        end = (i.view(1, -1) + 1 == lx.view(-1, 1)) & (j.view(1, -1) + 1 == ly.view(-1, 1))
        e[:, i + 1, j + 1] = torch.where(end, e[:, i + 1, j + 1], from_successors)
    return e[:, 1 : n_rows + 1, 1 : n_cols + 1]


def soft_dtw_wavefront(X, Y, lx, ly, pairs, gamma, band, scale, want_grad, want_alignment):
    """Same contract as :func:`._numba_kernels.soft_dtw_blocks`, on torch tensors."""
    torch = import_torch()
    xp, yp = X[pairs[:, 0]], Y[pairs[:, 1]]
    n, m = lx[pairs[:, 0]], ly[pairs[:, 1]]
    xp = torch.nan_to_num(xp, nan=0.0)
    yp = torch.nan_to_num(yp, nan=0.0)
    live_mask = band_mask(n, m, X.shape[1], Y.shape[1], band)
    r, weights, cost = _forward(xp, yp, live_mask, gamma)
    pair = torch.arange(len(pairs), device=X.device)
    values = r[pair, n, m]
    empty = X.new_zeros(0)
    if not (want_grad or want_alignment):
        return values, empty, empty, empty, empty
    e = _backward(weights, n, m)
    alignment = e if want_alignment else empty
    if not want_grad:
        return values, empty, empty, empty, alignment
    grad_x = 2.0 * (e.sum(2, keepdim=True) * xp - e @ yp) * scale.view(-1, 1, 1)
    grad_y = 2.0 * (e.sum(1).unsqueeze(-1) * yp - e.transpose(1, 2) @ xp) * scale.view(-1, 1, 1)
    inner = (e * cost).sum((1, 2))
    return values, grad_x, grad_y, inner, alignment
