"""Wavelet band reconstruction of channel series (the operator Ω).

Each channel of each recording is decomposed with a 1-D discrete wavelet
transform along time, the chosen sub-bands are kept (optionally weighted by
continuous gains) and the series is synthesised back at its own length. For
fixed settings Ω is linear, so its torch twin (:meth:`to_torch`) is an exact,
differentiable copy of :meth:`WaveletBandReconstructor.transform`.

Bands are named ``"a"`` (the approximation at the coarsest level) and
``"d1"`` ... ``"dN"`` (details, ``"d1"`` the finest). At sampling rate ``fs``
the nominal pass-band of ``"dj"`` is ``[fs / 2**(j+1), fs / 2**j]`` Hz and the
one of ``"a"`` is ``[0, fs / 2**(N+1)]`` Hz.
"""

import difflib
import functools
import numbers
import re

import numpy as np
import pywt
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._validation import as_series, lengths_of, restore_ndim, validate_recordings

__all__ = ["WaveletBandReconstructor"]

_METHODS = ("dwt", "swt")


def band_names(level):
    """Names of the sub-bands of a ``level``-level decomposition, coarse to fine.

    The order is PyWavelets' coefficient order: ``["a", "dN", ..., "d1"]``.

    Examples
    --------
    >>> from skheatmap.wavelet import band_names
    >>> band_names(3)
    ['a', 'd3', 'd2', 'd1']
    """
    return ["a", *(f"d{j}" for j in range(level, 0, -1))]


def nominal_passbands(level, fs=1.0):
    """Nominal pass-band ``[low, high]`` of each band of :func:`band_names`.

    Parameters
    ----------
    level : int
        Decomposition level ``N``.
    fs : float, default=1.0
        Sampling rate; with the default the edges are in cycles per sample.

    Returns
    -------
    edges : ndarray of shape (level + 1, 2)
        Row ``b`` is the pass-band of ``band_names(level)[b]``: dyadic octaves
        ``[fs / 2**(j+1), fs / 2**j]`` for detail ``j`` and
        ``[0, fs / 2**(N+1)]`` for the approximation.

    Examples
    --------
    >>> from skheatmap.wavelet import nominal_passbands
    >>> nominal_passbands(2, fs=8.0)
    array([[0., 1.],
           [1., 2.],
           [2., 4.]])
    """
    highs = fs / 2.0 ** np.arange(level + 1, 0, -1)
    lows = np.concatenate([[0.0], highs[:-1]])
    return np.column_stack([lows, highs])


def min_length(level, filter_length):
    """Shortest series for which ``level`` is a useful decomposition level.

    This is PyWavelets' criterion (:func:`pywt.dwt_max_level`): the coarsest
    filter must still fit in the series, ``T >= (filter_length - 1) * 2**level``.

    Examples
    --------
    >>> import pywt
    >>> from skheatmap.wavelet import min_length
    >>> n = min_length(4, pywt.Wavelet("db4").dec_len)
    >>> n, pywt.dwt_max_level(n, 8), pywt.dwt_max_level(n - 1, 8)
    (112, 4, 3)
    """
    if level == 0:
        return 1
    return (filter_length - 1) * 2**level


def check_lengths(lengths, level, wavelet):
    """Raise a ValueError naming the first recording too short for ``level``.

    Recordings of length 0 (all padding) are left alone.
    """
    needed = min_length(level, pywt.Wavelet(wavelet).dec_len)
    short = (lengths > 0) & (lengths < needed)
    if short.any():
        i = int(np.flatnonzero(short)[0])
        raise ValueError(
            f"Recording {i} has {lengths[i]} frames, too short for level={level} with wavelet "
            f"{wavelet!r} (needs >= {needed} frames); lower `level`, use level=None, or pick "
            "a wavelet with a shorter filter."
        )


