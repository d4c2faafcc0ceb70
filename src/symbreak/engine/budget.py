"""The memory budget every stage honours, and chunk shapes that fit it."""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Iterator

from .errors import SettingsError

DEFAULT_FRACTION = 0.25
IN_MEMORY_SHARE = 4  # a stage holds data in memory up to 1/4 of the budget
ENV_VAR = "SYMBREAK_MEMORY_BUDGET"
_SCOPE: contextvars.ContextVar[str | int | float | None] = contextvars.ContextVar(
    "symbreak_memory_budget", default=None)


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``, or the cgroup limit if smaller)."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            avail = min(avail, int(text))
    return int(avail)


def parse_size(value: str | int | float) -> int:
    """Parse ``"4GB"``, ``"512 MiB"``, ``"0.5"`` (fraction of available memory) or bytes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        text = str(value).strip().upper().replace(" ", "")
        i = len(text)
        while i and not (text[i - 1].isdigit() or text[i - 1] == "."):
            i -= 1
        try:
            number = float(text[:i])
        except ValueError:
            raise SettingsError(
                f"cannot read memory size {value!r}; write e.g. '4GB', '512MiB' or 0.25 "
                "(a fraction of available memory)"
            ) from None
        unit = text[i:].removesuffix("B").removesuffix("I")
    factors = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    if unit not in factors:
        raise SettingsError(f"unknown unit in memory size {value!r}; use KB, MB, GB or TB")
    if number <= 0:
        raise SettingsError(f"memory size must be positive, got {value!r}")
    if unit == "" and number <= 1:
        return int(number * available_memory())
    return int(number * factors[unit])


def memory_budget(budget: str | int | float | None = None) -> int:
    """The budget in bytes: the argument, else the innermost :func:`budget_scope`, else
    ``$SYMBREAK_MEMORY_BUDGET``, else 25 % of available memory."""
    if budget is None:
        budget = _SCOPE.get()
    if budget is None:
        budget = os.environ.get(ENV_VAR, DEFAULT_FRACTION)
    return parse_size(budget)


@contextlib.contextmanager
def budget_scope(budget: str | int | float | None) -> Iterator[int]:
    """Inside the block every ``memory_budget()`` call without an argument returns
    ``budget`` (same forms as :func:`parse_size`); None keeps the current budget.
    The value is also exported as ``$SYMBREAK_MEMORY_BUDGET`` (in bytes) so that worker
    processes started inside the block (DataLoader, dask) honour it too."""
    limit_heap_growth()
    if budget is None:
        yield memory_budget()
        return
    value = parse_size(budget)
    token = _SCOPE.set(value)
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(value)
    try:
        yield value
    finally:
        _SCOPE.reset(token)
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before


def scan_chunks(
    shape: tuple[int, ...], itemsize: int, budget: int, copies: float = 4.0
) -> tuple[int, int, int, int]:
    """Chunk shape (rows, cols, ky, kx) for a 4-D array so that ``copies`` chunks fit in
    ``budget`` bytes. Whole patterns are never split; whole scan rows are preferred."""
    ny, nx, ky, kx = (int(n) for n in shape)
    pattern = ky * kx * itemsize
    target = max(int(budget / copies), pattern)
    # at most ~64 MiB per chunk: larger chunks only add latency and memory
    per_chunk = max(1, min(target // pattern, max(1, 64 * 2**20 // pattern)))
    if per_chunk >= nx:
        rows = int(min(ny, max(1, per_chunk // nx)))
        return (rows, nx, ky, kx)
    return (1, int(per_chunk), ky, kx)


def rows_per_chunk_bytes(nbytes_per_row: int, budget: int, copies: float = 4.0) -> int:
    """How many scan rows of ``nbytes_per_row`` fit ``copies`` times in ``budget``."""
    return int(max(1, budget // max(1, int(copies * nbytes_per_row))))


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
