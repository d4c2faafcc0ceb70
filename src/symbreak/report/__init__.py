"""The HTML report of an ``analyze`` results folder, built from the saved results only."""

from .build import report

__all__ = ["report"]
