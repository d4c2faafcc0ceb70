"""numpy arrays and memory maps inside dask without copies, and with bounded memory.

``dask.array.from_array`` copies any input that has a ``copy`` method; for a memory map
that means reading the whole file into memory. These wrappers hide ``copy`` and, for
memory maps, give back the pages of what was read so that a full pass over a file larger
than memory keeps the resident set small (the pages stay in the OS page cache).
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np


def release_pages(array: Any) -> None:
    """Drop from this process the pages of the memory map that ``array`` views (if any)."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        try:
            base.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass


class NoCopyView:
    """Array-like over a numpy array or memory map whose indexing returns views."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.array[key]


class ReleasingMemmap(NoCopyView):
    """Array-like over a :class:`numpy.memmap` that copies what is indexed and then drops
    the mapping's resident pages, for streaming a file through once."""

    def __getitem__(self, key: Any) -> np.ndarray:
        out = np.array(self.array[key])
        release_pages(self.array)
        return out
