"""Throughput and memory of HeatmapEmbedder.transform on 64x64 heatmaps.

Runs, in one process and on the same array:

- ``HeatmapEmbedder.transform`` for every method;
- the straightforward per-frame loop a user would write (``np.nanpercentile``,
  ``np.histogram``, ``scipy.stats`` moments, a per-frame projection);
- ``np.sum`` over the array: the time to read it once (the memory-read floor);
- ``sklearn.decomposition.PCA.transform`` (BLAS) for the eigenfaces.

and prints frames/s and the ratios. Then transforms a memory-mapped ``.npy``
several times larger than one chunk and reports the peak of Python/NumPy
allocations (``tracemalloc``) against the array and chunk sizes.

Usage::

    python benchmarks/bench_embedding.py [--frames 4096] [--dtype float32] [--repeat 3]

Targets (issue 3): percentiles and moments within 10x of the read floor,
histogram within 15x, eigenfaces at BLAS speed, memory O(chunk) on a memmap.
"""

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import stats

from skheatmap.embedding import HeatmapEmbedder

FRAME_SHAPE = (64, 64)
TARGETS = {"percentiles": 10, "histogram": 15, "moments": 10, "eigenfaces": None}


def thermal_like(n_frames, dtype, seed=0):
    """Smooth warm face on a cooler background, plus sensor noise, in °C."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(FRAME_SHAPE)
    face = 34.0 - 4.0 * (((rows - 32) / 24.0) ** 2 + ((cols - 32) / 18.0) ** 2)
    drift = rng.normal(scale=0.3, size=(n_frames, 1, 1)).cumsum(axis=0) * 0.05
    X = face + drift + rng.normal(scale=0.2, size=(n_frames, *FRAME_SHAPE))
    return X.astype(dtype).reshape(8, n_frames // 8, *FRAME_SHAPE)


def best_time(func, repeat):
    func()  # warm-up: compilation, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def per_frame_loop(method, frames, embedder):
    """What a user would write without the embedder: one NumPy/SciPy call per frame."""
    if method == "percentiles":
        return [np.nanpercentile(f, embedder.percentiles_) for f in frames]
    if method == "histogram":
        return [np.histogram(f[~np.isnan(f)], bins=embedder.bin_edges_)[0] for f in frames]
    if method == "moments":
        return [(np.nanmean(f), np.nanvar(f), stats.skew(f), stats.kurtosis(f)) for f in frames]
    return [(f - embedder.mean_) @ embedder.components_.T for f in frames]


def throughput(X, repeat):
    n_frames = X.shape[0] * X.shape[1]
    frames = X.reshape(n_frames, -1)
    floor = best_time(lambda: np.sum(X), repeat)
    print(f"{n_frames} frames of {FRAME_SHAPE[0]}x{FRAME_SHAPE[1]} {X.dtype}, best of {repeat}")
    print(f"np.sum read floor: {n_frames / floor:12.0f} frames/s")
    header = (
        f"{'method':<12}{'ours f/s':>12}{'loop f/s':>12}{'vs loop':>9}{'vs floor':>10}{'target':>8}"
    )
    print(header)
    loop_frames = frames[: max(n_frames // 8, 64)]  # the loops are slow: time a slice
    for method, target in TARGETS.items():
        embedder = HeatmapEmbedder(method).fit(X[:, :64])
        ours = best_time(lambda e=embedder: e.transform(X), repeat)
        loop = best_time(lambda m=method, e=embedder: per_frame_loop(m, loop_frames, e), 1)
        loop_rate = loop_frames.shape[0] / loop
        target_text = f"<={target}x" if target else "BLAS"
        print(
            f"{method:<12}{n_frames / ours:12.0f}{loop_rate:12.0f}"
            f"{n_frames / ours / loop_rate:8.1f}x{ours / floor:9.1f}x{target_text:>8}"
        )
        if method == "eigenfaces":
            pca = embedder.pca_
            blas = best_time(lambda p=pca: p.transform(frames), repeat)
            print(
                f"{'  PCA.transform (BLAS)':<24}{n_frames / blas:12.0f}   ours/BLAS time "
                f"{ours / blas:.2f}x"
            )


def memmap_peak(dtype, chunk_size):
    n_frames = 8 * 1024
    X = thermal_like(n_frames, dtype)
    embedder = HeatmapEmbedder("percentiles", chunk_size=chunk_size).fit(X[:, :64])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "heatmaps.npy"
        np.save(path, X)
        array_bytes = X.nbytes
        del X
        mapped = np.load(path, mmap_mode="r")
        for method in TARGETS:
            embedder = HeatmapEmbedder(method, chunk_size=chunk_size).fit(mapped[:, :64])
            embedder.transform(mapped[:, :8])  # compile outside the measurement
            tracemalloc.start()
            start = time.perf_counter()
            out = embedder.transform(mapped)
            elapsed = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            chunk_bytes = chunk_size * np.prod(FRAME_SHAPE) * np.dtype(dtype).itemsize
            print(
                f"memmap {method:<12} array {array_bytes / 2**20:6.1f} MiB, chunk "
                f"{chunk_bytes / 2**20:4.1f} MiB, output {out.nbytes / 2**20:4.1f} MiB: peak "
                f"{peak / 2**20:5.1f} MiB ({peak / array_bytes:.1%} of the array), "
                f"{n_frames / elapsed:8.0f} frames/s"
            )
        del mapped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4096, help="frames (multiple of 8)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=512, help="for the memmap run")
    args = parser.parse_args()
    throughput(thermal_like(args.frames, args.dtype), args.repeat)
    memmap_peak(args.dtype, args.chunk_size)


if __name__ == "__main__":
    main()
