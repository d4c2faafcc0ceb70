"""Stream a Dataset4D into an on-disk array chunk by chunk with bounded memory."""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da

from ..dataset import Dataset4D
from ..errors import SettingsError
from ..progress import DaskProgress
from .common import default_chunks, lazy_array


def write_chunks(data: Dataset4D, chunks: Any = None) -> tuple[int, int, int, int]:
    """Chunk shape for writing: given, else whole patterns within the memory budget."""
    if chunks is None:
        return default_chunks(data.shape, data.dtype.itemsize)
    try:
        shape = tuple(int(c) for c in chunks)
    except (TypeError, ValueError):
        raise SettingsError(f"chunks must be 4 integers (scan_y, scan_x, ky, kx), "
                            f"got {chunks!r}") from None
    if len(shape) != 4 or any(c == 0 or c < -1 for c in shape):
        raise SettingsError(f"chunks must be 4 positive integers (or -1 for a whole axis), "
                            f"got {chunks!r}")
    return tuple(n if c == -1 else min(c, n) for c, n in zip(shape, data.shape))  # type: ignore[return-value]


def store(data: Dataset4D, target: Any, *, chunks: Any, progress: bool | None,
          lock: bool = False) -> None:
    """Compute ``data`` chunk by chunk into ``target`` (zarr array or h5py dataset)."""
    array = lazy_array(data.array, write_chunks(data, chunks))
    with dask.config.set(scheduler="threads"), DaskProgress("writing", progress):
        da.store(array, target, lock=lock, compute=True)
