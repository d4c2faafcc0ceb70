"""Old home of the memory budget, kept for code written against it: the budget now lives
in :mod:`symbreak.engine` (``budget_scope``, ``budget_bytes``, the chunk policy)."""

from __future__ import annotations

from .engine.budget import available_memory, budget_scope, parse_size
from .engine.budget import budget_bytes as memory_budget
from .engine.policy import IN_MEMORY_SHARE

__all__ = ["IN_MEMORY_SHARE", "available_memory", "budget_scope", "memory_budget", "parse_size"]
