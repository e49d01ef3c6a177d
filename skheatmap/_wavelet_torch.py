"""Torch twin of :class:`~skheatmap.wavelet.WaveletBandReconstructor`.

Ω is linear for fixed settings, so the twin is built from PyWavelets itself:
each linear step (one DWT analysis level, one synthesis level, the SWT
boundary extension) is turned into a sparse matrix by pushing impulses through
the PyWavelets call, which makes the twin exact for every wavelet and every
extension mode, boundary rows included. The DWT twin then applies the
per-level sparse matrices (``O(T * filter_length)`` work per channel, like
PyWavelets). The SWT band operators are circulant, so the SWT twin extends the
series with a sparse matrix and filters it with FFTs of the band impulse
responses. Operators are built once per series length and cached.

This module imports torch at import time; :meth:`WaveletBandReconstructor.to_torch`
imports it lazily.
"""

import warnings

import numpy as np
import pywt
import torch
from scipy import sparse

from .wavelet import (
    band_names,
    check_lengths,
    probe_operator,
    swt_band_spectra,
    swt_extension_operator,
)

__all__ = ["WaveletBandModule"]


def dwt_operators(length, wavelet, mode, level):
    """Per-level analysis and synthesis matrices of ``wavedec``/``waverec``.

    Returns
    -------
    analysis : list of csr_matrix
        ``analysis[j]`` maps the level-``j`` approximation (the series for
        ``j = 0``) to the stacked ``[cA; cD]`` of level ``j + 1``.
    synthesis : list of csr_matrix
        ``synthesis[j]`` maps ``[cA; cD]`` of level ``j + 1`` back to the
        level-``j`` approximation, trimmed as :func:`pywt.waverec` trims it
        (to ``length`` for ``j = 0``).
    """
    filter_length = pywt.Wavelet(wavelet).dec_len
    margin = 2 * filter_length + 4
    lengths = [length]
    for _ in range(level):
        lengths.append(pywt.dwt_coeff_len(lengths[-1], filter_length, mode))
    analysis = [
        sparse.vstack(
            [_analysis_half(n_in, wavelet, mode, half, margin) for half in (0, 1)], format="csr"
        )
        for n_in in lengths[:-1]
    ]
    synthesis = [
        sparse.hstack(
            [_synthesis_half(n_c, n_out, wavelet, mode, half, margin) for half in (0, 1)],
            format="csr",
        )
        for n_out, n_c in zip(lengths[:-1], lengths[1:], strict=True)
    ]
    return analysis, synthesis


def _analysis_half(n_in, wavelet, mode, half, margin):
    """One level of ``pywt.dwt``: approximation (``half=0``) or detail (1)."""

    def apply(x):
        return pywt.dwt(x, wavelet, mode, axis=-1)[half]

    return probe_operator(apply, n_in, in_step=2, out_step=1, margin=margin)


def _synthesis_half(n_coeffs, n_out, wavelet, mode, half, margin):
    """One level of ``pywt.idwt`` from the approximation (``half=0``) or detail (1)."""

    def apply(c):
        pair = (c, None) if half == 0 else (None, c)
        return pywt.idwt(*pair, wavelet, mode, axis=-1)[:, :n_out]

    return probe_operator(apply, n_coeffs, in_step=1, out_step=2, margin=margin)


class _SparseMatmul(torch.autograd.Function):
    """``matrix @ dense`` with the transpose precomputed for the backward pass."""

    @staticmethod
    def forward(ctx, matrix, transpose, dense):
        ctx.transpose = transpose
        return matrix @ dense

    @staticmethod
    def backward(ctx, grad):
        return None, None, ctx.transpose @ grad


def _torch_csr(matrix, dtype, device):
    matrix = matrix.tocsr()
    with warnings.catch_warnings():
        # torch flags CSR support as beta on first use; the operations used here are stable.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data),
            matrix.shape,
            dtype=dtype,
            device=device,
            check_invariants=False,
        )


def _matmul_pair(matrix, dtype, device):
    return _torch_csr(matrix, dtype, device), _torch_csr(matrix.T, dtype, device)


def _lengths(x):
    """Recording lengths of NaN-padded ``(n, T, K)`` series (trailing all-NaN frames)."""
    frame = ~torch.isnan(x).all(dim=2)
    last = x.shape[1] - torch.argmax(frame.flip(1).to(torch.uint8), dim=1)
    return torch.where(frame.any(dim=1), last, torch.zeros_like(last))


