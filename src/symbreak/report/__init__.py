"""The HTML report of an ``analyze`` results folder, built from the saved results only."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

from .build import open_results, report

__all__ = ["report", "open_results"]


class _CallableModule(types.ModuleType):
    """``symbreak.report`` is both this package and the function: once the package is
    imported Python binds the name ``symbreak.report`` to the module, so the module
    forwards calls to :func:`report`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
