"""Soft-DTW throughput of skheatmap against tslearn and pysdtw, in one process.

Run:  python benchmarks/bench_softdtw.py [--repeat 3] [--scale 1.0]

Prints cells per second (one cell = one (i, j) of one pair's DP, forward and
backward counted once) and our speed-up ratios. Ratios measured in the same
process are what matter; absolute figures depend on the machine and its load
(printed: on a shared machine, multi-threaded code suffers most, so a
one-thread figure of ours is printed too).
pysdtw is optional (``pip install --no-deps pysdtw``); without it its lines are
skipped with a notice. ``--scale`` shrinks the all-pairs workload for a quick look.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
import torch

from skheatmap.softdtw import soft_dtw, soft_dtw_pairwise


def best_times(fns, repeat, warm_ups=None):
    """Smallest wall time of each of ``fns`` (a dict) over ``repeat`` rounds.

    Each function runs once to warm up (or its entry of ``warm_ups``, a cheaper
    call that compiles the same code), then the rounds interleave them, so a
    burst of load from other processes hits every contender alike.
    """
    for fn in (warm_ups or fns).values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(spent) for name, spent in times.items()}


def one_thread(fn):
    """``fn`` run with numba limited to one thread (our per-core speed)."""

    def run():
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            fn()
        finally:
            numba.set_num_threads(threads)

    return run


def forward_backward(loss, x, y):
    def run():
        x.grad = None
        loss(x, y).sum().backward()

    return run


def report(name, seconds, cells, reference=None):
    rate = cells / seconds
    line = f"  {name:<38s} {seconds * 1e3:9.1f} ms  {rate / 1e6:9.2f} Mcells/s"
    if reference is not None:
        line += f"   ours is {seconds / reference:6.1f}x faster"
    print(line)
    return seconds


def peers(gamma):
    from tslearn.metrics import SoftDTWLossPyTorch

    found = {"tslearn SoftDTWLossPyTorch": SoftDTWLossPyTorch(gamma=gamma, normalize=False)}
    try:
        import pysdtw
    except ImportError:
        print("  (pysdtw is not installed: pip install --no-deps pysdtw; its lines are skipped)")
    else:
        found["pysdtw SoftDTW (CPU)"] = pysdtw.SoftDTW(gamma=gamma, use_cuda=False)
    return found


def bench_forward_backward(repeat, B=64, T=256, d=8, gamma=1.0):
    print(f"\nforward+backward, B={B} pairs of {T}x{T}, d={d}, float64")
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(B, T, d)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(B, T, d)))
    cells = B * T * T
    ours = forward_backward(lambda a, b: soft_dtw(a, b, gamma=gamma), x, y)
    fns = {"skheatmap soft_dtw": ours, "skheatmap soft_dtw, one thread": one_thread(ours)}
    fns.update({name: forward_backward(loss, x, y) for name, loss in peers(gamma).items()})
    times = best_times(fns, repeat)
    reference = times["skheatmap soft_dtw"]
    for name, seconds in times.items():
        report(name, seconds, cells, None if name.startswith("skheatmap") else reference)


def bench_pairwise(repeat, n_series=200, T=128, d=8, gamma=1.0):
    from tslearn.metrics import cdist_soft_dtw_normalized

    print(f"\nall-pairs divergence matrix, {n_series} series of length {T}, d={d}, float64")
    X = np.random.default_rng(1).normal(size=(n_series, T, d))
    pairs = n_series * (n_series - 1) // 2 + n_series
    contenders = {"ours": soft_dtw_pairwise, "theirs": cdist_soft_dtw_normalized}
    times = best_times(
        {name: (lambda fn=fn: fn(X, gamma=gamma)) for name, fn in contenders.items()},
        repeat,
        warm_ups={name: (lambda fn=fn: fn(X[:4], gamma=gamma)) for name, fn in contenders.items()},
    )
    ours, theirs = times["ours"], times["theirs"]
    # Both evaluate the upper triangle and the diagonal (tslearn's _cdist_generic
    # mirrors the rest), so the same cells count for both.
    report("skheatmap soft_dtw_pairwise", ours, pairs * T * T)
    report("tslearn cdist_soft_dtw_normalized", theirs, pairs * T * T, ours)


def bench_dtypes(repeat, B=64, T=256, d=8):
    print(f"\nfloat32 vs float64, forward+backward, B={B} pairs of {T}x{T}, d={d}")
    rng = np.random.default_rng(2)
    data = rng.normal(size=(2, B, T, d))
    fns = {}
    for dtype in (torch.float64, torch.float32):
        x = torch.tensor(data[0], dtype=dtype, requires_grad=True)
        y = torch.tensor(data[1], dtype=dtype)
        fns[dtype] = forward_backward(lambda a, b: soft_dtw(a, b, gamma=1.0), x, y)
    times = best_times(fns, repeat)
    for dtype, seconds in times.items():
        report(f"skheatmap {dtype}", seconds, B * T * T)
    print(f"  float32 / float64 time ratio: {times[torch.float32] / times[torch.float64]:.2f}")


def bench_band(repeat, B=8, T=1024, d=8, band=10):
    print(f"\nSakoe-Chiba band={band} vs none, forward+backward, B={B} pairs of {T}x{T}, d={d}")
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(B, T, d)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(B, T, d)))
    full, banded = best_times(
        {
            "full": forward_backward(lambda a, b: soft_dtw(a, b, gamma=1.0), x, y),
            "band": forward_backward(lambda a, b: soft_dtw(a, b, gamma=1.0, band=band), x, y),
        },
        repeat,
    ).values()
    report("no band", full, B * T * T)
    report(f"band={band} (cells of the full matrix)", banded, B * T * T)
    print(f"  band speed-up: {full / banded:.1f}x")


# Both engines: with a backward pass (autograd) and values alone (NumPy in).
_FIRST_CALL = """
import time
start = time.perf_counter()
import numpy as np, torch
from skheatmap.softdtw import soft_dtw
x = torch.zeros(2, 5, 2, dtype=torch.float64, requires_grad=True)
soft_dtw(x, torch.ones(2, 6, 2, dtype=torch.float64)).sum().backward()
soft_dtw(np.zeros((2, 5, 2)), np.ones((2, 6, 2)))
print(time.perf_counter() - start)
"""


def bench_compile_time():
    print("\nfirst calls, with a backward pass and values alone (import + JIT), in a fresh process")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold cache (compiles)", "warm cache (loads)"):
            out = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"  {label:<38s} {float(out.stdout.strip()):9.1f} s")


def bench_gpu(repeat, B=64, T=256, d=8):
    if not torch.cuda.is_available():
        print("\n(no CUDA device: GPU comparison skipped)")
        return
    print(f"\nCUDA forward+backward, B={B} pairs of {T}x{T}, d={d}, float32")
    x = torch.randn(B, T, d, device="cuda", requires_grad=True)
    y = torch.randn(B, T, d, device="cuda")

    def timed(loss):
        run = forward_backward(loss, x, y)

        def synced():
            run()
            torch.cuda.synchronize()

        return best_times({"run": synced}, repeat)["run"]

    ours = report("skheatmap wavefront", timed(lambda a, b: soft_dtw(a, b)), B * T * T)
    try:
        import pysdtw
    except ImportError:
        print("  (pysdtw is not installed: skipped)")
        return
    report("pysdtw CUDA", timed(pysdtw.SoftDTW(gamma=1.0, use_cuda=True)), B * T * T, ours)
    print("  published reference: Maghoumi's CUDA kernel ~1 Gcell/s (Titan RTX, B=512)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the all-pairs workload")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads for every contender (default: torch's own choice); "
        "1 avoids parallel regions stalling on a core that other processes hold",
    )
    args = parser.parse_args()
    if args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    print(
        f"torch threads: {torch.get_num_threads()}, numba threads: {numba.get_num_threads()}, "
        f"CPUs: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}"
    )
    bench_compile_time()
    bench_forward_backward(args.repeat)
    bench_pairwise(args.repeat, n_series=max(4, int(200 * args.scale)))
    bench_dtypes(args.repeat)
    bench_band(args.repeat)
    bench_gpu(args.repeat)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
