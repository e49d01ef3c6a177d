"""Time WaveletBandReconstructor.transform and its torch twin against PyWavelets.

For each shape ``(n, T, K)`` the script times, in one process:

- ``loop``: a plain per-channel ``pywt.wavedec``/``waverec`` loop with band gains;
- ``floor``: one ``pywt.wavedec`` + ``pywt.waverec`` pass over the whole array along
  the time axis (no band selection at all), the target's reference;
- ``transform``: ``WaveletBandReconstructor.transform`` (target: within 1.5x the floor);
- ``twin``: the torch twin's forward pass (target: within 3x the floor on CPU), with and
  without a backward pass, and its one-off operator build for a new length;
- ``swt transform`` (``method="swt"``, FFT filtering of the extended series) next to one
  ``pywt.swt`` + ``pywt.iswt`` pass along the time axis, whose Python loop over the
  ``2**level`` shifts is what the FFT form avoids;
- the twin designs it was chosen over: a ptwt conv filter bank (``pip install --no-deps
  ptwt``; it supports only some extension modes and so cannot be the twin) and a dense
  ``T x T`` operator per band (only where it fits in memory).

Timings are the best of ``--repeat`` runs. PyWavelets is single-threaded, so torch is
limited to ``--threads`` threads (default 1) for a like-for-like comparison.

Run: ``python benchmarks/bench_wavelet.py [--repeat 5] [--threads 1]``
"""

import argparse
import time

import numpy as np
import pywt
import torch
from sklearn.base import clone

from skheatmap.wavelet import WaveletBandReconstructor, reconstruct_bands, swt_extension

SHAPES = [(64, 4096, 16), (1024, 256, 8)]
WAVELET, MODE = "db4", "symmetric"


def best_time(func, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def per_channel_loop(X, level, gains):
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        for k in range(X.shape[2]):
            coeffs = pywt.wavedec(X[i, :, k], WAVELET, mode=MODE, level=level)
            coeffs = [g * c for g, c in zip(gains, coeffs, strict=True)]
            out[i, :, k] = pywt.waverec(coeffs, WAVELET, mode=MODE)[: X.shape[1]]
    return out


def one_pass_floor(X, level):
    coeffs = pywt.wavedec(X, WAVELET, mode=MODE, level=level, axis=1)
    return pywt.waverec(coeffs, WAVELET, mode=MODE, axis=1)


def pywt_swt_pass(X, level):
    """pywt.swt + pywt.iswt along the time axis of the extended series (what "swt" computes)."""
    before, after = swt_extension(X.shape[1], level, pywt.Wavelet(WAVELET).dec_len, MODE)
    padded = pywt.pad(X, ((0, 0), (before, after), (0, 0)), MODE)
    coeffs = pywt.swt(padded, WAVELET, level=level, axis=1, trim_approx=True)
    return pywt.iswt(coeffs, WAVELET, axis=1)[:, before : before + X.shape[1]]


def ptwt_filter_bank(x, level, gains):
    import ptwt

    coeffs = ptwt.wavedec(x, WAVELET, mode=MODE, level=level, axis=1)
    coeffs = [g * c for g, c in zip(gains, coeffs, strict=True)]
    return ptwt.waverec(coeffs, WAVELET, axis=1)[:, : x.shape[1]]


def dense_band_operators(omega, T):
    """(bands, T, T): the reconstruction operator of each band alone, from transform."""
    eye = np.eye(T)[:, :, np.newaxis]
    settings = dict(wavelet=WAVELET, level=omega.level_, mode=MODE, method="dwt")
    one_hot = np.eye(omega.level_ + 1)
    operators = [reconstruct_bands(eye, gains, **settings)[:, :, 0].T for gains in one_hot]
    return torch.from_numpy(np.stack(operators))


def dense_forward(operators, gains, x):
    n, T, K = x.shape
    columns = x.permute(1, 0, 2).reshape(T, n * K)
    bands = operators @ columns  # (bands, T, n*K)
    return torch.einsum("b,btc->tc", gains, bands).reshape(T, n, K).permute(1, 0, 2)


def bench_shape(shape, repeat):
    n, T, K = shape
    X = np.random.default_rng(0).normal(size=shape)
    level = pywt.dwt_max_level(T, pywt.Wavelet(WAVELET).dec_len)
    omega = WaveletBandReconstructor(WAVELET, mode=MODE, keep=["d2", "d3", "d4"]).fit(X)
    gains = list(omega.gains_)
    x = torch.from_numpy(X)
    results = {}
    results["floor"] = best_time(lambda: one_pass_floor(X, level), repeat)
    results["transform"] = best_time(lambda: omega.transform(X), repeat)
    results["loop"] = best_time(lambda: per_channel_loop(X, level, gains), 1)

    start = time.perf_counter()
    twin = omega.to_torch()
    twin(x[:1])
    results["twin build (once per length)"] = time.perf_counter() - start
    with torch.no_grad():
        results["twin forward"] = best_time(lambda: twin(x), repeat)
    xg = x.clone().requires_grad_(True)
    results["twin forward+backward"] = best_time(lambda: twin(xg).sum().backward(), repeat)
    error = np.abs(twin(x).detach().numpy() - omega.transform(X)).max()

    try:
        torch_gains = torch.tensor(gains, dtype=torch.float64)
        with torch.no_grad():
            results["ptwt filter bank forward"] = best_time(
                lambda: ptwt_filter_bank(x, level, torch_gains), repeat
            )
    except ImportError:
        results["ptwt filter bank forward"] = np.nan

    n_bands = level + 1
    dense_bytes = n_bands * T * (T + n * K) * 8
    if dense_bytes < 2**30:
        operators = dense_band_operators(omega, T)
        with torch.no_grad():
            results["dense band operators forward"] = best_time(
                lambda: dense_forward(operators, twin.gains, x), repeat
            )
    else:
        results["dense band operators forward"] = np.nan
        print(f"  (dense band operators skipped: {dense_bytes / 2**30:.1f} GiB)")

    swt = clone(omega).set_params(method="swt").fit(X)
    results["swt transform"] = best_time(lambda: swt.transform(X), repeat)
    results["swt pywt swt+iswt one pass"] = best_time(lambda: pywt_swt_pass(X, level), 1)

    print(f"shape (n, T, K) = {shape}, {WAVELET} {MODE}, level {level}, float64")
    floor = results["floor"]
    for name, seconds in results.items():
        print(f"  {name:32s} {seconds * 1e3:10.1f} ms   {seconds / floor:6.2f}x floor")
    print(f"  per-channel loop / transform     {results['loop'] / results['transform']:6.1f}x")
    print(f"  max |twin - transform|           {error:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, PyWavelets {pywt.__version__}")
    for shape in SHAPES:
        bench_shape(shape, args.repeat)


if __name__ == "__main__":
    main()
