"""Chunks of an array in memory or a memory map, run in this process from a thread pool
kept for its lifetime: the same kernels and chunk kinds as the dask path of
:mod:`symbreak.engine.mapper`, without building and scheduling a graph (milliseconds per
call, as long as the kernels take on 100 MB). Threads follow the process's CPU affinity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from ..arrays import populate_pages, release_pages
from ..progress import track
from . import budget as _budget
from . import policy as _policy

Kernel = Callable[..., np.ndarray]
MAX_WORKERS = 4
"""Most local threads that run chunks at once (the kernels are memory bound)."""
LOCAL_CHUNKS_PER_THREAD = 4
"""In-memory data and memory maps are cut into at least this many chunks per thread."""
MIN_LOCAL_CHUNK_BYTES = 4 * 2**20
"""... each no smaller than this [bytes]: per-chunk overhead stays < 1 %."""
_THREADPOOLS: list[ThreadpoolController] = []


def single_threaded_blas() -> Any:
    """Context manager limiting BLAS to one thread (the library scan is done once)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: ``taskset``, a batch system's
    allocation), not every CPU of the machine."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def n_workers() -> int:
    """Threads that process chunks at the same time: the usable CPUs, at most
    :data:`MAX_WORKERS`."""
    return min(usable_cpus(), MAX_WORKERS)


def local_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, int, int, int]:
    """Chunks for :func:`_map_local`: those of :func:`chunk_shape`, cut further so that
    every thread gets several (a thread left with the last big chunk alone would hold
    up the others), but not below :data:`MIN_LOCAL_CHUNK_BYTES`."""
    total = _budget.budget_bytes()
    copies = _policy.kernel_copies(n_workers())
    data_bytes = int(np.prod(shape)) * max(itemsize, 4)
    wanted = max(data_bytes // (LOCAL_CHUNKS_PER_THREAD * n_workers()), MIN_LOCAL_CHUNK_BYTES)
    return _policy.chunks_within(shape, max(itemsize, 4), total, copies,
                                 min(_policy.MAX_CHUNK_BYTES, wanted))


def map_local(array: np.ndarray, kernel: Kernel, n_out: int, dtype: type,
               extra: np.ndarray | None, progress: bool | None, desc: str) -> np.ndarray:
    """:func:`map_patterns` of an array in memory or a memory map, in this process: the
    same kernel on the same kind of chunks, run straight from a thread pool (building and
    scheduling a dask graph costs milliseconds, as long as the kernels take on 100 MB)."""
    out = np.empty(array.shape[:2] + (n_out,), dtype=dtype)

    def run(where: tuple[slice, slice], block: np.ndarray) -> None:
        out[where] = kernel(block) if extra is None else kernel(block, extra[where])

    _each_local_chunk(array, run, progress, desc)
    return out


def sum_local(array: np.ndarray, kernel: Kernel, progress: bool | None,
               desc: str) -> np.ndarray:
    """:func:`sum_over_chunks` of an array in memory or a memory map, in this process."""
    lock, total = threading.Lock(), np.zeros(array.shape[2:])

    def run(where: tuple[slice, slice], block: np.ndarray) -> None:
        part = kernel(block)
        with lock:
            total[...] += part

    _each_local_chunk(array, run, progress, desc)
    return total


def _each_local_chunk(array: np.ndarray, run: Callable[[tuple[slice, slice], np.ndarray], None],
                      progress: bool | None, desc: str) -> None:
    """``run(where, array[where])`` for every chunk of :func:`local_chunks`, on the pool,
    releasing each chunk's pages of a memory map after it."""
    rows, cols = local_chunks(array.shape, array.dtype.itemsize)[:2]
    tiles = [(slice(y, y + rows), slice(x, x + cols))
             for y in range(0, array.shape[0], rows) for x in range(0, array.shape[1], cols)]

    def one(where: tuple[slice, slice]) -> None:
        block = array[where]
        populate_pages(block)
        run(where, block)
        release_pages(block)

    with single_threaded_blas():
        for _ in track(_run_all(one, tiles), total=len(tiles), desc=desc, progress=progress,
                       unit="chunk"):
            pass


_POOL: dict[int, ThreadPoolExecutor] = {}
_IN_POOL = threading.local()


def _run_all(run: Callable[[Any], None], items: list) -> Iterator[None]:
    """``run`` on every item, in a thread pool kept for the process (starting threads
    costs milliseconds on a busy machine); inline for one item, one thread, or when
    called from a pool thread (which must not wait on its own pool)."""
    threads = n_workers()
    if len(items) == 1 or threads == 1 or getattr(_IN_POOL, "active", False):
        yield from map(run, items)
        return
    if threads not in _POOL:
        _POOL.clear()
        _POOL[threads] = ThreadPoolExecutor(threads, thread_name_prefix="symbreak-kernel",
                                            initializer=_mark_pool_thread)
    yield from _POOL[threads].map(run, items)


def _mark_pool_thread() -> None:
    _IN_POOL.active = True
