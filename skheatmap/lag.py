"""Soft-lag cross-correlation: the lagged objective of the design notes.

For series ``a``, ``b`` and lags ``ℓ ∈ [-L, L]``, the normalised lagged
correlation is the cosine similarity of the overlapping parts,

    ρ_ab(ℓ) = Σ_t a(t) b(t+ℓ) / (sqrt(Σ_t a(t)²) · sqrt(Σ_t b(t+ℓ)²)),

every sum running over the ``t`` for which both ``t`` and ``t + ℓ`` are inside
the series. Its differentiable surrogate of the best lag is the soft maximum
``(1/β) log Σ_ℓ exp(β ρ_ab(ℓ))``, which tends to ``max_ℓ ρ_ab(ℓ)`` as
``β -> ∞`` (it exceeds it by at most ``log(2L + 1)/β``). Series are not
centred here: centre them first for Pearson correlations.

Multichannel series ``(T, C)``: ρ is computed per channel and averaged over
channels, with one lag shared by all channels. One lag because the channels
of a trajectory share the recording's clock (a delay between two recordings
delays every channel alike); per-channel normalisation so that a channel with
large amplitude does not dominate; the average keeps ``ρ ∈ [-1, 1]`` whatever
``C``, so ``β`` means the same for any number of channels.

The numerators ``Σ_t a(t) b(t+ℓ)`` come from an FFT cross-correlation for long
series (``O(T log T)``) or from a direct sliding product for short ones
(``O(T·L)``); the overlap energies come from cumulative sums, never by
subtraction, so float32 stays accurate. NumPy in, NumPy out; torch in, torch
out with autograd.
"""

import numbers

import numpy as np

from ._torch import import_torch

__all__ = ["lagged_correlation", "soft_lag_correlation", "soft_lag_correlation_pairwise"]

# Above this many products (T·(2L+1)) the FFT beats the direct sliding product.
_FFT_ABOVE = 2**15
_METHODS = ("auto", "direct", "fft")


def _is_tensor(value):
    return type(value).__module__.startswith("torch")


def _as_tensor(value, name, like):
    torch = import_torch()
    if _is_tensor(value):
        tensor = value if value.is_floating_point() else value.to(torch.float64)
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}.")
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if like is not None:
            tensor = tensor.to(like.device)
    if bool(torch.isnan(tensor).any()) or bool(torch.isinf(tensor).any()):
        raise ValueError(f"{name} contains NaN or inf; lagged correlation needs finite series.")
    return tensor


def _check_max_lag(max_lag, T):
    if isinstance(max_lag, bool) or not isinstance(max_lag, numbers.Integral):
        raise TypeError(f"max_lag must be an int >= 0, got {type(max_lag).__name__}.")
    if not 0 <= max_lag < T:
        raise ValueError(
            f"max_lag must satisfy 0 <= max_lag < T (series length {T}), got {max_lag}."
        )
    return int(max_lag)


def _check_beta(beta):
    if _is_tensor(beta):
        if not float(beta.detach()) > 0:
            raise ValueError(f"beta must be > 0, got {float(beta.detach())}.")
        return beta
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
        raise TypeError(f"beta must be a float > 0, got {type(beta).__name__}.")
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (np.inf gives the hard maximum), got {beta}.")
    return float(beta)


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    return method


def _channels_first(x):
    """``(..., T, C)`` -> ``(..., C, T)``."""
    return x.transpose(-1, -2)


def _numerators_direct(a, b, max_lag):
    """Σ_t a(t) b(t+ℓ) for every lag by sliding ``b`` (zero-padded) under ``a``."""
    torch = import_torch()
    T = a.shape[-1]
    padded = torch.nn.functional.pad(b, (max_lag, max_lag))
    windows = padded.unfold(-1, T, 1)  # (..., 2L+1, T): window k is b shifted by k - L
    return (a.unsqueeze(-2) * windows).sum(-1)


