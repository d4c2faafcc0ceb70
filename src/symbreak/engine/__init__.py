"""The chunk engine: the one layer that reads the memory budget, picks chunk shapes and
maps kernels over chunks, on local threads or on a dask.distributed cluster.

Stages say *what* they hold per chunk (a named ``COPIES_*`` constant of
:mod:`symbreak.engine.policy`) and the engine says *how much* that is:

* :mod:`~symbreak.engine.budget`: :func:`budget_bytes` (the only reader of the budget),
  :func:`budget_scope` and :func:`takes_budget` (set it), :func:`parse_size`;
* :mod:`~symbreak.engine.policy`: the copies constants, :func:`scan_chunks`,
  :func:`fits_in_memory`, :func:`fits_budget`, :func:`items_within`,
  :func:`shuffle_buffer_patterns`;
* :mod:`~symbreak.engine.cluster`: :func:`use_cluster`, :func:`active_client`;
* :mod:`~symbreak.engine.mapper`: :func:`map_patterns`, :func:`sum_over_chunks`,
  :func:`lazy_map_patterns`, :func:`as_chunked`, :func:`chunk_shape`, :func:`computed`;
* :mod:`~symbreak.engine.kernels`: the compiled streaming kernels (imported lazily).
"""

from __future__ import annotations

from .budget import (DEFAULT_FRACTION, ENV_VAR, available_memory, budget_bytes, budget_scope,
                     limit_heap_growth, parse_size, reused_buffers, takes_budget)
from .cluster import active_client, scatter_array, use_cluster, worker_resources
from .mapper import (as_chunked, chunk_shape, computed, lazy_map_patterns, map_patterns,
                     n_workers, single_threaded_blas, sum_over_chunks)
from .policy import (COPIES_DECOMPRESSED, COPIES_ENCODE, COPIES_GRAM,
                     COPIES_IN_MEMORY_DECOMPOSE, COPIES_KERNEL_PER_THREAD, COPIES_KERNEL_SPARE,
                     COPIES_MULTISLICE, COPIES_READ, COPIES_WRITE, IN_MEMORY_SHARE,
                     MAX_CHUNK_BYTES, MAX_READ_CHUNK_BYTES, SHUFFLE_BUFFER_SHARE,
                     SIMULATION_SHARE, WAVE_COPIES, chunks_within, fits_budget, fits_in_memory,
                     items_within, kernel_copies, scan_chunks, shuffle_buffer_patterns)

__all__ = [
    "COPIES_DECOMPRESSED", "COPIES_ENCODE", "COPIES_GRAM", "COPIES_IN_MEMORY_DECOMPOSE",
    "COPIES_KERNEL_PER_THREAD", "COPIES_KERNEL_SPARE", "COPIES_MULTISLICE", "COPIES_READ",
    "COPIES_WRITE", "DEFAULT_FRACTION", "ENV_VAR", "IN_MEMORY_SHARE", "MAX_CHUNK_BYTES",
    "MAX_READ_CHUNK_BYTES", "SHUFFLE_BUFFER_SHARE", "SIMULATION_SHARE", "WAVE_COPIES",
    "active_client", "as_chunked", "available_memory", "budget_bytes", "budget_scope",
    "chunk_shape", "chunks_within", "computed", "fits_budget", "fits_in_memory",
    "items_within", "kernel_copies", "lazy_map_patterns", "limit_heap_growth", "map_patterns",
    "n_workers", "parse_size", "reused_buffers", "scan_chunks", "scatter_array",
    "shuffle_buffer_patterns", "single_threaded_blas", "sum_over_chunks", "takes_budget",
    "use_cluster", "worker_resources",
]
