"""Soft-DTW: differentiable, exact, for NumPy arrays and torch tensors.

Soft-DTW (Cuturi & Blondel, 2017) replaces the minimum over alignment paths of
dynamic time warping by the soft minimum ``min^γ(a) = -γ log Σ exp(-a/γ)``.
The cost of matching frames ``x_i`` and ``y_j`` is ``||x_i - y_j||²`` (the
tslearn convention: ``γ -> 0`` gives squared DTW).

Every function takes NumPy arrays or torch tensors and returns the same kind;
tensors carry autograd for both series and for ``gamma`` when it is a tensor
that requires grad (``∂S/∂γ = (S - <E, Δ>)/γ``). float32 and float64 are
preserved; internally the CPU engine always works in float64 (so a float32
result is the float64 result rounded: relative error ~1e-7 and a backward
as stable as float64's). Variable lengths are given as trailing all-NaN
frames (see :func:`skheatmap.to_dataset`); padding gets exactly zero gradient.

``band`` is a Sakoe-Chiba radius applied with the two-axis slope rule: cell
``(i, j)`` of an ``n × m`` problem is kept when ``|i(m-1)/(n-1) - j| <= band``
or ``|j(n-1)/(m-1) - i| <= band``. Unlike ``|i - j| <= band`` it keeps the end
cell reachable for every ``n, m`` and ``band >= 1``, and only the kept cells
are computed or stored. (``band=0`` keeps only cells on the straight line
from corner to corner, so it is finite only for equal lengths.)

``normalize=True`` divides each value (or divergence) by ``n + m``, so that
series of different lengths are compared on the same scale.
"""

import numpy as np

from .._torch import import_torch
from ._autograd import run_engine, soft_dtw_function
from ._inputs import (
    check_band,
    check_dataset,
    check_gamma,
    check_pair_of_series,
    check_same_dimension,
    common_dtype,
    is_tensor,
    series_lengths,
    to_output,
)

__all__ = [
    "soft_dtw",
    "soft_dtw_divergence",
    "soft_dtw_pairwise",
    "soft_dtw_pairs",
    "soft_dtw_alignment",
]

_BACKENDS = ("auto", "numba", "torch")


def _engine_options(gamma, X, band, backend, divergence, normalize):
    """The checked options of the all-pairs functions, as :func:`_cross_values` takes them."""
    return {
        "gamma": check_gamma(gamma, X.dtype, X.device),
        "band": check_band(band),
        "backend": _check_backend(backend),
        "divergence": bool(divergence),
        "normalize": bool(normalize),
    }


def _check_backend(backend):
    if backend not in _BACKENDS:
        raise ValueError(f"_backend must be one of {_BACKENDS}, got {backend!r}.")
    return backend


def _pair_values(Z, lengths, pairs, gamma, band, backend):
    """Differentiable soft-DTW of the pairs ``(Z[a], Z[b])`` of one stack of series."""
    return soft_dtw_function().apply(Z, Z, gamma, lengths, lengths, pairs, band, backend)


def _cross_values(Z, lengths, rows, cols, selves, options):
    """Soft-DTW (or divergence) of the pairs ``(Z[rows], Z[cols])`` of one stack.

    The self-terms ``S(z, z)`` of the series ``selves`` are computed once each,
    in the same engine call as the pairs (divergence needs those of every
    series in ``rows`` and ``cols``). ``options`` holds gamma, band, backend,
    divergence and normalize. Returns the pair values and the self-terms.
    """
    torch = import_torch()
    pairs = torch.cat([torch.stack([rows, cols], 1), torch.stack([selves, selves], 1)])
    values = _pair_values(
        Z, lengths, pairs, options["gamma"], options["band"], options["backend"]
    )
    cross, self_terms = values[: len(rows)], values[len(rows) :]
    if options["divergence"]:
        by_series = self_terms.new_zeros(len(Z)).index_copy(0, selves, self_terms)
        cross = cross - 0.5 * by_series[rows] - 0.5 * by_series[cols]
    if options["normalize"]:
        cross = cross / (lengths[rows] + lengths[cols]).to(cross.dtype)
    return cross, self_terms


