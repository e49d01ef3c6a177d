"""One thread pool kept for the process, for compiled kernels that release the GIL."""

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numba

__all__ = ["run_on_threads", "thread_pool"]


@functools.cache
def thread_pool():
    """The process's pool, as many threads as numba may use, made on first use.

    Starting threads on every call is slow, so the pool lives as long as the
    process. A forked child gets a new pool: the parent's threads do not
    exist there.

    Examples
    --------
    >>> from skheatmap._threads import thread_pool
    >>> thread_pool() is thread_pool()
    True
    """
    return ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS, thread_name_prefix="skheatmap")


os.register_at_fork(after_in_child=thread_pool.cache_clear)


def run_on_threads(tasks):
    """Call each of ``tasks`` on its own thread of the pool, at once; their results, in order.

    A call takes as many threads as it has tasks, so its work never runs on
    more threads than it asked for.

    Examples
    --------
    >>> from skheatmap._threads import run_on_threads
    >>> run_on_threads([lambda: 1, lambda: 2])
    [1, 2]
    """
    futures = [thread_pool().submit(task) for task in tasks]
    return [future.result() for future in futures]
