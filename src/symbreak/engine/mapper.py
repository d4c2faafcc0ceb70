"""Run a per-chunk kernel over every pattern of a data set, in memory or out of core.

A kernel maps a block (a, b, ky, kx) of patterns to a block (a, b, n_out) of numbers and
depends on nothing else. numpy arrays and memory maps are wrapped (not copied) in dask
with chunks from the memory budget, so every input runs through the same ``map_blocks``
call and gives the same numbers. Chunks run in a few threads (numpy releases the GIL),
each with single-threaded BLAS: the kernels are memory bound and nested BLAS threads
only fight over the cores. When a dask.distributed client is active
(:func:`symbreak.engine.use_cluster`), the chunks run on its workers instead, sized to
the workers' memory limit; memory maps reach the workers as file descriptions, arrays in
memory as blocks scattered once.
"""

from __future__ import annotations

import collections
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
from threadpoolctl import ThreadpoolController

from ..arrays import NoCopyView, file_view, release_pages
from ..progress import DaskProgress, track
from . import budget as _budget
from . import policy as _policy
from .cluster import active_client, scatter_array, worker_resources

if TYPE_CHECKING:  # symbreak.dataset imports the engine
    from ..dataset import Dataset4D

Kernel = Callable[..., np.ndarray]
MAX_WORKERS = 4
"""Most local threads that run chunks at once (the kernels are memory bound)."""
LOCAL_CHUNKS_PER_THREAD = 4
"""In-memory data and memory maps are cut into at least this many chunks per thread."""
MIN_LOCAL_CHUNK_BYTES = 4 * 2**20
"""... each no smaller than this [bytes]: per-chunk overhead stays < 1 %."""
BLOCKS_AHEAD_EXTRA = 1
""":func:`computed` on a cluster: blocks computed ahead beyond one per worker thread."""
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


def chunk_shape(data: Dataset4D) -> tuple[int, int, int, int]:
    """Scan chunk shape (rows, cols, ky, kx) for a streaming kernel: every thread's raw
    chunk plus its float32 copy fit (:func:`~symbreak.engine.policy.kernel_copies`) in
    the budget, or with a dask.distributed client in the smaller of the budget and a
    worker's memory."""
    itemsize = max(data.dtype.itemsize, 4)
    total, threads = _budget.budget_bytes(), n_workers()
    client = active_client()
    if client is not None:
        worker_memory, threads = worker_resources(client)
        total = total if worker_memory is None else min(total, worker_memory)
    copies = _policy.kernel_copies(threads)
    return _policy.chunks_within(data.shape, itemsize, total, copies)


def as_chunked(data: Dataset4D) -> da.Array:
    """The data as dask with whole patterns per chunk and chunks within the budget."""
    chunks = chunk_shape(data)
    if data.is_lazy:
        if _within(data.array.chunks, chunks):
            return data.array  # a rechunk would read ahead and hold several source chunks
        return data.array.rechunk(chunks)
    client = active_client()
    if client is not None and file_view(data.array) is None:
        return scatter_array(client, np.asarray(data.array), chunks)
    return da.from_array(NoCopyView(data.array), chunks=chunks, asarray=True, name=False,
                         inline_array=file_view(data.array) is not None)


def _within(current: tuple[tuple[int, ...], ...], target: tuple[int, int, int, int]) -> bool:
    """Whether existing chunks hold whole patterns and are no larger than ``target``."""
    if len(current[2]) != 1 or len(current[3]) != 1:
        return False
    biggest = max(current[0]) * max(current[1])
    return biggest <= target[0] * target[1]


def map_patterns(data: Dataset4D, kernel: Kernel, n_out: int, *, dtype: type = np.float64,
                 extra: np.ndarray | None = None, progress: bool | None = None,
                 desc: str = "") -> np.ndarray:
    """Apply ``kernel`` to every scan chunk; returns (scan_y, scan_x, n_out).

    With ``extra`` (an array (scan_y, scan_x, ...) of per-pattern values) the kernel is
    called as ``kernel(block, extra[rows, cols])``. Chunks come from :func:`chunk_shape`.
    """
    client = active_client()
    if client is None and not data.is_lazy:
        return _map_local(data.array, kernel, n_out, dtype, extra, progress, desc)
    arr = as_chunked(data)
    # keep four dimensions: with drop_axis dask concatenates (copies) every input chunk
    out = arr.map_blocks(_apply, kernel=kernel, extra=extra, dtype=dtype,
                         chunks=arr.chunks[:2] + ((1,), (n_out,)))
    if client is not None:
        result = out.compute(scheduler=client)
    else:
        with single_threaded_blas(), DaskProgress(desc, progress):
            result = out.compute(scheduler="threads", num_workers=n_workers())
    return np.asarray(result)[:, :, 0, :]