def swt_extension(length, level, filter_length, mode):
    """Samples added before and after a series before its stationary transform.

    PyWavelets' SWT is circular and needs a length divisible by ``2**level``.
    With ``mode="periodization"`` the series is treated as one period, completed
    periodically up to the next multiple of ``2**level``. Any other mode extends
    both ends by the reach of the coarsest filter, ``(2**level - 1) *
    (filter_length - 1)`` samples (so boundaries behave as in the DWT with that
    mode rather than wrapping around), plus what the length still lacks at the end.

    Returns
    -------
    before, after : int

    Examples
    --------
    >>> from skheatmap.wavelet import swt_extension
    >>> swt_extension(10, 2, 4, "symmetric")
    (9, 9)
    >>> swt_extension(10, 2, 4, "periodization")
    (0, 2)
    """
    block = 2**level
    if mode == "periodization":
        return 0, (-length) % block
    reach = (block - 1) * (filter_length - 1)
    return reach, reach + (-(length + 2 * reach)) % block


def swt_pad_mode(mode):
    """The :func:`pywt.pad` mode that :func:`swt_extension`'s samples follow."""
    return "periodic" if mode == "periodization" else mode


# pywt.pad's "smooth" and "antisymmetric" modes fail on 2-D arrays padded along
# one axis only (PyWavelets 1.8), so those pad one series at a time.
_ROW_BY_ROW_PAD_MODES = ("smooth", "antisymmetric")


@functools.lru_cache(maxsize=64)
def swt_extension_operator(length, wavelet, mode, level):
    """Sparse matrix extending a series as :func:`swt_extension` says.

    Built once per setting by probing :func:`pywt.pad`; shared by
    :func:`reconstruct_bands` and the torch twin.

    Returns
    -------
    extension : scipy.sparse.csr_matrix of shape (padded, length)
    before : int
        Samples added before the series.
    """
    before, after = swt_extension(length, level, pywt.Wavelet(wavelet).dec_len, mode)

    def pad_rows(x):
        if mode in _ROW_BY_ROW_PAD_MODES:
            return np.stack([pywt.pad(row, (before, after), mode) for row in x])
        return pywt.pad(x, ((0, 0), (before, after)), swt_pad_mode(mode))

    return probe_operator(pad_rows, length, margin=max(before, after) + 1), before


@functools.lru_cache(maxsize=64)
def swt_band_spectra(length, wavelet, level):
    """Frequency response of each band's SWT reconstruction on series of ``length``.

    PyWavelets' SWT and inverse SWT are circular and shift-invariant, so keeping
    one band is a circulant operator: a filter whose impulse response is the
    reconstruction of that band of an impulse.

    Returns
    -------
    spectra : ndarray of complex, shape (level + 1, length // 2 + 1)
        ``np.fft.rfft`` of the band impulse responses, in :func:`band_names` order.
    """
    impulse = np.zeros(length)
    impulse[0] = 1.0
    coeffs = pywt.swt(impulse, wavelet, level=level, trim_approx=True)
    responses = [
        pywt.iswt([c if i == b else np.zeros_like(c) for i, c in enumerate(coeffs)], wavelet)
        for b in range(level + 1)
    ]
    return np.fft.rfft(responses, axis=1)


# Impulses probed per PyWavelets call when a matrix is probed column by column.
_PROBE_CHUNK = 256


def probe_operator(apply, n_in, *, in_step=1, out_step=1, margin=0):
    """Sparse matrix of the linear map ``apply`` on vectors of length ``n_in``.

    ``apply`` maps a batch of row vectors ``(k, n_in)`` to ``(k, n_out)``. When
    the map is shift-invariant away from the ends (shifting the input by
    ``in_step`` shifts the output by ``out_step`` for columns at least
    ``margin`` from either end, as a filter bank is), only the end columns and
    one period of interior columns are probed and the rest is filled in by
    shifting; the result is checked against ``apply`` on random vectors and
    every column is probed instead if it does not match.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix of shape (n_out, n_in)

    Examples
    --------
    >>> import numpy as np, pywt
    >>> from skheatmap.wavelet import probe_operator
    >>> lowpass = probe_operator(lambda x: pywt.dwt(x, "db2", "smooth")[0], 40,
    ...                          in_step=2, out_step=1, margin=8)
    >>> x = np.random.default_rng(0).normal(size=40)
    >>> bool(np.allclose(lowpass @ x, pywt.dwt(x, "db2", "smooth")[0]))
    True
    """
    if n_in > 2 * margin + in_step:
        matrix = _shifted_probes(apply, n_in, in_step, out_step, margin)
        if matrix is not None and _reproduces(apply, matrix):
            return matrix
    return _all_probes(apply, n_in)