def _stack(X, Y):
    """One ``(B + C, T, d)`` stack of two batches (shorter ones zero-padded)."""
    torch = import_torch()
    T = max(X.shape[1], Y.shape[1])
    pad = lambda S: torch.nn.functional.pad(S, (0, 0, 0, T - S.shape[1]))  # noqa: E731
    return torch.cat([pad(torch.nan_to_num(X, nan=0.0)), pad(torch.nan_to_num(Y, nan=0.0))])


def _prepare(x, y, gamma, band, backend):
    X, Y, batched, numpy_in = check_pair_of_series(x, y)
    lx, ly = series_lengths(X, "x"), series_lengths(Y, "y")
    gamma = check_gamma(gamma, X.dtype, X.device)
    return X, Y, lx, ly, gamma, check_band(band), _check_backend(backend), batched, numpy_in


def _finish(values, lx, ly, normalize, batched, numpy_in):
    if normalize:
        values = values / (lx + ly).to(values.dtype)
    if not batched:
        values = values[0]
    return to_output(values, numpy_in)


def _run_public(fn, numpy_in):
    """Run ``fn`` without autograd bookkeeping when NumPy came in."""
    torch = import_torch()
    if numpy_in:
        with torch.no_grad():
            return fn()
    return fn()


def soft_dtw(x, y, *, gamma=1.0, band=None, normalize=False, _backend="auto"):
    """Soft-DTW value of two series, or of each pair of two batches.

    Parameters
    ----------
    x, y : array-like or Tensor of shape (T,), (T, d) or (B, T, d)
        Two series, or two batches of B series paired by position. Lengths
        may differ; trailing all-NaN frames are padding.
    gamma : float or 0-d Tensor, default=1.0
        Smoothing (> 0). A tensor requiring grad receives ∂S/∂γ.
    band : int or None, default=None
        Sakoe-Chiba radius (two-axis slope rule, see the module notes).
    normalize : bool, default=False
        Divide by ``n + m``.

    Returns
    -------
    value : float, ndarray of shape (B,), or Tensor
        Same kind as the input (a 0-d tensor for two torch series).

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.softdtw import soft_dtw
    >>> round(float(soft_dtw(np.zeros((10, 8)), np.ones((12, 8)), gamma=1.0)), 6)
    91.98061
    >>> soft_dtw(np.zeros((3, 5, 2)), np.zeros((3, 4, 2)), gamma=0.1).shape
    (3,)
    """
    X, Y, lx, ly, gamma, band, backend, batched, numpy_in = _prepare(x, y, gamma, band, _backend)

    def compute():
        torch = import_torch()
        pairs = torch.stack([torch.arange(len(X))] * 2, 1).to(X.device)
        values = soft_dtw_function().apply(X, Y, gamma, lx, ly, pairs, band, backend)
        return _finish(values, lx, ly, normalize, batched, numpy_in)

    return _run_public(compute, numpy_in)


def soft_dtw_divergence(x, y, *, gamma=1.0, band=None, normalize=False, _backend="auto"):
    """Soft-DTW divergence ``D(x, y) = S(x, y) - S(x, x)/2 - S(y, y)/2``.

    Unlike raw soft-DTW (negative, and growing with length), ``D`` is >= 0,
    exactly 0 with zero gradient when ``x == y``, and symmetric (Blondel,
    Mensch & Vert, 2021), so it can feed a margin or logistic loss.

    Parameters
    ----------
    x, y : array-like or Tensor of shape (T,), (T, d) or (B, T, d)
        Two series, or two batches paired by position.
    gamma : float or 0-d Tensor, default=1.0
    band : int or None, default=None
    normalize : bool, default=False
        Divide the divergence by ``n + m``.

    Returns
    -------
    divergence : float, ndarray of shape (B,), or Tensor

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.softdtw import soft_dtw_divergence
    >>> x = np.sin(np.linspace(0, 3, 20))[:, None]
    >>> float(soft_dtw_divergence(x, x, gamma=0.1))
    0.0
    >>> float(soft_dtw_divergence(x, x + 1.0, gamma=0.1)) > 0
    True
    """
    X, Y, lx, ly, gamma, band, backend, batched, numpy_in = _prepare(x, y, gamma, band, _backend)

    def compute():
        torch = import_torch()
        B = len(X)
        own = torch.arange(B, device=X.device)
        pairs = torch.cat(
            [
                torch.stack([own, own + B], 1),
                torch.stack([own, own], 1),
                torch.stack([own + B, own + B], 1),
            ]
        )
        values = _pair_values(_stack(X, Y), torch.cat([lx, ly]), pairs, gamma, band, backend)
        cross, self_x, self_y = values.split(B)
        return _finish(cross - 0.5 * self_x - 0.5 * self_y, lx, ly, normalize, batched, numpy_in)

    return _run_public(compute, numpy_in)


