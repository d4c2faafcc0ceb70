"""The HTML report of an ``analyze`` results folder, built from the saved results only."""

from __future__ import annotations

from .build import report
from .loading import open_results

__all__ = ["report", "open_results"]