def _impulses(columns, n_in):
    impulses = np.zeros((len(columns), n_in))
    impulses[np.arange(len(columns)), columns] = 1.0
    return impulses


def _all_probes(apply, n_in):
    blocks = []
    for start in range(0, n_in, _PROBE_CHUNK):
        columns = np.arange(start, min(start + _PROBE_CHUNK, n_in))
        blocks.append(sparse.csr_matrix(apply(_impulses(columns, n_in)).T))
    return sparse.hstack(blocks, format="csr")


def _shifted_probes(apply, n_in, in_step, out_step, margin):
    ends = np.r_[0:margin, n_in - margin : n_in]
    period = margin + np.arange(in_step)
    responses = apply(_impulses(np.r_[ends, period], n_in))
    n_out = responses.shape[1]
    probe, rows = np.nonzero(responses[: len(ends)])
    parts = [(rows, ends[probe], responses[probe, rows])]
    for t, response in enumerate(responses[len(ends) :]):
        nonzero = np.flatnonzero(response)
        columns = np.arange(margin + t, n_in - margin, in_step)
        shifted = nonzero + (np.arange(len(columns)) * out_step)[:, np.newaxis]
        if shifted.size and (shifted.max() >= n_out):
            return None
        values = np.tile(response[nonzero], len(columns))
        parts.append((shifted.ravel(), np.repeat(columns, len(nonzero)), values))
    rows, columns, values = (np.concatenate(p) for p in zip(*parts, strict=True))
    return sparse.csr_matrix((values, (rows, columns)), shape=(n_out, n_in))


def _reproduces(apply, matrix):
    probes = np.random.default_rng(0).normal(size=(2, matrix.shape[1]))
    expected = apply(probes)
    return expected.shape[1] == matrix.shape[0] and np.allclose(
        (matrix @ probes.T).T, expected, rtol=1e-12, atol=1e-12
    )


def reconstruct_bands(x, gains, *, wavelet, level, mode, method):
    """Band-weighted wavelet reconstruction of equal-length series along axis 1.

    Parameters
    ----------
    x : ndarray of shape (n, T, K)
        Finite series, all of length ``T``.
    gains : sequence of float of length ``level + 1``
        Weight of each band, in :func:`band_names` order; 1 keeps a band, 0
        removes it.
    wavelet, mode : str
        PyWavelets names.
    level : int
        Decomposition level; 0 means the only band is the series itself.
    method : {"dwt", "swt"}
        Decimated or stationary (undecimated) transform.

    Returns
    -------
    y : ndarray of shape (n, T, K), the dtype of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.wavelet import reconstruct_bands
    >>> x = np.random.default_rng(0).normal(size=(2, 33, 3))
    >>> y = reconstruct_bands(x, [1, 1, 1], wavelet="db2", level=2, mode="smooth", method="dwt")
    >>> bool(np.allclose(x, y, atol=1e-12))
    True
    """
    length = x.shape[1]
    if level == 0:
        return x * x.dtype.type(gains[0])
    if method == "dwt":
        coeffs = pywt.wavedec(x, wavelet, mode=mode, level=level, axis=1)
        _apply_gains(coeffs, gains)
        return pywt.waverec(coeffs, wavelet, mode=mode, axis=1)[:, :length]
    # The SWT band operators are circulant on the extended series: one FFT filter
    # equals pywt.iswt of the weighted pywt.swt coefficients, without the per-shift loops.
    extension, before = swt_extension_operator(length, wavelet, mode, level)
    extended = extension @ x.transpose(1, 0, 2).reshape(length, -1)
    response = np.asarray(gains, dtype=np.float64) @ swt_band_spectra(
        extension.shape[0], wavelet, level
    )
    filtered = np.fft.irfft(
        np.fft.rfft(extended, axis=0) * response[:, np.newaxis], n=extended.shape[0], axis=0
    )
    columns = filtered[before : before + length]
    return columns.reshape(length, x.shape[0], x.shape[2]).transpose(1, 0, 2).astype(x.dtype)


def _apply_gains(coeffs, gains):
    """Scale each coefficient array in place by its band's gain."""
    for c, g in zip(coeffs, gains, strict=True):
        if g != 1:
            c *= g


