"""Run a per-chunk kernel over every pattern of a data set, in memory or out of core.

A kernel maps a block (a, b, ky, kx) of patterns to a block (a, b, n_out) of numbers and
depends on nothing else, so the numpy path (a loop over scan chunks of a memory map or
array) and the dask path (``map_blocks``) run the same function and give the same numbers.
"""

from __future__ import annotations

import mmap
from typing import Any, Callable, Iterator

import dask
import dask.array as da
import numpy as np

from ..budget import memory_budget as _memory_budget
from ..budget import scan_chunks
from ..dataset import Dataset4D
from ..progress import DaskProgress, track

Kernel = Callable[[np.ndarray], np.ndarray]


def chunk_shape(data: Dataset4D, budget: int | str | float | None, copies: float = 6.0
                ) -> tuple[int, int, int, int]:
    """Scan chunk shape fitting the budget, counting a float32 copy besides the raw chunk."""
    itemsize = max(data.dtype.itemsize, 4)
    return scan_chunks(data.shape, itemsize, _memory_budget(budget), copies=copies)


def iter_blocks(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Iterator[tuple[slice, slice]]:
    """(rows, cols) slices covering the scan in chunks."""
    for y0 in range(0, shape[0], chunks[0]):
        for x0 in range(0, shape[1], chunks[1]):
            yield (slice(y0, min(y0 + chunks[0], shape[0])),
                   slice(x0, min(x0 + chunks[1], shape[1])))


def map_patterns(data: Dataset4D, kernel: Kernel, n_out: int, *, dtype: type = np.float64,
                 extra: np.ndarray | None = None,
                 memory_budget: int | str | float | None = None, progress: bool | None = None,
                 desc: str = "") -> np.ndarray:
    """Apply ``kernel`` to every scan chunk; returns (scan_y, scan_x, n_out).

    With ``extra`` (an array (scan_y, scan_x, ...) of per-pattern values) the kernel is
    called as ``kernel(block, extra[rows, cols])``.
    """
    chunks = chunk_shape(data, memory_budget)
    if data.is_lazy:
        arr = data.array.rechunk(chunks)
        out = arr.map_blocks(
            _with_extra, kernel=kernel, extra=extra, dtype=dtype, drop_axis=(2, 3),
            new_axis=2, chunks=arr.chunks[:2] + ((n_out,),),
        )
        with dask.config.set(scheduler="threads"), DaskProgress(desc, progress):
            return np.asarray(out.compute())
    out = np.empty(data.scan_shape + (n_out,), dtype=dtype)
    blocks = list(iter_blocks(data.shape, chunks))
    for ys, xs in track(blocks, desc=desc, progress=progress, unit="chunk"):
        block = np.asarray(data.array[ys, xs])
        out[ys, xs] = kernel(block) if extra is None else kernel(block, extra[ys, xs])
        release_pages(data.array)
    return out


def release_pages(array: Any) -> None:
    """Drop the pages of a read memory map from this process (they stay in the OS page
    cache), so that streaming through a file does not grow the resident set size."""
    mapping = getattr(array, "_mmap", None)
    if isinstance(mapping, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)


def _with_extra(block: np.ndarray, kernel: Kernel, extra: np.ndarray | None,
                block_info: dict | None = None) -> np.ndarray:
    if extra is None:
        return kernel(block)
    (y0, y1), (x0, x1) = block_info[0]["array-location"][:2]
    return kernel(block, extra[y0:y1, x0:x1])


def lazy_map_patterns(data: Dataset4D, kernel: Kernel, *, dtype: type,
                      memory_budget: int | str | float | None = None) -> da.Array:
    """A lazy (scan_y, scan_x, ky, kx) dask array of ``kernel`` applied per scan chunk."""
    chunks = chunk_shape(data, memory_budget)
    arr = data.to_dask(chunks) if data.is_lazy else da.from_array(data.array, chunks=chunks)
    return arr.map_blocks(kernel, dtype=dtype)
