"""The autograd Function over the soft-DTW engines, and the engine dispatch.

Both engines (numba on CPU, torch wavefront elsewhere) evaluate a list of
``(row of X, row of Y)`` pairs and return, besides the values, each pair's
gradient with respect to its two series and ``<E, Δ>`` (for ∂S/∂γ). The
Function computes these gradients during the forward pass when they are small
(``P·(N + M)·d`` numbers, never ``P·N·M``), so a backward costs a
multiplication. When there are too many pairs for that (all-pairs matrices),
the forward stores nothing and the backward re-runs the engine chunk by chunk
with the upstream gradient folded in, so memory stays bounded.
"""

import numba
import numpy as np

from .._torch import import_torch
from ._numba_kernels import scatter_pair_rows, soft_dtw_blocks
from ._torch_wavefront import soft_dtw_wavefront

# Largest number of per-pair gradient values kept between forward and backward.
_EAGER_LIMIT = 2**25
# Pairs per engine call when gradients are recomputed in the backward pass.
_CHUNK_PAIRS = 4096


def _numba_engine(X, Y, lx, ly, pairs, gamma, band, scale, want_grad, want_alignment):
    """Run the numba kernels on CPU float64 copies; results as torch tensors."""
    torch = import_torch()
    as_numpy = lambda t: t.detach().cpu().numpy()  # noqa: E731
    results = soft_dtw_blocks(
        np.ascontiguousarray(as_numpy(X), dtype=np.float64),
        np.ascontiguousarray(as_numpy(Y), dtype=np.float64),
        as_numpy(lx).astype(np.int64),
        as_numpy(ly).astype(np.int64),
        np.ascontiguousarray(as_numpy(pairs), dtype=np.int64),
        float(gamma),
        int(band),
        np.ascontiguousarray(as_numpy(scale), dtype=np.float64),
        bool(want_grad),
        bool(want_alignment),
        numba.get_num_threads(),
    )
    return tuple(torch.from_numpy(r).to(dtype=X.dtype, device=X.device) for r in results)


def _scatter(n_rows, rows, per_pair, scale):
    """Sum of the per-pair gradients ``scale[p]·per_pair[p]`` into rows ``rows[p]``."""
    torch = import_torch()
    if per_pair.device.type != "cpu":
        out = per_pair.new_zeros((n_rows,) + per_pair.shape[1:])
        return out.index_add_(0, rows, per_pair * scale.view(-1, 1, 1))
    as_numpy = lambda t: t.detach().numpy().astype(np.float64)  # noqa: E731
    out = scatter_pair_rows(n_rows, rows.numpy(), as_numpy(per_pair), as_numpy(scale))
    return torch.from_numpy(out).to(per_pair.dtype)


def run_engine(
    X,
    Y,
    lx,
    ly,
    pairs,
    gamma,
    band,
    *,
    scale=None,
    want_grad=False,
    want_alignment=False,
    backend="auto",
):
    """Values (and optionally gradients, alignments) of ``pairs`` with either engine.

    ``backend`` is ``"numba"`` (CPU kernels), ``"torch"`` (wavefront, any
    device) or ``"auto"`` (numba for CPU tensors, torch otherwise).
    """
    if scale is None:
        scale = X.new_ones(len(pairs))
    if backend == "auto":
        backend = "numba" if X.device.type == "cpu" else "torch"
    engine = _numba_engine if backend == "numba" else soft_dtw_wavefront
    return engine(X, Y, lx, ly, pairs, gamma, band, scale, want_grad, want_alignment)


def soft_dtw_function():
    """The ``torch.autograd.Function`` class (built on first use: torch is lazy)."""
    global _FUNCTION
    if _FUNCTION is None:
        _FUNCTION = _build_function()
    return _FUNCTION


_FUNCTION = None


def _build_function():
    torch = import_torch()
    from torch.autograd.function import once_differentiable

    class SoftDTW(torch.autograd.Function):
        """Soft-DTW values of pairs ``(X[pairs[:, 0]], Y[pairs[:, 1]])``."""

        @staticmethod
        def forward(ctx, X, Y, gamma, lx, ly, pairs, band, backend):
            X, Y = X.detach(), Y.detach()
            need_grad = any(ctx.needs_input_grad[:3])
            size = len(pairs) * (X.shape[1] + Y.shape[1]) * X.shape[2]
            ctx.eager = need_grad and size <= _EAGER_LIMIT
            values, grad_x, grad_y, inner, _ = run_engine(
                X,
                Y,
                lx,
                ly,
                pairs,
                gamma.item(),
                band,
                want_grad=ctx.eager,
                backend=backend,
            )
            ctx.band, ctx.backend = band, backend
            ctx.save_for_backward(X, Y, gamma, lx, ly, pairs, values, grad_x, grad_y, inner)
            return values

        @staticmethod
        @once_differentiable
        def backward(ctx, grad_values):
            X, Y, gamma, lx, ly, pairs, values, grad_x, grad_y, inner = ctx.saved_tensors
            if ctx.eager:
                grad_X, grad_Y = (
                    _scatter(len(S), pairs[:, side], grad, grad_values)
                    for side, (S, grad) in enumerate(((X, grad_x), (Y, grad_y)))
                )
            else:
                grad_X, grad_Y = torch.zeros_like(X), torch.zeros_like(Y)
                inner = values.new_empty(len(pairs))
                for start in range(0, len(pairs), _CHUNK_PAIRS):
                    chunk = slice(start, start + _CHUNK_PAIRS)
                    _, gx, gy, inner[chunk], _ = run_engine(
                        X,
                        Y,
                        lx,
                        ly,
                        pairs[chunk],
                        gamma.item(),
                        ctx.band,
                        scale=grad_values[chunk],
                        want_grad=True,
                        backend=ctx.backend,
                    )
                    unit = torch.ones_like(grad_values[chunk])
                    grad_X += _scatter(len(X), pairs[chunk, 0], gx, unit)
                    grad_Y += _scatter(len(Y), pairs[chunk, 1], gy, unit)
            # ∂S/∂γ = (S - <E, Δ>) / γ; pairs with an unreachable end contribute 0.
            finite = torch.isfinite(values)
            entropy = torch.where(finite, grad_values * (values - inner), 0.0)
            grad_gamma = (entropy.sum() / gamma).reshape(gamma.shape)
            return grad_X, grad_Y, grad_gamma, None, None, None, None, None

    return SoftDTW
