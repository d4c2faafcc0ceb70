"""Cutting 4D-STEM data into dask chunks: the one place that wraps an array as dask.

:func:`as_dask` wraps any array (numpy, memory map, dask) with given or default chunks;
:func:`as_chunked` cuts data into the chunks a streaming kernel may hold within the
budget (:func:`chunk_shape`). On a dask.distributed cluster an in-memory array goes to
the workers once (scattered), a memory map as its file description.

The engine knows data only through :class:`PatternData` (what
:class:`symbreak.dataset.Dataset4D` provides), so that it never imports the data set.
"""

from __future__ import annotations

from typing import Any, Protocol

import dask.array as da
import numpy as np

from ..arrays import NoCopyView, file_view
from . import budget as _budget
from . import policy as _policy
from .cluster import active_client, scatter_array, worker_resources
from .local import n_workers


class PatternData(Protocol):
    """A 4-D array (scan_y, scan_x, ky, kx) of patterns, as the engine sees a data set."""

    @property
    def array(self) -> Any: ...

    @property
    def shape(self) -> tuple[int, int, int, int]: ...

    @property
    def pattern_shape(self) -> tuple[int, int]: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def is_lazy(self) -> bool: ...


def as_dask(array: Any, chunks: Any = "auto") -> da.Array:
    """A 4-D array as dask, no data read; a numpy array or memory map is wrapped, not copied.

    Parameters
    ----------
    array
        numpy array, memory map or dask array (scan_y, scan_x, ky, kx).
    chunks
        Dask chunks; ``"auto"`` keeps a dask array's own chunks and cuts an array in
        memory into scan rows when it is larger than :data:`~symbreak.engine.policy.MAX_CHUNK_BYTES`
        (else one chunk).
    """
    if isinstance(array, da.Array):
        return array if chunks == "auto" else array.rechunk(chunks)
    shape = tuple(int(n) for n in array.shape)
    if chunks == "auto":
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(array.dtype).itemsize
        chunks = (1, -1, -1, -1) if nbytes > _policy.MAX_CHUNK_BYTES else -1
    client = active_client()
    if client is not None and file_view(array) is None:
        # on a dask cluster an in-memory array goes to the workers once, not in graphs
        block = tuple(n if c == -1 else c for c, n in
                      zip(np.broadcast_to(np.asarray(chunks, dtype=object), 4), shape))
        return scatter_array(client, np.asarray(array), block)
    # a memory map travels as its file description: inline it in every chunk's task
    return da.from_array(NoCopyView(array), chunks=chunks, asarray=True, name=False,
                         inline_array=file_view(array) is not None)


def chunk_shape(data: PatternData) -> tuple[int, int, int, int]:
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


def as_chunked(data: PatternData) -> da.Array:
    """The data as dask with whole patterns per chunk and chunks within the budget."""
    chunks = chunk_shape(data)
    if data.is_lazy and _within(data.array.chunks, chunks):
        return data.array  # a rechunk would read ahead and hold several source chunks
    return as_dask(data.array, chunks)


def _within(current: tuple[tuple[int, ...], ...], target: tuple[int, int, int, int]) -> bool:
    """Whether existing chunks hold whole patterns and are no larger than ``target``."""
    if len(current[2]) != 1 or len(current[3]) != 1:
        return False
    biggest = max(current[0]) * max(current[1])
    return biggest <= target[0] * target[1]
