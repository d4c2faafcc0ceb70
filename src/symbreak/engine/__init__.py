"""The chunk engine: the one layer that reads the memory budget, picks chunk shapes and
maps kernels over chunks, on local threads or on a dask.distributed cluster.

Stages say *what* they hold per chunk (a named ``COPIES_*`` constant of
:mod:`symbreak.engine.policy`) and the engine says *how much* that is:

* :mod:`~symbreak.engine.budget`: :func:`budget_bytes` (the only reader of the budget),
  :func:`budget_scope` and :func:`takes_budget` (set it), :func:`parse_size`;
* :mod:`~symbreak.engine.policy`: the copies constants, :func:`placement` (the one
  in-memory or streamed decision, a :class:`Placement`), :func:`scan_chunks`,
  :func:`items_within`, :func:`shuffle_buffer_patterns`, :func:`reused_buffers`;
* :mod:`~symbreak.engine.chunking`: :func:`as_dask`, :func:`as_chunked`,
  :func:`chunk_shape` (the one place that cuts data into dask chunks);
* :mod:`~symbreak.engine.cluster`: :func:`use_cluster`, :func:`active_client`;
* :mod:`~symbreak.engine.mapper`: :func:`map_patterns`, :func:`sum_over_chunks`,
  :func:`lazy_map_patterns`, :func:`computed`;
* :mod:`~symbreak.engine.heap`: glibc heap tuning (:func:`limit_heap_growth`);
* :mod:`~symbreak.engine.staging`: :func:`~symbreak.engine.staging.stage_patterns`,
  lazy patterns written once to zarr (imported on its own: it needs :mod:`symbreak.io`);
* :mod:`~symbreak.engine.kernels`: the compiled streaming kernels (imported lazily).

The engine never imports :mod:`symbreak.dataset`: it sees data through
:class:`~symbreak.engine.chunking.PatternData`.
"""

from __future__ import annotations

from .budget import (DEFAULT_FRACTION, ENV_VAR, available_memory, budget_bytes, budget_scope,
                     parse_size, takes_budget)
from .chunking import PatternData, as_chunked, as_dask, chunk_shape
from .cluster import active_client, scatter_array, use_cluster, worker_resources
from .heap import limit_heap_growth
from .mapper import (computed, lazy_map_patterns, map_patterns, n_workers,
                     single_threaded_blas, sum_over_chunks)
from .policy import (COPIES_DECOMPRESSED, COPIES_ENCODE, COPIES_GRAM,
                     COPIES_IN_MEMORY_DECOMPOSE, COPIES_KERNEL_PER_THREAD, COPIES_KERNEL_SPARE,
                     COPIES_MULTISLICE, COPIES_PERIODIC_FIT, COPIES_POTENTIAL, COPIES_READ,
                     COPIES_SOURCE_BLUR, COPIES_WRITE, IN_MEMORY_SHARE, MAX_CHUNK_BYTES,
                     MAX_READ_CHUNK_BYTES, SHUFFLE_BUFFER_SHARE, SIMULATION_SHARE, WAVE_COPIES,
                     Placement, chunks_within, items_within, kernel_copies, placement,
                     reused_buffers, scan_chunks, shuffle_buffer_patterns)

__all__ = [
    "COPIES_DECOMPRESSED", "COPIES_ENCODE", "COPIES_GRAM", "COPIES_IN_MEMORY_DECOMPOSE",
    "COPIES_KERNEL_PER_THREAD", "COPIES_KERNEL_SPARE", "COPIES_MULTISLICE",
    "COPIES_PERIODIC_FIT", "COPIES_POTENTIAL", "COPIES_READ", "COPIES_SOURCE_BLUR",
    "COPIES_WRITE", "DEFAULT_FRACTION", "ENV_VAR", "IN_MEMORY_SHARE", "MAX_CHUNK_BYTES",
    "MAX_READ_CHUNK_BYTES", "PatternData", "Placement", "SHUFFLE_BUFFER_SHARE",
    "SIMULATION_SHARE", "WAVE_COPIES", "active_client", "as_chunked", "as_dask",
    "available_memory", "budget_bytes", "budget_scope", "chunk_shape", "chunks_within",
    "computed", "items_within", "kernel_copies", "lazy_map_patterns", "limit_heap_growth",
    "map_patterns", "n_workers", "parse_size", "placement", "reused_buffers", "scan_chunks",
    "scatter_array", "shuffle_buffer_patterns", "single_threaded_blas", "sum_over_chunks",
    "takes_budget", "use_cluster", "worker_resources",
]
