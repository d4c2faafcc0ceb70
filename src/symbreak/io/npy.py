"""NumPy ``.npy`` files, memory-mapped read-only (nothing is read until sliced)."""

from __future__ import annotations

import tokenize
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import Dataset4D
from ..errors import FormatError
from . import common
from .guards.failures import detail, reading


def read_header(fh: Any, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from an open .npy stream, with clear errors."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fh)
        return np.lib.format.read_array_header_2_0(fh)
    except (ValueError, OSError, SyntaxError, TypeError, EOFError, tokenize.TokenError) as exc:
        raise FormatError(f"{path}: not a valid .npy file ({detail(exc)}); the file is corrupt or "
                          "truncated: write it again with numpy.save") from None


def check_size(path: Path, shape: tuple[int, ...], dtype: np.dtype, offset: int,
               available: int) -> None:
    """Refuse a header that declares more bytes than the file holds (no allocation)."""
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if offset + needed > available:
        raise FormatError(
            f"{path}: header declares shape {tuple(shape)} {dtype} = {needed:,} bytes but "
            f"only {max(available - offset, 0):,} bytes of data are present; the file is "
            "truncated or its header is corrupt: copy or write it again"
        )


def read(path: Path, *, format: str, dataset: str | None, chunks: Any,
         scan_shape: tuple[int, int] | None, allow_external: bool = False) -> Dataset4D:
    if path.is_dir():
        raise FormatError(f"{path} is a directory, not a .npy file; give the file path")
    with reading(path, "the .npy file"):
        return _read(path, chunks, scan_shape)


def _read(path: Path, chunks: Any, scan_shape: tuple[int, int] | None) -> Dataset4D:
    with open(path, "rb") as fh:
        shape, fortran, dtype = read_header(fh, path)
        offset = fh.tell()
    if dtype.hasobject or dtype.kind not in "biuf":
        common.check_4d((0,) * 4, dtype, path)
    check_size(path, shape, dtype, offset, path.stat().st_size)
    array = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                      order="F" if fortran else "C")
    array = common.reshape_stack(array, scan_shape, path)
    common.check_4d(array.shape, array.dtype, path)
    if not (isinstance(chunks, str) and chunks == "auto"):
        array = common.as_dask(array, chunks)
    return Dataset4D(array=array, source=str(path), metadata={"npy_fortran_order": fortran})
