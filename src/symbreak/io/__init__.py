"""Reading and writing 4D-STEM data: :func:`load`, :func:`save`, :func:`formats`.

Readers are chosen by suffix, and by sniffing the file where a suffix is shared (an
``.h5`` can be the paper's layout, EMD 1.0 / py4DSTEM, HyperSpy or plain HDF5). Every
reader returns a lazy (dask) or memory-mapped :class:`~symbreak.dataset.Dataset4D`:
nothing is read until asked, and one pattern or one scan row reads only that part.

The functions live in :mod:`symbreak.io.api` and are imported on first use, so that
light modules (``symbreak.io.spec``) do not pull in dask and xarray.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["load", "save", "formats"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'symbreak.io' has no attribute {name!r}")
    value = getattr(importlib.import_module("symbreak.io.api"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
