"""Throughput and memory of HeatmapEmbedder.transform on 64x64 heatmaps.

Runs, in one process and on the same array:

- ``HeatmapEmbedder.transform`` for every method;
- the straightforward per-frame loop a user would write (``np.nanpercentile``,
  ``np.histogram``, ``scipy.stats`` moments, a per-frame projection);
- ``np.sum`` over the array: the time to read it once (the memory-read floor);
- ``sklearn.decomposition.PCA.transform`` (BLAS) for the eigenfaces.

and prints frames/s and the ratios. Then transforms a memory-mapped ``.npy``
many times larger than one chunk, each method in a fresh process, and reports
against the array and chunk sizes:

- the peak resident set size during the transform (``VmHWM`` of
  ``/proc/self/status``, reset just before it), which counts the pages of the
  mapped file that are resident as well as allocations;
- the growth of anonymous memory (``RssAnon``: allocations) and of resident
  file pages (``RssFile``: the map's pages left resident after the transform);
- the peak of Python/NumPy allocations (``tracemalloc``), which does not see
  mapped pages.

A reference row reads the whole map once with ``np.sum``: its mapped pages stay
resident, so its peak RSS grows by about the array size, which shows that the
measurement sees them. The RSS part needs Linux.

Usage::

    python benchmarks/bench_embedding.py [--frames 4096] [--dtype float32] [--repeat 3]
        [--chunk-size 512] [--memmap-frames 8192]

Targets (issue 3): percentiles and moments within 10x of the read floor,
histogram within 15x, eigenfaces at BLAS speed, memory O(chunk) on a memmap.
"""

import argparse
import multiprocessing
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
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


def memory_status():
    """Resident memory of this process in bytes (``VmRSS``, ``VmHWM``, ``RssAnon``, ``RssFile``)."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) * 1024  # reported in kB
    return fields


def reset_peak_rss():
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); False if the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def measure_memmap_transform(path, method, chunk_size):
    """Memory and speed of one ``transform`` of the ``.npy`` at ``path``, memory-mapped.

    Runs in a fresh process, so that nothing of the parent is resident. The
    embedder is fitted on an in-memory copy of the first frames and warmed up
    before the file is mapped; ``method=None`` reads the map with ``np.sum``
    instead (the reference). Returns the sizes in bytes and the frames/s; the
    transform's output (``n * T * K`` values) is part of the growth.
    """
    head = np.array(np.load(path, mmap_mode="r")[:, :64])  # the map is closed again
    if method is not None:
        embedder = HeatmapEmbedder(method, chunk_size=chunk_size).fit(head)
        embedder.transform(head[:, :8])  # compile outside the measurement
    del head
    mapped = np.load(path, mmap_mode="r")
    before = memory_status()
    peak_was_reset = reset_peak_rss()
    tracemalloc.start()
    start = time.perf_counter()
    np.sum(mapped) if method is None else embedder.transform(mapped)
    elapsed = time.perf_counter() - start
    heap_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    after = memory_status()
    return {
        "rss_before": before["VmRSS"],
        "peak_rss": after["VmHWM"],
        "peak_was_reset": peak_was_reset,
        "anon_growth": after["RssAnon"] - before["RssAnon"],
        "file_growth": after["RssFile"] - before["RssFile"],
        "heap_peak": heap_peak,
        "frames_per_s": mapped.shape[0] * mapped.shape[1] / elapsed,
    }


def memmap_peak(dtype, chunk_size, n_frames):
    """Print the memory of transforming a memory-mapped ``.npy`` of ``n_frames`` frames."""
    if not Path("/proc/self/status").exists():
        print("memmap peak memory: skipped, /proc/self/status (Linux) is needed for RSS")
        return
    X = thermal_like(n_frames, dtype)
    array_bytes = X.nbytes
    chunk_bytes = chunk_size * X[0, 0].nbytes
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "heatmaps.npy"
        np.save(path, X)
        del X
        print(
            f"memmap of {n_frames} frames: array {array_bytes / 2**20:.1f} MiB, chunk_size "
            f"{chunk_size} ({chunk_bytes / 2**20:.1f} MiB); each row in a fresh process"
        )
        columns = ("peak RSS", "growth", "/array", "/chunk", "RssAnon+", "RssFile+", "heap")
        print(f"{'method':<12}" + "".join(f"{c:>10}" for c in columns) + f"{'frames/s':>10}")
        not_reset = False
        for method in [*TARGETS, None]:
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
                m = fresh.submit(measure_memmap_transform, path, method, chunk_size).result()
            growth = m["peak_rss"] - m["rss_before"]
            not_reset |= not m["peak_was_reset"]
            cells = (
                f"{m['peak_rss'] / 2**20:.1f}M{'' if m['peak_was_reset'] else '*'}",
                f"{growth / 2**20:.1f}M",
                f"{growth / array_bytes:.1%}",
                f"{growth / chunk_bytes:.1f}x",
                *(f"{m[k] / 2**20:.1f}M" for k in ("anon_growth", "file_growth", "heap_peak")),
            )
            print(
                f"{method or 'np.sum read':<12}"
                + "".join(f"{c:>10}" for c in cells)
                + f"{m['frames_per_s']:10.0f}"
            )
    print(
        "growth: peak RSS during the transform minus the RSS before it, also per array and per "
        "chunk size; RssAnon+, RssFile+: growth of allocations and of resident mapped pages "
        "after it; heap: tracemalloc peak (blind to mapped pages). M = MiB."
    )
    if not_reset:
        print("* the kernel refused to reset VmHWM: peak since the process started")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4096, help="frames (multiple of 8)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=512, help="for the memmap run")
    parser.add_argument(
        "--memmap-frames", type=int, default=8192,
        help="frames of the memmap (multiple of 8); 0 skips the memory part",
    )
    args = parser.parse_args()
    throughput(thermal_like(args.frames, args.dtype), args.repeat)
    if args.memmap_frames:
        memmap_peak(args.dtype, args.chunk_size, args.memmap_frames)


if __name__ == "__main__":
    main()
