"""glibc heap tuning for chunked work: freed chunk buffers go back to the OS at once
(:func:`limit_heap_growth`), except inside :func:`reused_heap`, where the few-MiB buffers
of batch after batch are reused.

Mechanics only: whether a stage may reuse buffers under the memory budget in force is
the policy's decision (:func:`symbreak.engine.policy.reused_buffers`). Linux/glibc only;
elsewhere every function here is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

_HEAP_LIMITED: list[bool] = []
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
MMAP_THRESHOLD = 1 * 2**20
TRIM_THRESHOLD = 64 * 2**10


def limit_heap_growth() -> bool:
    """Make glibc give freed chunk buffers back to the OS at once.

    glibc raises its mmap threshold to 32 MiB after the first large block is freed; from
    then on every chunk buffer is carved from the heap of the thread that made it and
    stays resident after it is freed, so a pass over a file with a few worker threads
    grows the resident set by hundreds of MiB beyond the budget. A fixed 1 MiB threshold
    (``mallopt``, as dask.distributed does for its workers through ``MALLOC_*`` variables)
    maps every chunk buffer separately and unmaps it when freed. Linux/glibc only; returns
    whether it applied. Child processes started later inherit it through the environment.
    """
    if _HEAP_LIMITED:
        return _HEAP_LIMITED[0]
    applied = False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        applied = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        applied = False
    if applied:
        os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD))
        os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(TRIM_THRESHOLD))
    _HEAP_LIMITED.append(applied)
    return applied


REUSE_MMAP_THRESHOLD = 32 * 2**20
"""Inside :func:`reused_heap`: allocations up to this size [bytes] come from the heap."""
_REUSE_LOCK = threading.Lock()
_REUSE_USERS = [0]


def _mallopt(param: int, value: int) -> bool:
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(param, value))
    except (OSError, AttributeError):
        return False


def _malloc_trim() -> None:
    """Give the free pages of every glibc arena back to the OS (``malloc_trim(0)``): the
    buffers reused inside :func:`reused_heap` would otherwise stay resident (a 1 GiB
    memory cgroup killed an out-of-core analysis after encoding without it)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def limited_threshold() -> int | None:
    """The mmap threshold [bytes] set by :func:`limit_heap_growth` here or inherited
    through ``MALLOC_MMAP_THRESHOLD_`` (a dask worker), else None."""
    if _HEAP_LIMITED and _HEAP_LIMITED[0]:
        return MMAP_THRESHOLD
    text = os.environ.get("MALLOC_MMAP_THRESHOLD_", "")
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def reused_heap() -> Iterator[None]:
    """Inside the block, freed buffers up to :data:`REUSE_MMAP_THRESHOLD` are reused.

    Work that allocates and frees the same few-MiB buffers thousands of times (a neural
    network's activations, batch after batch) pays a fresh mapping and its page faults
    for each under :func:`limit_heap_growth`'s 1 MiB threshold (measured: rrVAE encoding
    in a worker thread at 0.65-0.75 x the speed of the same encoding without it). While
    any thread is inside, the threshold is raised; the last one out restores it. A no-op
    where heap growth is not limited.
    """
    limited = limited_threshold()
    if limited is None:
        yield
        return
    with _REUSE_LOCK:
        _REUSE_USERS[0] += 1
        if _REUSE_USERS[0] == 1:
            _mallopt(M_MMAP_THRESHOLD, REUSE_MMAP_THRESHOLD)
    try:
        yield
    finally:
        with _REUSE_LOCK:
            _REUSE_USERS[0] -= 1
            if _REUSE_USERS[0] == 0:
                _mallopt(M_MMAP_THRESHOLD, limited)
                _malloc_trim()  # the reused buffers' pages, in every thread's arena, go back