def _map_local(array: np.ndarray, kernel: Kernel, n_out: int, dtype: type,
               extra: np.ndarray | None, progress: bool | None, desc: str) -> np.ndarray:
    """:func:`map_patterns` of an array in memory or a memory map, in this process: the
    same kernel on the same kind of chunks, run straight from a thread pool (building and
    scheduling a dask graph costs milliseconds, as long as the kernels take on 100 MB)."""
    ny, nx = array.shape[:2]
    rows, cols = local_chunks(array.shape, array.dtype.itemsize)[:2]
    out = np.empty((ny, nx, n_out), dtype=dtype)
    tiles = [(y, x) for y in range(0, ny, rows) for x in range(0, nx, cols)]

    def run(tile: tuple[int, int]) -> None:
        y, x = tile
        where = (slice(y, y + rows), slice(x, x + cols))
        block = array[where]
        out[where] = kernel(block) if extra is None else kernel(block, extra[where])
        release_pages(block)

    with single_threaded_blas():
        for _ in track(_run_all(run, tiles), total=len(tiles), desc=desc, progress=progress,
                       unit="chunk"):
            pass
    return out


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


def sum_over_chunks(data: Dataset4D, kernel: Kernel, *, progress: bool | None = None,
                    desc: str = "") -> np.ndarray:
    """The sum over all scan chunks of ``kernel(block)``, a (ky, kx) float64 array for
    each (a, b, ky, kx) block (e.g. the block's pattern sum): a reduction over the
    patterns in one pass, with the chunks of :func:`map_patterns`."""
    client = active_client()
    if client is None and not data.is_lazy:
        return _sum_local(data.array, kernel, progress, desc)
    arr = as_chunked(data)
    ky, kx = data.pattern_shape
    chunks = ((1,) * len(arr.chunks[0]), (1,) * len(arr.chunks[1]), (ky,), (kx,))
    pieces = arr.map_blocks(_pattern_shaped, kernel=kernel, chunks=chunks, dtype=np.float64)
    total = pieces.sum(axis=(0, 1))
    if client is not None:
        return np.asarray(total.compute(scheduler=client))
    with single_threaded_blas(), DaskProgress(desc, progress):
        return np.asarray(total.compute(scheduler="threads", num_workers=n_workers()))


def _pattern_shaped(block: np.ndarray, kernel: Kernel) -> np.ndarray:
    result = np.asarray(kernel(block), dtype=np.float64)
    release_pages(block)
    return result[None, None]


def _sum_local(array: np.ndarray, kernel: Kernel, progress: bool | None,
               desc: str) -> np.ndarray:
    rows, cols = local_chunks(array.shape, array.dtype.itemsize)[:2]
    tiles = [(y, x) for y in range(0, array.shape[0], rows)
             for x in range(0, array.shape[1], cols)]
    lock, total = threading.Lock(), np.zeros(array.shape[2:])

    def run(tile: tuple[int, int]) -> None:
        block = array[tile[0]:tile[0] + rows, tile[1]:tile[1] + cols]
        part = kernel(block)
        release_pages(block)
        with lock:
            total[...] += part

    with single_threaded_blas():
        for _ in track(_run_all(run, tiles), total=len(tiles), desc=desc, progress=progress,
                       unit="chunk"):
            pass
    return total


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


def _apply(block: np.ndarray, kernel: Kernel, extra: np.ndarray | None,
           block_info: dict | None = None) -> np.ndarray:
    if extra is None:
        result = kernel(block)
    else:
        (y0, y1), (x0, x1) = block_info[0]["array-location"][:2]
        result = kernel(block, extra[y0:y1, x0:x1])
    release_pages(block)
    return result[:, :, None, :]


def lazy_map_patterns(data: Dataset4D, kernel: Kernel, *, dtype: type) -> da.Array:
    """A lazy (scan_y, scan_x, ky, kx) dask array of ``kernel`` applied per scan chunk
    (chunk shapes chosen now, from the budget in force)."""
    return as_chunked(data).map_blocks(kernel, dtype=dtype)


def computed(blocks: Iterable[Any]) -> Iterator[np.ndarray]:
    """The blocks (dask or numpy arrays) as numpy arrays, in order.

    With a dask.distributed client the workers compute a few blocks ahead (their threads
    plus :data:`BLOCKS_AHEAD_EXTRA`), so that the caller's work on one block overlaps the reading of the
    next while at most that many blocks wait in the workers' memory; without one, each
    block is computed here when it is needed.
    """
    client = active_client()
    if client is None:
        for block in blocks:
            yield block.compute() if isinstance(block, da.Array) else np.asarray(block)
        return
    ahead = sum(client.nthreads().values()) + BLOCKS_AHEAD_EXTRA
    source = iter(blocks)
    pending: collections.deque = collections.deque()
    for block in source:
        pending.append(client.compute(block) if isinstance(block, da.Array) else block)
        if len(pending) > ahead:
            yield _result(pending.popleft())
    while pending:
        yield _result(pending.popleft())


def _result(item: Any) -> np.ndarray:
    return np.asarray(item.result() if hasattr(item, "result") else item)