class WaveletBandReconstructor(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Per-channel wavelet decomposition, sub-band selection and reconstruction (Ω).

    Every channel of every recording is decomposed along time with a discrete
    wavelet transform, the sub-bands named by ``keep`` are kept (scaled by
    ``band_gains``) and the others are zeroed, and the series is synthesised
    back at exactly its input length. All recordings and channels of one length
    are processed at once: for ``method="dwt"`` by one ``pywt.wavedec`` and one
    ``pywt.waverec`` along the time axis; for ``method="swt"`` by the exact
    filter that ``pywt.swt`` followed by ``pywt.iswt`` defines (circulant on
    the extended series, so applied by FFT, which avoids ``pywt.iswt``'s Python
    loop over shifts). NaN-padded recordings of different lengths are each
    reconstructed over their own length and their padding stays NaN.

    Keeping every band reconstructs the input (perfect reconstruction, to
    rounding; ``"dmey"`` only approximately, as its PyWavelets filters are a
    truncated approximation of the Meyer wavelet).
    Keeping a subset is a projection for orthogonal wavelets with
    ``mode="periodization"`` and ``method="dwt"``; for other settings it is the
    band-limited approximation from the retained coefficients.

    Parameters
    ----------
    wavelet : str, default="db4"
        Any discrete wavelet PyWavelets knows (``pywt.wavelist(kind="discrete")``):
        ``"haar"``, ``"db1"``... ``"db38"``, ``"sym2"``..., ``"coif1"``...,
        ``"bior1.1"``..., ``"rbio1.1"``..., ``"dmey"``.
    level : int or None, default=None
        Number of decomposition levels ``N``. None picks, in :meth:`fit`, the
        maximum useful level for the shortest fitted recording as
        :func:`pywt.dwt_max_level` computes it (0 for recordings of length 1,
        whose only band is the series itself). Every recording must have at
        least ``(filter_length - 1) * 2**N`` frames (see ``min_length_``).
    mode : str, default="symmetric"
        Signal extension mode, any of ``pywt.Modes.modes``. For
        ``method="swt"`` it is the extension applied before the (circular)
        stationary transform; see :func:`swt_extension`.
    keep : "all", str, list of str or (low, high) pair of float, default="all"
        The bands to keep: ``"all"``; a band name (``"a"`` for the
        approximation, ``"d1"`` ... ``"dN"`` for the details, finest first); a
        list of names; or a frequency range in Hz, which keeps the bands whose
        nominal pass-band overlaps ``(low, high)`` and needs ``fs``
        (``high`` may be ``np.inf``). The chosen bands are stored in ``bands_``.
    fs : float or None, default=None
        Sampling rate in Hz, needed when ``keep`` is a frequency range; it also
        sets the unit of ``band_frequencies_``.
    band_gains : dict of str to float or None, default=None
        Continuous weight of kept bands, ``{band name: gain}``; unnamed kept bands
        have gain 1. This is the relaxed form of selection that the torch twin
        trains end to end. Naming a band that ``keep`` removes is an error.
    method : {"dwt", "swt"}, default="dwt"
        ``"dwt"``: decimated transform (the seeds' operator). ``"swt"``:
        stationary (undecimated) transform, shift-invariant, better at
        localising transients. (Not called ``transform``, which would hide the
        method of that name.)

    Attributes
    ----------
    level_ : int
        The decomposition level used.
    band_names_ : list of str
        All bands at ``level_``, coarse to fine: ``["a", "dN", ..., "d1"]``.
    bands_ : list of str
        The bands kept (non-zero gain), in ``band_names_`` order.
    gains_ : ndarray of shape (``level_ + 1``,)
        Effective gain of each band of ``band_names_`` (0 for removed bands).
    band_frequencies_ : ndarray of shape (``level_ + 1``, 2)
        Nominal pass-band of each band of ``band_names_``, in Hz when ``fs`` is
        given, else in cycles per sample.
    min_length_ : int
        The shortest recording :meth:`transform` accepts.
    n_features_in_ : int
        Number of channels ``K``.

    See Also
    --------
    pywt.wavedec, pywt.waverec, pywt.swt, pywt.iswt : the transforms used.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.wavelet import WaveletBandReconstructor
    >>> t = np.arange(256) / 8.0
    >>> slow, fast = np.sin(2 * np.pi * 0.05 * t), np.sin(2 * np.pi * 3.0 * t)
    >>> X = np.stack([slow + fast, fast], axis=-1)[np.newaxis]  # (1, 256, 2)
    >>> omega = WaveletBandReconstructor("sym8", level=4, keep=(2.0, 4.0), fs=8.0).fit(X)
    >>> omega.bands_
    ['d1']
    >>> omega.band_frequencies_[-1]
    array([2., 4.])
    >>> Y = omega.transform(X)
    >>> Y.shape
    (1, 256, 2)
    >>> bool(np.abs(Y[0, 20:-20, 0] - fast[20:-20]).max() < 0.1)
    True
    """

    _parameter_constraints: dict = {
        "wavelet": [str],
        "level": [Interval(numbers.Integral, 0, None, closed="left"), None],
        "mode": [StrOptions(set(pywt.Modes.modes))],
        "keep": [str, list, tuple],
        "fs": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "band_gains": [dict, None],
        "method": [StrOptions(set(_METHODS))],
    }

    def __init__(
        self,
        wavelet="db4",
        level=None,
        mode="symmetric",
        keep="all",
        fs=None,
        band_gains=None,
        method="dwt",
    ):
        self.wavelet = wavelet
        self.level = level
        self.mode = mode
        self.keep = keep
        self.fs = fs
        self.band_gains = band_gains
        self.method = method

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Resolve the level and the kept bands.

        Parameters
        ----------
        X : array-like of shape (n, T, K) or (n, K)
            Channel series, possibly NaN-padded at the end; 2-D input is ``n``
            recordings of length 1.
        y : None
            Ignored.

        Returns
        -------
        self : WaveletBandReconstructor
        """
        _check_wavelet(self.wavelet)
        X = _validated(self, X, reset=True)
        filter_length = pywt.Wavelet(self.wavelet).dec_len
        series = as_series(X)
        lengths = _recording_lengths(series)
        shortest = int(lengths[lengths > 0].min()) if (lengths > 0).any() else 1
        if self.level is None:
            self.level_ = pywt.dwt_max_level(shortest, filter_length)
        else:
            self.level_ = int(self.level)
        self.min_length_ = min_length(self.level_, filter_length)
        _check_recordings(series, lengths, self.level_, self.wavelet)
        self.band_names_ = band_names(self.level_)
        self.band_frequencies_ = nominal_passbands(
            self.level_, 1.0 if self.fs is None else float(self.fs)
        )
        self.gains_ = self._gains(self._kept_bands(shortest), shortest)
        self.bands_ = [b for b, g in zip(self.band_names_, self.gains_, strict=True) if g != 0]
        return self

    def transform(self, X):
        """Reconstruct every channel from its kept wavelet bands.

        Parameters
        ----------
        X : array-like of shape (n, T, K) or (n, K)
            Channel series, possibly NaN-padded at the end.

        Returns
        -------
        Y : ndarray of the shape and dtype of ``X``
            The band reconstruction; padding frames stay NaN.
        """
        check_is_fitted(self)
        X = _validated(self, X, reset=False)
        series = as_series(X)
        lengths = _recording_lengths(series)
        _check_recordings(series, lengths, self.level_, self.wavelet)
        settings = dict(wavelet=self.wavelet, level=self.level_, mode=self.mode, method=self.method)
        if (lengths == series.shape[1]).all():
            out = reconstruct_bands(series, self.gains_, **settings)
        else:
            out = np.full_like(series, np.nan)
            for length in np.unique(lengths[lengths > 0]):
                rows = np.flatnonzero(lengths == length)
                out[rows, :length] = reconstruct_bands(
                    series[rows, :length], self.gains_, **settings
                )
        return restore_ndim(out, X)

    def to_torch(self, device="cpu"):
        """Differentiable torch twin of :meth:`transform`.

        Parameters
        ----------
        device : str or torch.device, default="cpu"
            Where the module's band gains live; inputs may be on any device the
            gains are moved to.

        Returns
        -------
        module : torch.nn.Module
            ``module(x)`` equals ``transform(x)`` for ``x`` of shape (n, T, K) or
            (n, K) (NaN-padded recordings included); its parameter ``gains``
            (shape ``(level_ + 1,)``, float64, one per band of ``band_names_``)
            is differentiable, as is the input. Removed bands have gain 0 and can
            be trained back in.

        Notes
        -----
        Ω is linear, so the twin applies exact sparse matrices probed from
        PyWavelets (one per DWT level; for the SWT, the boundary extension and
        an FFT filter per band): every wavelet and extension mode matches
        :meth:`transform` to rounding, at about the cost of PyWavelets itself.
        The matrices are built on the first call for each series length (about
        0.1 s for ``T = 4096``) and cached. Like :meth:`transform` it raises for
        recordings shorter than ``min_length_``; unlike it, it does not look
        for NaN inside recordings (they propagate).

        Examples
        --------
        >>> import numpy as np, torch
        >>> from skheatmap.wavelet import WaveletBandReconstructor
        >>> X = np.random.default_rng(0).normal(size=(3, 64, 2))
        >>> omega = WaveletBandReconstructor("db2", level=3, keep=["d2", "d3"]).fit(X)
        >>> twin = omega.to_torch()
        >>> y = twin(torch.from_numpy(X))
        >>> bool(np.allclose(y.detach().numpy(), omega.transform(X), atol=1e-10))
        True
        >>> y.pow(2).sum().backward()
        >>> twin.gains.grad.shape
        torch.Size([4])
        """
        check_is_fitted(self)
        from ._wavelet_torch import WaveletBandModule

        return WaveletBandModule(
            wavelet=self.wavelet,
            level=self.level_,
            mode=self.mode,
            method=self.method,
            gains=self.gains_,
        ).to(device)

    def from_torch(self, module):
        """Write a (trained) twin's band gains back into this estimator.

        Parameters
        ----------
        module : WaveletBandModule
            A module made by :meth:`to_torch` of an estimator with the same
            wavelet, level, mode and method.

        Returns
        -------
        self : WaveletBandReconstructor
            With ``gains_`` and ``bands_`` taken from ``module.gains``.
        """
        check_is_fitted(self)
        config = (self.wavelet, self.level_, self.mode, self.method)
        if module.config != config:
            raise ValueError(
                f"The module computes (wavelet, level, mode, method)={module.config} but this "
                f"estimator computes {config}; pass a module made by this estimator's to_torch()."
            )
        self.gains_ = module.gains.detach().cpu().numpy().astype(np.float64)
        self.bands_ = [b for b, g in zip(self.band_names_, self.gains_, strict=True) if g != 0]
        return self

    def _kept_bands(self, shortest):
        """The names of the bands ``keep`` selects, validated against ``level_``.

        ``shortest`` is the length of the shortest fitted recording, for the
        error message when ``level=None`` resolved too few levels.
        """
        keep = self.keep
        if isinstance(keep, str):
            return list(self.band_names_) if keep == "all" else self._known_bands([keep], shortest)
        if len(keep) == 0:
            raise ValueError(
                f"keep is empty; name at least one band among {self.band_names_}, or use 'all'."
            )
        if all(isinstance(b, str) for b in keep):
            return self._known_bands(keep, shortest)
        if len(keep) == 2 and all(
            isinstance(f, numbers.Real) and not isinstance(f, bool) for f in keep
        ):
            return self._bands_in_range(*keep)
        raise TypeError(
            f"keep={keep!r} is neither a list of band names nor a (low, high) pair of "
            "frequencies in Hz."
        )

    def _known_bands(self, names, shortest, parameter="keep"):
        unknown = [b for b in names if b not in self.band_names_]
        if unknown:
            raise ValueError(
                f"{parameter} names band(s) {unknown} that do not exist at level={self.level_}; "
                f'the bands are {self.band_names_} ("a" the approximation, "d1" the finest '
                f"detail). {self._deeper_level_hint(unknown, shortest)}"
            )
        return list(names)

    def _deeper_level_hint(self, unknown, shortest):
        """How to reach the detail bands ``unknown``, which lie below ``level_``."""
        depths = [int(b[1:]) for b in unknown if re.fullmatch(r"d[1-9][0-9]*", b)]
        if len(depths) < len(unknown):
            return "Choose among these."
        needed = max(depths)
        filter_length = pywt.Wavelet(self.wavelet).dec_len
        frames = min_length(needed, filter_length)
        if self.level is not None:
            return (
                f"Raise `level` to {needed} (recordings of >= {frames} frames with wavelet "
                f"{self.wavelet!r}) or choose among these."
            )
        shorter = (
            f"pick a wavelet with a shorter filter ('haar' needs {min_length(needed, 2)} frames), "
            if filter_length > 2
            else ""
        )
        return (
            f"level=None resolved the level from the shortest fitted recording, which has "
            f"{shortest} frames; wavelet {self.wavelet!r} needs >= {frames} frames for "
            f"level {needed}. Fit on longer recordings, {shorter}or choose among these bands."
        )

    def _bands_in_range(self, low, high):
        if self.fs is None:
            raise ValueError(
                f"keep=({low}, {high}) is a frequency range in Hz, which needs the sampling "
                "rate; set fs (in Hz) or name the bands to keep."
            )
        if not 0 <= low < high:
            raise ValueError(
                f"keep=({low}, {high}) is not a frequency range; expected 0 <= low < high (Hz)."
            )
        edges = self.band_frequencies_
        overlaps = (edges[:, 0] < high) & (edges[:, 1] > low)
        if not overlaps.any():
            raise ValueError(
                f"keep=({low}, {high}) Hz overlaps no band: at level={self.level_} and "
                f"fs={self.fs} the bands cover [0, {self.fs / 2}] Hz."
            )
        return [b for b, hit in zip(self.band_names_, overlaps, strict=True) if hit]

    def _gains(self, kept, shortest):
        gains = np.array([1.0 if b in kept else 0.0 for b in self.band_names_])
        for name, gain in (self.band_gains or {}).items():
            self._known_bands([name], shortest, parameter="band_gains")
            if name not in kept:
                raise ValueError(
                    f"band_gains gives a gain to band {name!r}, which keep={self.keep!r} removes; "
                    f"give gains only to kept bands {kept}."
                )
            if not isinstance(gain, numbers.Real) or not np.isfinite(gain):
                raise ValueError(f"band_gains[{name!r}]={gain!r} is not a finite real number.")
            gains[self.band_names_.index(name)] = float(gain)
        return gains

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _check_wavelet(name):
    """Raise a ValueError listing PyWavelets' discrete wavelets if ``name`` is not one."""
    known = pywt.wavelist(kind="discrete")
    if name in known:
        return
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown wavelet {name!r}.{hint} The discrete wavelets of PyWavelets are: "
        f"{_describe_wavelets()}. (Continuous wavelets such as 'morl' have no DWT.)"
    )


def _describe_wavelets():
    """Every discrete wavelet name, numbered families written as ranges (db1...db38)."""
    discrete = set(pywt.wavelist(kind="discrete"))
    groups = []
    for family in pywt.families(short=True):
        names = [n for n in pywt.wavelist(family) if n in discrete]
        if not names:
            continue
        orders = [n[len(family) :] for n in names]
        if len(names) > 2 and all(o.isdigit() for o in orders):
            numbers_ = sorted(map(int, orders))
            if numbers_ == list(range(numbers_[0], numbers_[-1] + 1)):
                groups.append(f"{family}{numbers_[0]}...{family}{numbers_[-1]}")
                continue
        groups.extend(names)
    return ", ".join(groups)


def _validated(estimator, X, reset):
    """:func:`validate_recordings` for channel series, (n, T, K) or (n, K)."""
    return validate_recordings(estimator, X, reset=reset, allowed_ndim=(2, 3))


def _recording_lengths(series):
    """Length of each recording of ``(n, T, K)`` series (trailing all-NaN frames excluded)."""
    if not np.isnan(series).any():
        return np.full(series.shape[0], series.shape[1], dtype=np.intp)
    return lengths_of(series)


def _check_recordings(series, lengths, level, wavelet):
    """Every recording is long enough for ``level`` and, if it is transformed, NaN-free.

    At level 0 the only band is the series itself, so a NaN stays where it is;
    at higher levels the filters would spread it over its neighbours.
    """
    check_lengths(lengths, level, wavelet)
    if level == 0:
        return
    inside = np.isnan(series).any(axis=2) & (np.arange(series.shape[1]) < lengths[:, np.newaxis])
    if inside.any():
        i, t = np.argwhere(inside)[0]
        raise ValueError(
            f"Recording {i} has NaN at frame {t}, inside the recording (only trailing all-NaN "
            f"frames are padding); a level-{level} wavelet transform would spread it over its "
            "neighbours. Impute or interpolate missing values first."
        )