def soft_dtw_pairwise(
    X, Y=None, *, gamma=1.0, divergence=True, band=None, normalize=False, _backend="auto"
):
    """Matrix of soft-DTW divergences (or values) between all series of two sets.

    Each self-term ``S(x, x)`` is computed once per series, and nothing of size
    ``B·C·N·M`` is ever held: the forward keeps the values only, and the
    backward recomputes the pairs chunk by chunk.

    Parameters
    ----------
    X : array-like or Tensor of shape (B, T, d)
        Series (trailing all-NaN frames are padding). 2-D ``(B, F)`` means B
        series of one frame, the package's convention.
    Y : array-like or Tensor of shape (C, T', d), default=None
        Second set; ``None`` compares ``X`` with itself (a symmetric matrix
        computed from its upper triangle, with the exact diagonal).
    gamma : float or 0-d Tensor, default=1.0
    divergence : bool, default=True
        Soft-DTW divergence (0 on identical series) rather than raw soft-DTW.
    band : int or None, default=None
    normalize : bool, default=False
        Divide each entry by ``n + m``.

    Returns
    -------
    matrix : ndarray or Tensor of shape (B, C)

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.softdtw import soft_dtw_pairwise
    >>> X = np.random.default_rng(0).normal(size=(4, 10, 2))
    >>> D = soft_dtw_pairwise(X, gamma=0.5)
    >>> D.shape, bool(np.allclose(D, D.T)), float(np.abs(np.diag(D)).max())
    ((4, 4), True, 0.0)
    """
    torch = import_torch()
    numpy_in = not (is_tensor(X) or (Y is not None and is_tensor(Y)))
    like = X if is_tensor(X) else (Y if is_tensor(Y) else None)
    Xt = check_dataset(X, "X", like)
    Yt = None if Y is None else check_dataset(Y, "Y", like)
    if Yt is not None:
        check_same_dimension(Xt, Yt, "X", "Y")
        Xt, Yt = common_dtype(Xt, Yt)
    lx = series_lengths(Xt, "X")
    ly = lx if Yt is None else series_lengths(Yt, "Y")
    options = _engine_options(gamma, Xt, band, _backend, divergence, normalize)

    def compute():
        B = len(Xt)
        Z = torch.nan_to_num(Xt, nan=0.0) if Yt is None else _stack(Xt, Yt)
        lengths = lx if Yt is None else torch.cat([lx, ly])
        n_series = len(Z)
        rows, cols = (
            torch.triu_indices(B, B, 1, device=Z.device)
            if Yt is None
            else torch.cartesian_prod(
                torch.arange(B, device=Z.device), torch.arange(B, n_series, device=Z.device)
            ).T
        )
        own = torch.arange(n_series, device=Z.device)
        cross, self_terms = _cross_values(Z, lengths, rows, cols, own, options)
        C = B if Yt is None else n_series - B
        matrix = cross.new_zeros((B, C))
        matrix = matrix.index_put((rows, cols - (0 if Yt is None else B)), cross)
        if Yt is None:
            matrix = matrix.index_put((cols, rows), cross)
            if not divergence:
                diagonal = self_terms / (2 * lx).to(cross.dtype) if normalize else self_terms
                matrix = matrix.index_put((own, own), diagonal)
        return to_output(matrix, numpy_in)

    return _run_public(compute, numpy_in)


