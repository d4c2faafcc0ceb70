"""Run a per-chunk kernel over every pattern of a data set, in memory or out of core.

A kernel maps a block (a, b, ky, kx) of patterns to a block (a, b, n_out) of numbers and
depends on nothing else. numpy arrays and memory maps run in this process from a thread
pool (:mod:`symbreak.engine.local`); lazy data go through dask's ``map_blocks`` with
chunks from the memory budget; both give the same numbers. Chunks run in a few threads
(the kernels release the GIL), each with single-threaded BLAS: the kernels are memory
bound and nested BLAS threads only fight over the cores. When a dask.distributed client is active
(:func:`symbreak.engine.use_cluster`), the chunks run on its workers instead, sized to
the workers' memory limit; memory maps reach the workers as file descriptions, arrays in
memory as blocks scattered once.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dask.array as da
import numpy as np

from ..arrays import populate_pages, release_pages
from ..progress import DaskProgress
from .chunking import PatternData, as_chunked
from .cluster import active_client
from .local import map_local, n_workers, single_threaded_blas, sum_local

Kernel = Callable[..., np.ndarray]
BLOCKS_AHEAD_EXTRA = 1
""":func:`computed` on a cluster: blocks computed ahead beyond one per worker thread."""


def map_patterns(data: PatternData, kernel: Kernel, n_out: int, *, dtype: type = np.float64,
                 extra: np.ndarray | None = None, progress: bool | None = None,
                 desc: str = "") -> np.ndarray:
    """Apply ``kernel`` to every scan chunk; returns (scan_y, scan_x, n_out).

    With ``extra`` (an array (scan_y, scan_x, ...) of per-pattern values) the kernel is
    called as ``kernel(block, extra[rows, cols])``. Chunks come from
    :func:`~symbreak.engine.chunking.chunk_shape`.
    """
    client = active_client()
    if client is None and not data.is_lazy:
        return map_local(data.array, kernel, n_out, dtype, extra, progress, desc)
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


def sum_over_chunks(data: PatternData, kernel: Kernel, *, progress: bool | None = None,
                    desc: str = "") -> np.ndarray:
    """The sum over all scan chunks of ``kernel(block)``, a (ky, kx) float64 array for
    each (a, b, ky, kx) block (e.g. the block's pattern sum): a reduction over the
    patterns in one pass, with the chunks of :func:`map_patterns`."""
    client = active_client()
    if client is None and not data.is_lazy:
        return sum_local(data.array, kernel, progress, desc)
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
    populate_pages(block)
    result = np.asarray(kernel(block), dtype=np.float64)
    release_pages(block)
    return result[None, None]


def _apply(block: np.ndarray, kernel: Kernel, extra: np.ndarray | None,
           block_info: dict | None = None) -> np.ndarray:
    populate_pages(block)
    if extra is None:
        result = kernel(block)
    else:
        (y0, y1), (x0, x1) = block_info[0]["array-location"][:2]
        result = kernel(block, extra[y0:y1, x0:x1])
    release_pages(block)
    return result[:, :, None, :]


def lazy_map_patterns(data: PatternData, kernel: Kernel, *, dtype: type) -> da.Array:
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