def _numerators_fft(a, b, max_lag):
    """Same sums through the FFT cross-correlation (zero-padded, no wrap-around)."""
    torch = import_torch()
    T = a.shape[-1]
    n = 2 * T
    spectrum = torch.fft.rfft(a, n).conj() * torch.fft.rfft(b, n)
    cross = torch.fft.irfft(spectrum, n)
    return torch.cat([cross[..., n - max_lag :], cross[..., : max_lag + 1]], -1)


def _overlap_energies(x, max_lag, leading):
    """Energy of the part of ``x`` that overlaps the other series at every lag.

    ``leading=True`` for the series indexed by ``t`` (its overlap is a prefix
    for ℓ >= 0 and a suffix for ℓ < 0), ``False`` for the one indexed by
    ``t + ℓ`` (the reverse).
    """
    torch = import_torch()
    T = x.shape[-1]
    squares = x.square()
    prefix = squares.cumsum(-1)  # prefix[k] = Σ_{t <= k}
    suffix = squares.flip(-1).cumsum(-1)  # suffix[k] = Σ_{t >= T-1-k}
    lags = torch.arange(-max_lag, max_lag + 1, device=x.device)
    size = T - lags.abs() - 1  # index of the overlap length in the cumulative sums
    use_prefix = (lags >= 0) if leading else (lags < 0)
    return torch.where(use_prefix, prefix[..., size], suffix[..., size])


def _correlation_from_parts(numerators, energy_a, energy_b):
    torch = import_torch()
    scale = torch.sqrt(energy_a * energy_b)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.where(scale > 0, numerators / safe, torch.zeros_like(numerators))


def _lagged(a, b, max_lag, method):
    """ρ(ℓ) of paired ``(..., T, C)`` tensors (broadcasting), channel-averaged."""
    a, b = _channels_first(a), _channels_first(b)
    T = a.shape[-1]
    if method == "auto":
        method = "fft" if T * (2 * max_lag + 1) > _FFT_ABOVE else "direct"
    numerators = (_numerators_fft if method == "fft" else _numerators_direct)(a, b, max_lag)
    rho = _correlation_from_parts(
        numerators,
        _overlap_energies(a, max_lag, leading=True),
        _overlap_energies(b, max_lag, leading=False),
    )
    return rho.mean(-2)


def _soft_maximum(rho, beta):
    torch = import_torch()
    if not _is_tensor(beta) and np.isinf(beta):
        return rho.max(-1).values
    return torch.logsumexp(beta * rho, -1) / beta


