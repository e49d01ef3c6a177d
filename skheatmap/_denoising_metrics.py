"""Denoising metrics restricted to a frequency band (the emotion-relevant band).

The band-limited power of a signal is computed exactly from its discrete
Fourier transform (Parseval): ``mean_t x_band(t)²`` where ``x_band`` keeps the
Fourier coefficients whose frequency lies in ``[low, high]`` Hz. Each recording
is transformed over its own length, so NaN padding never enters.

Only trailing all-NaN frames are padding: a NaN inside a recording, an
infinity, or a recording with no frames is an error naming the recording and
the frame, never a NaN score.
"""

import numpy as np

from ._metric_inputs import check_fs, check_padded_recordings

__all__ = ["band_mse", "band_power", "band_snr"]


def _as_recordings(x, name):
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[:, :, np.newaxis]
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (n, T) or (n, T, K), got {x.shape}.")
    return x


def _check_band(band):
    low, high = band
    if not 0 <= low < high:
        raise ValueError(f"band must be (low, high) Hz with 0 <= low < high, got {band!r}.")
    return float(low), float(high)


def _power(x, lengths, fs, band):
    """Band power of checked recordings ``x`` of the given lengths (see :func:`band_power`)."""
    low, high = band
    power = np.zeros((x.shape[0], x.shape[2]))
    for i, length in enumerate(lengths):
        coefficients = np.fft.rfft(x[i, :length], axis=0)
        freqs = np.fft.rfftfreq(length, d=1.0 / fs)
        # one-sided spectrum: every bin but DC and Nyquist stands for two
        weight = np.where((freqs == 0) | ((length % 2 == 0) & (freqs == fs / 2)), 1.0, 2.0)
        weight = weight * ((freqs >= low) & (freqs <= high))
        power[i] = weight @ np.abs(coefficients) ** 2 / length**2
    return power


def _checked_pair(reference, estimate, fs, band):
    """Both signals as (n, T, K) with their common lengths, and the checked rate and band."""
    reference = _as_recordings(reference, "reference")
    estimate = _as_recordings(estimate, "estimate")
    if reference.shape != estimate.shape:
        raise ValueError(
            f"reference has shape {reference.shape} but estimate has {estimate.shape}."
        )
    fs, band = check_fs(fs), _check_band(band)
    lengths = check_padded_recordings(reference, "reference")
    estimate_lengths = check_padded_recordings(estimate, "estimate")
    if (lengths != estimate_lengths).any():
        i = np.flatnonzero(lengths != estimate_lengths)[0]
        raise ValueError(
            f"recording {i} has {lengths[i]} frames in reference but {estimate_lengths[i]} in "
            "estimate; pad both alike (trailing all-NaN frames)."
        )
    return reference, estimate, lengths, fs, band


def band_power(x, fs, band):
    """Mean power of each recording and channel inside a frequency band.

    Parameters
    ----------
    x : array-like of shape (n, T) or (n, T, K)
        Signals, NaN-padded at the end of the time axis (a frame whose
        channels are all NaN, and every frame after it, is padding).
    fs : float
        Sampling rate in Hz, finite and > 0.
    band : tuple of float
        ``(low, high)`` in Hz, inclusive.

    Returns
    -------
    power : ndarray of shape (n, K)

    Raises
    ------
    ValueError
        If a recording holds an infinity, a NaN before its padding, or no
        frames at all; the message names the recording and the frame.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import band_power
    >>> t = np.arange(400) / 100.0
    >>> x = np.sin(2 * np.pi * 5 * t) + 3 * np.sin(2 * np.pi * 20 * t)
    >>> band_power(x[np.newaxis], fs=100.0, band=(1, 10)).round(6)
    array([[0.5]])
    """
    x = _as_recordings(x, "x")
    fs, band = check_fs(fs), _check_band(band)
    return _power(x, check_padded_recordings(x, "x"), fs, band)


def band_mse(reference, estimate, fs, band):
    """Mean squared error inside a frequency band, per recording and channel.

    Parameters
    ----------
    reference, estimate : array-like of shape (n, T) or (n, T, K)
        The clean signal and its estimate, NaN-padded alike (checked as in
        :func:`band_power`).
    fs : float
        Sampling rate in Hz.
    band : tuple of float
        ``(low, high)`` in Hz, inclusive.

    Returns
    -------
    mse : ndarray of shape (n, K)

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import band_mse
    >>> t = np.arange(400) / 100.0
    >>> clean = np.sin(2 * np.pi * 5 * t)[np.newaxis]
    >>> noisy = clean + 0.5 * np.sin(2 * np.pi * 30 * t)  # noise outside the band
    >>> float(band_mse(clean, noisy, fs=100.0, band=(1, 10))[0, 0]) < 1e-20
    True
    """
    reference, estimate, lengths, fs, band = _checked_pair(reference, estimate, fs, band)
    return _power(estimate - reference, lengths, fs, band)


def band_snr(reference, estimate, fs, band):
    """Signal-to-noise ratio in dB inside a frequency band.

    ``10·log10(P_band(reference) / P_band(estimate − reference))``, per
    recording and channel.

    Parameters
    ----------
    reference, estimate : array-like of shape (n, T) or (n, T, K)
        The clean signal and its estimate, NaN-padded alike (checked as in
        :func:`band_power`).
    fs : float
        Sampling rate in Hz.
    band : tuple of float
        ``(low, high)`` in Hz, inclusive.

    Returns
    -------
    snr : ndarray of shape (n, K)
        In dB; ``+inf`` where the estimate is exact in the band (even when
        the reference has no power there) and ``-inf`` where the reference
        has no power in the band but the estimate has. Never NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import band_snr
    >>> t = np.arange(400) / 100.0
    >>> clean = np.sin(2 * np.pi * 5 * t)[np.newaxis]
    >>> band_snr(clean, 1.1 * clean, fs=100.0, band=(1, 10)).round(6)  # error 0.1·signal
    array([[20.]])
    """
    reference, estimate, lengths, fs, band = _checked_pair(reference, estimate, fs, band)
    signal = _power(reference, lengths, fs, band)
    noise = _power(estimate - reference, lengths, fs, band)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = 10.0 * np.log10(signal / noise)
    snr[noise == 0] = np.inf  # a perfect estimate, even of a signal with no power in the band
    return snr