def soft_dtw_pairs(
    X, pairs, *, gamma=1.0, divergence=True, band=None, normalize=False, _backend="auto"
):
    """Soft-DTW divergences (or values) of chosen pairs ``(X[a], X[b])`` of one set.

    For mined or sampled pairs of a batch: each series is checked once, each
    self-term ``S(x, x)`` is computed once however many pairs use the series,
    and no copy of the paired series is made (gradients flow to ``X``
    directly). ``soft_dtw_divergence(X[a], X[b])`` gives the same values with
    three dynamic programs per pair.

    Parameters
    ----------
    X : array-like or Tensor of shape (B, T, d)
        Series (trailing all-NaN frames are padding); 2-D ``(B, F)`` means B
        series of one frame.
    pairs : array-like or Tensor of int, shape (P, 2)
        Row indices ``(a, b)`` into ``X``, each in ``[0, B)``.
    gamma : float or 0-d Tensor, default=1.0
    divergence : bool, default=True
        Soft-DTW divergence rather than raw soft-DTW.
    band : int or None, default=None
    normalize : bool, default=False
        Divide each value by ``n + m``.

    Returns
    -------
    values : ndarray or Tensor of shape (P,)

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.softdtw import soft_dtw_divergence, soft_dtw_pairs
    >>> X = np.random.default_rng(0).normal(size=(4, 10, 2))
    >>> pairs = np.array([[0, 1], [0, 2], [3, 3]])
    >>> d = soft_dtw_pairs(X, pairs, gamma=0.5)
    >>> bool(np.allclose(d, soft_dtw_divergence(X[[0, 0, 3]], X[[1, 2, 3]], gamma=0.5)))
    True
    """
    torch = import_torch()
    numpy_in = not is_tensor(X)
    Xt = check_dataset(X, "X")
    lengths = series_lengths(Xt, "X")
    index = _check_pairs(pairs, len(Xt), Xt.device)
    options = _engine_options(gamma, Xt, band, _backend, divergence, normalize)

    def compute():
        Z = torch.nan_to_num(Xt, nan=0.0)
        selves = torch.unique(index) if options["divergence"] else index.new_zeros(0)
        cross, _ = _cross_values(Z, lengths, index[:, 0], index[:, 1], selves, options)
        return to_output(cross, numpy_in)

    return _run_public(compute, numpy_in)


def _check_pairs(pairs, n_series, device):
    """``pairs`` as a ``(P, 2)`` int64 tensor of row indices below ``n_series``."""
    torch = import_torch()
    values = pairs.detach().cpu().numpy() if is_tensor(pairs) else np.asarray(pairs)
    if values.dtype.kind not in "iu" and not (values.size == 0 and values.dtype.kind == "f"):
        raise TypeError(f"pairs must hold integer row indices, got dtype {values.dtype}.")
    values = values.reshape(-1, 2) if values.size == 0 else values
    if values.ndim != 2 or values.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2) of row indices, got {values.shape}.")
    if values.size and (values.min() < 0 or values.max() >= n_series):
        raise ValueError(
            f"pairs must index rows of X, in [0, {n_series}); got values from "
            f"{values.min()} to {values.max()}."
        )
    return torch.as_tensor(values.astype(np.int64), device=device)


def soft_dtw_alignment(x, y, *, gamma=1.0, band=None, _backend="auto"):
    """Expected alignment matrix ``E = ∂S/∂Δ`` of two series (or of batched pairs).

    ``E[i, j]`` is the probability, under the Gibbs distribution over
    alignment paths, that frame ``i`` of ``x`` is matched with frame ``j`` of
    ``y``. It is returned without autograd history.

    Parameters
    ----------
    x, y : array-like or Tensor of shape (T,), (T, d) or (B, T, d)
    gamma : float or 0-d Tensor, default=1.0
    band : int or None, default=None

    Returns
    -------
    alignment : ndarray or Tensor of shape (N, M) or (B, N, M)
        Zero on padding frames and outside the band.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.softdtw import soft_dtw_alignment
    >>> E = soft_dtw_alignment(np.arange(4.0), np.arange(5.0), gamma=0.01)
    >>> E.shape, float(E[0, 0]), float(E[-1, -1])
    ((4, 5), 1.0, 1.0)
    """
    X, Y, lx, ly, gamma, band, backend, batched, numpy_in = _prepare(x, y, gamma, band, _backend)
    torch = import_torch()
    with torch.no_grad():
        pairs = torch.stack([torch.arange(len(X))] * 2, 1).to(X.device)
        alignment = run_engine(
            X, Y, lx, ly, pairs, gamma.item(), band, want_alignment=True, backend=backend
        )[4]
    return to_output(alignment if batched else alignment[0], numpy_in)
