"""Helpers shared by the readers and writers: path checks, chunk choice, JSON-safe values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np

from ..arrays import H5Dataset, ReleasingMemmap
from ..engine import COPIES_READ, MAX_READ_CHUNK_BYTES, scan_chunks
from ..errors import DataError, FormatError
from ..jsonable import dumps, jsonable, loads  # noqa: F401  (used as common.*)
from ..storage.safe_output import check_kind

def existing_path(path: str | os.PathLike) -> Path:
    """The path as :class:`Path`; a clear error if it does not exist."""
    path = Path(path).expanduser()
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            near = sorted(p.name for p in path.parent.iterdir() if p.stem == path.stem)[:5]
            if near:
                hint = f" (files with that stem here: {', '.join(near)})"
        raise FormatError(f"{path}: no such file or directory; check the path{hint}")
    check_kind(path)
    return path


def size_on_disk(path: Path) -> int:
    """Bytes a file or a directory tree occupies (sum of file sizes)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def check_4d(shape: tuple[int, ...], dtype: Any, path: Path, what: str = "data") -> None:
    """Reject arrays that are not 4-D real numbers before wrapping them."""
    dtype = np.dtype(dtype)
    if len(shape) != 4:
        fix = (
            "pass scan_shape=(ny, nx) to reshape a stack of patterns"
            if len(shape) == 3
            else "select or reduce the extra axes first and save a 4-D array "
            "(scan_y, scan_x, ky, kx)"
        )
        raise DataError(f"{path}: {what} has {len(shape)} dimensions {tuple(shape)}, "
                        f"expected 4 (scan_y, scan_x, ky, kx); {fix}")
    if dtype.kind not in "biuf":
        raise DataError(
            f"{path}: {what} has dtype {dtype}, not a real number type; 4D-STEM data must be "
            "integer counts or float intensities (store abs(psi)**2 for complex waves)"
        )
    if 0 in shape:
        raise DataError(f"{path}: {what} is empty, shape {tuple(shape)}")


def reshape_stack(array: Any, scan_shape: tuple[int, int] | None, path: Path) -> Any:
    """Reshape a 3-D stack (n, ky, kx) to (ny, nx, ky, kx) when ``scan_shape`` is given."""
    if scan_shape is None or array.ndim != 3:
        return array
    ny, nx = (int(n) for n in scan_shape)
    if ny * nx != array.shape[0]:
        raise DataError(f"{path}: scan_shape {(ny, nx)} has {ny * nx} positions but the "
                        f"stack holds {array.shape[0]} patterns; give a matching scan_shape")
    return array.reshape(ny, nx, *array.shape[1:])


def default_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, int, int, int]:
    """Whole-pattern chunks of at most
    :data:`~symbreak.engine.policy.MAX_READ_CHUNK_BYTES` [bytes] of which
    :data:`~symbreak.engine.policy.COPIES_READ` fit the memory budget."""
    return scan_chunks(shape, itemsize, copies=COPIES_READ,
                       max_chunk_bytes=MAX_READ_CHUNK_BYTES)


def as_dask(array: Any, chunks: Any, lock: Any = False) -> da.Array:
    """Wrap an array-like (h5py dataset, zarr array, memmap) lazily in dask.

    h5py datasets and memory maps are wrapped (:class:`~symbreak.arrays.H5Dataset`,
    :class:`~symbreak.arrays.ReleasingMemmap`) so that the graph pickles to dask.distributed
    workers as a file path, not as data (zarr arrays already pickle as their store).
    """
    if isinstance(chunks, str) and chunks == "auto":
        chunks = default_chunks(tuple(array.shape), np.dtype(array.dtype).itemsize)
    if isinstance(array, h5py.Dataset):
        array = H5Dataset(array)
    elif isinstance(array, np.memmap):
        array = ReleasingMemmap(array)
    # inline: each chunk's task carries the (small) file description itself, so a
    # worker never waits for another to send it the source object
    return da.from_array(array, chunks=chunks, lock=lock, asarray=True, name=False,
                         inline_array=True)


def lazy_array(array: Any, chunks: Any = "auto") -> da.Array:
    """Any 4-D array as dask without reading it; memory maps through
    :class:`ReleasingMemmap` so a full pass keeps memory bounded."""
    if isinstance(array, da.Array):
        if isinstance(chunks, str) and chunks == "auto":
            return array
        return array.rechunk(chunks)
    return as_dask(array, chunks)