class WaveletBandModule(torch.nn.Module):
    """Differentiable wavelet band reconstruction, equal to the estimator's transform.

    Parameters
    ----------
    wavelet, mode : str
        PyWavelets wavelet and extension mode.
    level : int
        Decomposition level.
    method : {"dwt", "swt"}
        Decimated or stationary transform.
    gains : array-like of shape (level + 1,)
        Initial gain of each band, coarse to fine (``["a", "dN", ..., "d1"]``).

    Attributes
    ----------
    gains : torch.nn.Parameter of shape (level + 1,)
        Trainable band gains (float64 unless the module is cast).
    """

    def __init__(self, wavelet, level, mode, method, gains):
        super().__init__()
        self.wavelet = wavelet
        self.level = int(level)
        self.mode = mode
        self.method = method
        # a copy: training the twin must not change the estimator's gains_ behind its back
        self.gains = torch.nn.Parameter(torch.tensor(np.asarray(gains, dtype=np.float64)))
        self._operators = {}

    @property
    def config(self):
        """``(wavelet, level, mode, method)``, the settings the module computes."""
        return (self.wavelet, self.level, self.mode, self.method)

    def extra_repr(self):
        names = band_names(self.level)
        return (
            f"wavelet={self.wavelet!r}, level={self.level}, mode={self.mode!r}, "
            f"method={self.method!r}, bands={names}"
        )

    def forward(self, x):
        """Reconstruct ``x`` of shape (n, T, K) or (n, K) from its weighted bands."""
        series = x.unsqueeze(1) if x.ndim == 2 else x
        if series.ndim != 3:
            raise ValueError(
                f"expected (n, T, K) series or (n, K) frames, got a tensor of shape "
                f"{tuple(x.shape)}."
            )
        if not torch.isnan(series).any():
            out = self._reconstruct(series)
        else:
            lengths = _lengths(series).cpu().numpy()
            out = torch.full_like(series, float("nan"))
            for length in np.unique(lengths[lengths > 0]):
                rows = torch.from_numpy(np.flatnonzero(lengths == length)).to(series.device)
                out[rows, :length] = self._reconstruct(series[rows, :length])
        return out[:, 0] if x.ndim == 2 else out

    def _reconstruct(self, series):
        """Band reconstruction of equal-length series (n, L, K)."""
        n, length, k = series.shape
        gains = self.gains.to(series.dtype)
        if self.level == 0:
            return series * gains[0]
        check_lengths(np.array([length]), self.level, self.wavelet)
        columns = series.permute(1, 0, 2).reshape(length, n * k)
        operators = self._operators_for(length, series.dtype, series.device)
        if self.method == "dwt":
            columns = self._dwt(columns, gains, *operators)
        else:
            columns = self._swt(columns, gains, *operators)
        return columns.reshape(length, n, k).permute(1, 0, 2)

    def _dwt(self, columns, gains, analysis, synthesis):
        details = []
        for matrices in analysis:
            coeffs = _SparseMatmul.apply(*matrices, columns)
            half = coeffs.shape[0] // 2
            details.append(coeffs[half:])
            columns = coeffs[:half]
        columns = columns * gains[0]
        for j in range(self.level - 1, -1, -1):
            # band "d{j+1}" sits at index level - j of band_names
            stacked = torch.cat([columns, details[j] * gains[self.level - j]])
            columns = _SparseMatmul.apply(*synthesis[j], stacked)
        return columns

    def _swt(self, columns, gains, extension, spectra, before):
        length = columns.shape[0]
        extended = _SparseMatmul.apply(*extension, columns)
        response = (gains.to(spectra.dtype)[:, None] * spectra).sum(dim=0)
        filtered = torch.fft.irfft(
            torch.fft.rfft(extended, dim=0) * response[:, None], n=extended.shape[0], dim=0
        )
        return filtered[before : before + length]

    def _operators_for(self, length, dtype, device):
        key = (length, dtype, str(device))
        if key not in self._operators:
            self._operators[key] = self._build(length, dtype, device)
        return self._operators[key]

    def _build(self, length, dtype, device):
        if self.method == "dwt":
            analysis, synthesis = dwt_operators(length, self.wavelet, self.mode, self.level)
            return (
                [_matmul_pair(m, dtype, device) for m in analysis],
                [_matmul_pair(m, dtype, device) for m in synthesis],
            )
        extension, before = swt_extension_operator(length, self.wavelet, self.mode, self.level)
        spectra = swt_band_spectra(extension.shape[0], self.wavelet, self.level)
        complex_dtype = (torch.ones(1, dtype=dtype) * 1j).dtype
        spectra = torch.as_tensor(spectra, dtype=complex_dtype, device=device)
        return _matmul_pair(extension, dtype, device), spectra, before

    def __getstate__(self):
        # Operators are a cache rebuilt on demand; sparse tensors need not be pickled.
        state = self.__dict__.copy()
        state["_operators"] = {}
        return state
