"""``--scheduler``, ``--workers`` and ``--memory-budget``: where and within how much
memory the array stages of a command run."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any


def add_memory_option(parser: Any) -> None:
    """Add ``--memory-budget SIZE``."""
    parser.add_argument("--memory-budget", metavar="SIZE",
                        help="memory to use (per worker with a cluster): 4GB, 512MiB or a "
                        "fraction of available memory (default: $SYMBREAK_MEMORY_BUDGET or "
                        "0.25)")


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler ADDRESS``, ``--workers N`` and ``--memory-budget SIZE``."""
    group = parser.add_argument_group("memory and dask cluster")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the array stages on the dask.distributed scheduler at "
                       "ADDRESS (tcp://host:8786, started with `dask scheduler`)")
    where.add_argument("--workers", type=int, metavar="N",
                       help="run the array stages on N local dask worker processes")
    add_memory_option(group)


@contextlib.contextmanager
def cluster_from_args(args: argparse.Namespace) -> Iterator[Any]:
    """The memory budget and the dask cluster the options ask for (the budget is set
    first, so that local worker processes inherit it); yields the client or None."""
    from ..engine import budget_scope, use_cluster

    with budget_scope(getattr(args, "memory_budget", None)), \
            use_cluster(getattr(args, "scheduler", None), getattr(args, "workers", None)) \
            as client:
        yield client
