"""The memory budget: the one place that reads it.

The budget is, in this order, the innermost :func:`budget_scope`, ``$SYMBREAK_MEMORY_BUDGET``
or :data:`DEFAULT_FRACTION` of the available memory. Stages never read it themselves: they
ask :mod:`symbreak.engine.policy` for chunk shapes and in-memory decisions, stating how
many working copies of a chunk they hold.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import math
import os
from typing import Any, Callable, Iterator, TypeVar

from ..errors import SettingsError
from .heap import limit_heap_growth

DEFAULT_FRACTION = 0.25
"""Budget when none is given: this fraction of the available memory."""
ENV_VAR = "SYMBREAK_MEMORY_BUDGET"
_SCOPE: contextvars.ContextVar[str | int | float | None] = contextvars.ContextVar(
    "symbreak_memory_budget", default=None)


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``, or the cgroup limit or the address
    space left under ``RLIMIT_AS`` if smaller)."""
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
    space = address_space_left()
    return int(avail if space is None else min(avail, space))


def address_space_left() -> int | None:
    """Bytes of address space this process may still map under ``RLIMIT_AS`` (``ulimit
    -v``), or None without such a limit: beyond it every allocation fails, whatever
    memory is free."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError, IndexError):
        return None
    return max(0, limit - mapped)


MAX_BUDGET = 2**60
"""Largest memory size [bytes] accepted (1 EiB): beyond any machine, and still exact."""


def parse_size(value: str | int | float) -> int:
    """Parse ``"4GB"``, ``"512 MiB"``, ``"0.5"`` (fraction of available memory) or bytes.

    Raises
    ------
    SettingsError
        Not a size, not positive, not finite or above :data:`MAX_BUDGET`.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number, unit, written = float(value), "", ""
        except OverflowError:  # an int beyond any float
            number, unit, written = math.inf, "", ""
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
        written = text[i:]
        unit = written.removesuffix("B").removesuffix("I")
    factors = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    if unit not in factors:
        raise SettingsError(f"unknown unit in memory size {value!r}; use KB, MB, GB or TB")
    if not number > 0:
        raise SettingsError(f"memory size must be a positive number, got {value!r}")
    if written == "" and number <= 1:  # a bare number up to 1 is a fraction; "1B" a byte
        return int(number * available_memory())
    size = number * factors[unit]
    if not size <= MAX_BUDGET:  # also inf
        raise SettingsError(f"memory size {value!r} is more than any machine has (at most "
                            f"{MAX_BUDGET / 2**60:g} EiB); write e.g. '4GB' or 0.25 (a "
                            "fraction of available memory)")
    return int(size)


def budget_bytes() -> int:
    """The memory budget [bytes]: the innermost :func:`budget_scope`, else
    ``$SYMBREAK_MEMORY_BUDGET``, else :data:`DEFAULT_FRACTION` of the available memory.

    The only reader of the budget; everything else goes through the engine."""
    budget = _SCOPE.get()
    if budget is not None:
        return budget  # already in bytes
    if ENV_VAR not in os.environ:
        return parse_size(DEFAULT_FRACTION)
    try:
        return parse_size(os.environ[ENV_VAR])
    except SettingsError as exc:
        raise SettingsError(f"${ENV_VAR}: {exc}; set it to a size or unset it") from None


@contextlib.contextmanager
def budget_scope(budget: str | int | float | None) -> Iterator[int]:
    """Inside the block :func:`budget_bytes` returns ``budget`` [bytes, or the forms of
    :func:`parse_size`]; None keeps the current budget.

    The value is also exported as ``$SYMBREAK_MEMORY_BUDGET`` (in bytes) so that worker
    processes started inside the block (DataLoader, dask) honour it too, and glibc is told
    to return freed chunk buffers (:func:`~symbreak.engine.heap.limit_heap_growth`).

    Yields
    ------
    int
        The budget in force inside the block [bytes].
    """
    limit_heap_growth()
    if budget is None:
        yield budget_bytes()
        return
    value = _parse_budget(budget)
    token = _SCOPE.set(value)
    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = f"{value}B"  # bytes, never read as a fraction
    try:
        yield value
    finally:
        _SCOPE.reset(token)
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before


def _parse_budget(budget: str | int | float) -> int:
    """:func:`parse_size` of a ``memory_budget=`` given by the caller, errors naming it."""
    try:
        return parse_size(budget)
    except SettingsError as exc:
        text = "".join(str(budget).split())[:40] or "''"
        raise SettingsError(f"memory_budget={text}: {exc}") from None


F = TypeVar("F", bound=Callable[..., Any])


def takes_budget(func: F) -> F:
    """Decorate a user-facing function with a ``memory_budget=`` parameter: the call runs
    inside that budget (None: the current one), so nothing below it passes the value on.

    Unlike :func:`budget_scope` it sets the budget for this thread only (no environment
    variable, which other threads share) and leaves glibc's heap settings alone."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        budget = signature.bind_partial(*args, **kwargs).arguments.get("memory_budget")
        if budget is None:
            return func(*args, **kwargs)
        token = _SCOPE.set(_parse_budget(budget))
        try:
            return func(*args, **kwargs)
        finally:
            _SCOPE.reset(token)

    return wrapper  # type: ignore[return-value]
