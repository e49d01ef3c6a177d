"""Peak memory of HeatmapEmbedder.transform on recordings stored on disk.

Writes the same kind of heatmap recordings at two sizes (``--base-mib`` and
``--growth`` times more) as a ``.npy`` file and as an HDF5 dataset, then, each
in a fresh process, transforms them

- out of core: ``np.load(path, mmap_mode="r")`` and the ``h5py.Dataset`` passed
  as is (the embedder reads ``chunk_size`` frames, or whole recordings for
  HDF5, at a time);
- in memory (the peer): the array loaded whole first, as a user would without
  out-of-core support.

and prints the peak resident set size (RSS) of each run, split into anonymous
memory (what the process allocated) and file-backed pages (the mapped ``.npy``,
which the kernel may drop at any time, so it grows with the file only while
memory is plentiful). Out of core, the anonymous peak should stay roughly
constant when the data grows; in memory it grows with the data.

Usage::

    python benchmarks/bench_large_data.py [--base-mib 64] [--growth 8] [--method percentiles]

Needs ``h5py`` (``pip install h5py``).
"""

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

FRAME_SHAPE = (32, 32)
FRAMES_PER_RECORDING = 256


def write_recordings(folder, n_recordings, seed=0):
    """``n_recordings`` warm-face recordings (float32, NaN-padded) as .npy and .h5."""
    import h5py

    shape = (n_recordings, FRAMES_PER_RECORDING, *FRAME_SHAPE)
    npy = folder / f"X_{n_recordings}.npy"
    h5 = folder / f"X_{n_recordings}.h5"
    X = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=shape)
    rows, cols = np.indices(FRAME_SHAPE)
    face = 34.0 - 4.0 * (((rows - 16) / 12.0) ** 2 + ((cols - 16) / 9.0) ** 2)
    rng = np.random.default_rng(seed)
    with h5py.File(h5, "w") as file:
        dataset = file.create_dataset("X", shape=shape, dtype=np.float32)
        for i in range(n_recordings):
            recording = face + rng.normal(scale=0.2, size=(FRAMES_PER_RECORDING, *FRAME_SHAPE))
            recording[rng.integers(FRAMES_PER_RECORDING // 2, FRAMES_PER_RECORDING) :] = np.nan
            X[i] = recording
            dataset[i] = recording
    X.flush()
    del X
    return npy, h5


class PeakMemory:
    """Samples /proc/self/status in a thread: peaks of RssAnon and RssFile (bytes)."""

    def __init__(self, interval=0.002):
        self.interval = interval
        self.peaks = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in self.peaks:
                    self.peaks[key] = max(self.peaks[key], int(value.split()[0]) * 1024)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self):
        self._sample()
        self.baseline = dict(self.peaks)
        self.peaks = dict.fromkeys(self.peaks, 0)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def child(kind, path, method):
    """Transform one file in this (fresh) process and print its memory figures."""
    import h5py

    from skheatmap import HeatmapEmbedder

    file = h5py.File(path, "r") if kind.startswith("hdf5") else None
    source = file["X"] if file is not None else np.load(path, mmap_mode="r")
    embedder = HeatmapEmbedder(method=method).fit(np.asarray(source[:1]))
    embedder.transform(np.asarray(source[:1]))  # warm-up: numba caches, imports
    with PeakMemory() as memory:
        if kind.endswith("in-memory"):
            source = source[...] if file is not None else np.load(path)
        start = time.perf_counter()
        out = embedder.transform(source)
        seconds = time.perf_counter() - start
    print(
        memory.peaks["RssAnon"] - memory.baseline["RssAnon"],
        memory.peaks["RssFile"] - memory.baseline["RssFile"],
        memory.peaks["VmRSS"],
        seconds,
        out.nbytes,
    )


def run_child(kind, path, method):
    command = [sys.executable, __file__, "--child", kind, str(path), "--method", method]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    anon, file_backed, rss, seconds, out_bytes = result.stdout.split()
    return int(anon), int(file_backed), int(rss), float(seconds), int(out_bytes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-mib", type=float, default=64.0)
    parser.add_argument("--growth", type=int, default=8)
    parser.add_argument("--method", default="percentiles")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"))
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.method)
        return

    recording_bytes = FRAMES_PER_RECORDING * np.prod(FRAME_SHAPE) * 4
    n_small = max(1, int(args.base_mib * 2**20 // recording_bytes))
    mib = 2**20
    print(
        f"HeatmapEmbedder(method={args.method!r}).transform, {FRAME_SHAPE} float32 frames, "
        f"{FRAMES_PER_RECORDING} frames per recording; default chunk = 32 MiB of frames\n"
    )
    header = (
        f"{'storage':<18}{'data MiB':>10}{'anon peak MiB':>15}{'file pages MiB':>16}"
        f"{'peak RSS MiB':>14}{'seconds':>9}"
    )
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for n in (n_small, n_small * args.growth):
            npy, h5 = write_recordings(Path(folder), n)
            data_mib = n * recording_bytes / mib
            for kind, path in [
                ("npy-memmap", npy),
                ("hdf5", h5),
                ("npy-in-memory", npy),
                ("hdf5-in-memory", h5),
            ]:
                results[kind, n] = (data_mib, *run_child(kind, path, args.method))
            npy.unlink()
            h5.unlink()
    print(header)
    for (kind, _), (data_mib, anon, file_backed, rss, seconds, _) in results.items():
        print(
            f"{kind:<18}{data_mib:>10.0f}{anon / mib:>15.1f}{file_backed / mib:>16.1f}"
            f"{rss / mib:>14.1f}{seconds:>9.2f}"
        )
    print(f"\npeak RSS and its anonymous part when the data grows x{args.growth} (large/small):")
    for kind in ("npy-memmap", "hdf5", "npy-in-memory", "hdf5-in-memory"):
        small = results[kind, n_small]
        large = results[kind, n_small * args.growth]
        print(
            f"  {kind:<16} RSS {small[3] / mib:7.1f} -> {large[3] / mib:7.1f} MiB "
            f"(x{large[3] / small[3]:.2f}); anonymous {small[1] / mib:6.1f} -> "
            f"{large[1] / mib:6.1f} MiB"
        )


if __name__ == "__main__":
    main()
