"""Thread pools kept for the process, for compiled kernels that release the GIL."""

import functools
from concurrent.futures import ThreadPoolExecutor

__all__ = ["thread_pool"]


@functools.cache
def thread_pool(n_workers):
    """A pool of ``n_workers`` threads, made once: starting threads on every call is slow.

    Examples
    --------
    >>> from skheatmap._threads import thread_pool
    >>> list(thread_pool(2).map(abs, [-1, 2, -3]))
    [1, 2, 3]
    >>> thread_pool(2) is thread_pool(2)
    True
    """
    return ThreadPoolExecutor(n_workers, thread_name_prefix="skheatmap")
