"""Low-level read failures (h5py, zarr, zipfile, numcodecs, parsers) as one-line FormatErrors.

A corrupt file makes the libraries under the readers raise whatever they raise: h5py a
``RuntimeError`` or ``KeyError``, zipfile ``BadZipFile``, numcodecs ``RuntimeError``, an XML
parser ``SyntaxError``. :func:`reading` wraps a block of reader code, and
:class:`GuardedArray` wraps the array dask reads chunks from, so that each of those becomes
a :class:`~symbreak.errors.FormatError` naming the file, the problem and the fix, also when
the corruption only shows once the data is read.
"""

from __future__ import annotations

import contextlib
import json
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterator

import dask.array as da
import numpy as np

from ...errors import FormatError, SymbreakError

READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, RuntimeError,
    EOFError, ArithmeticError, RecursionError, SyntaxError, struct.error, zlib.error,
    SystemError,  # what h5py raises when an HDF5 error occurs inside a visit callback
    zipfile.BadZipFile, json.JSONDecodeError, tokenize.TokenError,
)
MAX_DETAIL_CHARS = 160


def detail(exc: BaseException) -> str:
    """``Type: first line of the message``, at most :data:`MAX_DETAIL_CHARS` long."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def corrupt(path: Path | str, what: str, exc: BaseException) -> FormatError:
    """The FormatError for a read of ``what`` in ``path`` that failed with ``exc``."""
    return FormatError(f"{path}: {what} cannot be read ({detail(exc)}); the file is corrupt, "
                       "truncated or not in the format its name says: copy or write it again, "
                       "or pass format=NAME")


@contextlib.contextmanager
def reading(path: Path | str, what: str = "the file",
            errors: tuple[type[BaseException], ...] = READ_ERRORS) -> Iterator[None]:
    """Turn ``errors`` raised in the block into :func:`corrupt` FormatErrors (symbreak's own
    errors pass through unchanged)."""
    try:
        yield
    except SymbreakError:
        raise
    except errors as exc:
        raise corrupt(path, what, exc) from None


class GuardedArray:
    """Array-like over an on-disk array (h5py, zarr, a dask array from a third-party
    reader) whose reads raise :func:`corrupt` FormatErrors instead of library errors.

    It pickles with the array it wraps (which must pickle itself, as
    :class:`~symbreak.arrays.H5Dataset` and zarr arrays do).
    """

    def __init__(self, array: Any, path: Path | str, what: str = "data") -> None:
        self.array = array
        self.path = str(path)
        self.what = what
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        with reading(self.path, self.what):
            value = self.array[key]
            if isinstance(value, da.Array):
                value = value.compute(scheduler="synchronous")
            return np.asarray(value)


def guard_dask(array: da.Array, path: Path | str, what: str = "data") -> da.Array:
    """A dask array from a third-party reader, re-wrapped so that its chunk reads raise
    FormatErrors (same chunks; each chunk computes the original one)."""
    return da.from_array(GuardedArray(array, path, what), chunks=array.chunks, asarray=True,
                         name=False)
