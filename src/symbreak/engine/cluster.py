"""Run the array stages on a dask.distributed cluster: an existing one (scheduler
address) or an in-process ``LocalCluster`` of worker processes.

Every array stage computes through :func:`active_client` when a client is active, and
with dask's threaded scheduler in this process otherwise. ``distributed`` is imported
only when a cluster is asked for, so that plain use stays quick to start.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from ..errors import SettingsError
from .budget import parse_size

CONNECT_TIMEOUT = 10
"""Seconds to wait for a scheduler to answer."""
WORKER_MEMORY_FRACTION = 0.5
"""Share of a worker's memory limit its chunks may use (a worker pauses at 80 %)."""


def _distributed() -> Any:
    try:
        import distributed  # optional at import time: heavy, and only needed here
    except ImportError:
        raise SettingsError("dask.distributed is not installed, so --scheduler/--workers "
                            "cannot be used; pip install 'distributed>=2024.6'") from None
    return distributed


def _check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SettingsError(f"workers must be a positive integer, got {workers!r}")
    return workers


@contextlib.contextmanager
def use_cluster(scheduler: str | None = None, workers: int | None = None,
                threads_per_worker: int = 1, memory_limit: str | None = None
                ) -> Iterator[Any]:
    """Inside the block, array stages run on a dask.distributed cluster.

    Parameters
    ----------
    scheduler
        Address of a running scheduler, e.g. ``"tcp://host:8786"`` (``dask scheduler``).
    workers
        Start an in-process ``LocalCluster`` with this many worker processes instead.
    threads_per_worker
        Threads in each local worker process.
    memory_limit
        Memory limit of each local worker ("4GB"); default: dask's share of the machine.

    Yields
    ------
    distributed.Client or None
        The client (closed, with any cluster it started, on exit); None when neither
        ``scheduler`` nor ``workers`` is given (the local threaded scheduler is used).
    """
    if scheduler is not None and workers is not None:
        raise SettingsError("give a scheduler address or a number of workers, not both")
    if scheduler is None and workers is None:
        yield None
        return
    distributed = _distributed()
    if scheduler is not None:
        client = _connect(distributed, str(scheduler))
        with client:
            yield client
        return
    n = _check_workers(workers)
    if isinstance(threads_per_worker, bool) or not isinstance(threads_per_worker, int) \
            or threads_per_worker < 1:
        raise SettingsError(f"threads_per_worker must be a positive integer, "
                            f"got {threads_per_worker!r}")
    limit = "auto" if memory_limit is None else parse_size(memory_limit)
    with warnings.catch_warnings():
        # the scheduler's HTTP routes fall back to a free port when 8787 is taken
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = distributed.LocalCluster(n_workers=n, processes=True,
                                           threads_per_worker=threads_per_worker,
                                           memory_limit=limit, dashboard_address=None,
                                           silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as client:
        yield client


def _connect(distributed: Any, address: str) -> Any:
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SettingsError(
            f"cannot reach a dask scheduler at {address!r} within {CONNECT_TIMEOUT} s "
            f"({type(exc).__name__}); start one with `dask scheduler` and workers with "
            f"`dask worker ADDRESS`, check the address (tcp://host:8786), or use --workers N "
            "for a cluster on this machine") from None


def active_client() -> Any:
    """The dask.distributed client active in this process (``Client.as_current()`` or
    the default client), else None; also None inside
    ``dask.config.set(scheduler="threads")`` (or any other local scheduler)."""
    if sys.modules.get("distributed") is None:
        return None
    # another thread may be importing it (dask does in the checksum thread): the import
    # statement waits for that import to finish, a look in sys.modules would not
    import distributed
    chosen = dask.config.get("scheduler", None)
    if isinstance(chosen, str) and chosen not in ("dask.distributed", "distributed"):
        return None
    try:
        return distributed.Client.current(allow_global=True)
    except ValueError:
        return None


def worker_resources(client: Any) -> tuple[int | None, int]:
    """(memory [bytes] each worker may use for chunks, or None if unlimited/unknown;
    threads of the busiest worker) over the client's current workers."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # older distributed: no n_workers, every worker is listed
        info = client.scheduler_info()
    workers = info.get("workers", {}).values()
    limits = [int(w.get("memory_limit") or 0) for w in workers]
    threads = max([int(w.get("nthreads") or 1) for w in workers], default=1)
    known = [m for m in limits if m > 0]
    memory = int(min(known) * WORKER_MEMORY_FRACTION) if known else None
    return memory, threads


def scatter_array(client: Any, array: np.ndarray, chunks: tuple[int, ...]) -> da.Array:
    """An in-memory array as dask whose blocks were sent once to the workers (spread over
    them) instead of travelling, whole, inside every graph that uses it.

    ``chunks`` is one block shape (ints); the last blocks along an axis may be smaller.
    """
    grid = [tuple(min(c, n - s) for s in range(0, n, c)) for c, n in zip(chunks, array.shape)]
    index = list(itertools.product(*(range(len(g)) for g in grid)))
    blocks = [array[tuple(slice(i * c, i * c + g[i]) for i, c, g in zip(ii, chunks, grid))]
              for ii in index]
    futures = client.scatter(blocks, hash=False)  # hashing would read every byte
    name = "scattered-" + tokenize(futures)
    graph = {(name,) + ii: future for ii, future in zip(index, futures)}
    return da.Array(HighLevelGraph.from_collections(name, graph, dependencies=[]), name,
                    tuple(grid), dtype=array.dtype, meta=np.empty((0,) * array.ndim, array.dtype))
