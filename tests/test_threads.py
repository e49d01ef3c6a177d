"""The process-wide thread pool of the compiled kernels."""

import os
import signal
import sys

import numba
import numpy as np
import pytest

from skheatmap._embedding_kernels import in_frame_blocks, moment_kernel, percentile_kernel
from skheatmap._threads import run_on_threads


def test_frame_blocks_on_threads_equal_one_pass():
    rng = np.random.default_rng(0)
    frames = rng.normal(30.0, 1.0, size=(1000, 64))
    frames[::7, ::5] = np.nan
    fractions = np.array([0.05, 0.5, 0.95])
    np.testing.assert_array_equal(
        in_frame_blocks(percentile_kernel, frames, fractions), percentile_kernel(frames, fractions)
    )
    ys, xs = np.indices((8, 8)).reshape(2, -1).astype(float)
    np.testing.assert_array_equal(
        in_frame_blocks(moment_kernel, frames, ys, xs), moment_kernel(frames, ys, xs)
    )


@pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2,
    reason="the pool has one thread (one CPU, or NUMBA_NUM_THREADS=1)",
)
def test_each_task_gets_its_own_thread_at_once():
    import threading

    barrier = threading.Barrier(2, timeout=10)  # passes only if both tasks run together
    assert run_on_threads([barrier.wait, barrier.wait]) in ([0, 1], [1, 0])


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX-only")
def test_a_forked_child_gets_a_working_pool():
    assert run_on_threads([lambda: 1] * 4) == [1] * 4  # the parent's pool has threads
    pid = os.fork()
    if pid == 0:  # the child: exit 0 if its pool runs tasks, killed by the alarm if it hangs
        signal.alarm(10)
        os._exit(0 if run_on_threads([lambda: 1, lambda: 2]) == [1, 2] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the forked child hung or failed"