def _as_series_pair(a, b):
    torch = import_torch()
    numpy_in = not (_is_tensor(a) or _is_tensor(b))
    like = a if _is_tensor(a) else (b if _is_tensor(b) else None)
    a, b = _as_tensor(a, "a", like), _as_tensor(b, "b", like)
    a, b = (x.unsqueeze(-1) if x.ndim == 1 else x for x in (a, b))
    if a.ndim not in (2, 3) or a.shape != b.shape:
        raise ValueError(
            "a and b must have the same shape, (T,), (T, C) or (B, T, C); got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype), numpy_in


def _output(result, numpy_in):
    if not numpy_in:
        return result
    array = result.detach().cpu().numpy()
    return array[()] if array.ndim == 0 else array


def lagged_correlation(a, b, max_lag, *, method="auto"):
    """Normalised lagged correlation ``ρ_ab(ℓ)`` for ``ℓ = -max_lag, ..., max_lag``.

    Parameters
    ----------
    a, b : array-like or Tensor of shape (T,), (T, C) or (B, T, C)
        Two series (or two batches paired by position) of equal shape.
    max_lag : int
        Largest lag, ``0 <= max_lag < T``.
    method : {"auto", "direct", "fft"}, default="auto"
        How the lagged products are summed (same result).

    Returns
    -------
    rho : ndarray or Tensor of shape (2*max_lag + 1,) or (B, 2*max_lag + 1)
        ``rho[..., max_lag + ℓ]`` is the correlation at lag ℓ (b delayed by ℓ).

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.lag import lagged_correlation
    >>> a = np.sin(np.linspace(0, 6, 50))
    >>> rho = lagged_correlation(a, np.roll(a, 3), max_lag=5)
    >>> int(np.argmax(rho)) - 5
    3
    """
    a, b, numpy_in = _as_series_pair(a, b)
    max_lag = _check_max_lag(max_lag, a.shape[-2])
    return _output(_lagged(a, b, max_lag, _check_method(method)), numpy_in)


def soft_lag_correlation(a, b, max_lag, beta, *, method="auto"):
    """Soft maximum over lags of the lagged correlation, ``(1/β) log Σ_ℓ exp(β ρ(ℓ))``.

    Parameters
    ----------
    a, b : array-like or Tensor of shape (T,), (T, C) or (B, T, C)
        Two series (or two batches paired by position) of equal shape.
    max_lag : int
        Largest lag, ``0 <= max_lag < T``.
    beta : float or 0-d Tensor
        Temperature (> 0); ``np.inf`` gives the hard maximum. A tensor that
        requires grad receives its gradient.
    method : {"auto", "direct", "fft"}, default="auto"

    Returns
    -------
    value : float, ndarray of shape (B,), or Tensor

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.lag import soft_lag_correlation
    >>> a = np.sin(np.linspace(0, 6, 50))
    >>> round(float(soft_lag_correlation(a, np.roll(a, 3), max_lag=5, beta=np.inf)), 3)
    1.0
    """
    a, b, numpy_in = _as_series_pair(a, b)
    max_lag = _check_max_lag(max_lag, a.shape[-2])
    rho = _lagged(a, b, max_lag, _check_method(method))
    return _output(_soft_maximum(rho, _check_beta(beta)), numpy_in)


def soft_lag_correlation_pairwise(X, Y=None, *, max_lag, beta, method="auto"):
    """Soft-lag correlation between every series of ``X`` and every series of ``Y``.

    Parameters
    ----------
    X : array-like or Tensor of shape (B, T, C)
    Y : array-like or Tensor of shape (B', T, C), default=None
        ``None`` compares ``X`` with itself.
    max_lag : int
    beta : float or 0-d Tensor
    method : {"auto", "direct", "fft"}, default="auto"

    Returns
    -------
    matrix : ndarray or Tensor of shape (B, B')
        Entry ``(i, j)`` is ``soft_lag_correlation(X[i], Y[j], ...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.lag import soft_lag_correlation_pairwise
    >>> X = np.random.default_rng(0).normal(size=(3, 40, 2))
    >>> soft_lag_correlation_pairwise(X, max_lag=4, beta=20.0).shape
    (3, 3)
    """
    torch = import_torch()
    numpy_in = not (_is_tensor(X) or (Y is not None and _is_tensor(Y)))
    like = X if _is_tensor(X) else (Y if _is_tensor(Y) else None)
    Xt = _as_tensor(X, "X", like)
    Yt = Xt if Y is None else _as_tensor(Y, "Y", like)
    if Xt.ndim != 3 or Yt.ndim != 3 or Xt.shape[1:] != Yt.shape[1:]:
        raise ValueError(
            "X and Y must have shapes (B, T, C) and (B', T, C) with the same T and C; got "
            f"{tuple(Xt.shape)} and {tuple(Yt.shape)}."
        )
    dtype = torch.promote_types(Xt.dtype, Yt.dtype)
    max_lag = _check_max_lag(max_lag, Xt.shape[1])
    rho = _lagged(
        Xt.to(dtype).unsqueeze(1), Yt.to(dtype).unsqueeze(0), max_lag, _check_method(method)
    )
    return _output(_soft_maximum(rho, _check_beta(beta)), numpy_in)
