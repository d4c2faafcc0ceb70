"""Chunks missing from a zarr store, found when it is opened (no chunk is read).

zarr reads a chunk that is not in the store as its fill value, silently: a store with a
chunk lost in a copy gives all-zero patterns. The store's chunk keys are listed once (a
folder walk, or the zip archive's member list) and compared with the array's chunk grid.

The rule (``missing_chunks``):

* ``"auto"`` (default): a store that symbreak wrote with every chunk stored (its
  ``attrs["symbreak"]["every_chunk_stored"]``) is refused when a chunk is missing: the data
  were lost. Other stores (abTEM, other programs, older symbreak) may legitimately leave
  out chunks equal to the fill value (zarr-python 3 does so by default), so their missing
  chunks are read as the fill value with an :class:`~symbreak.errors.InputWarning`.
* ``"refuse"``: any missing chunk is an error.
* ``"zeros"``: missing chunks are read as the fill value (zero patterns), with the warning.

Missing chunks that are read are counted in ``metadata["input_checks"]``
(:data:`RECORD_KEYS`). In a zip store, a compressed chunk may not declare more
than :func:`chunk_limit` bytes (a zip bomb in one chunk).
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ...errors import FormatError, SettingsError
from ...storage.zarr_compat import chunk_key, storage_chunks

MISSING_CHUNKS = ("auto", "refuse", "zeros")
RECORD_KEYS = ("missing_chunks", "chunks_expected", "first_missing_chunk", "missing_read_as")
SCAN_AXES = ("scan_y", "scan_x", "ky", "kx")
ABTEM_AXES = ("scan_x", "scan_y", "kx", "ky")  # abTEM's (x, y, kx, ky)
STACK_AXES = ("pattern", "ky", "kx")
MAX_GRID_ASKED = 10**6  # chunk keys asked of zarr one by one (only for unknown key forms)


def check_mode(value: Any) -> str:
    """``missing_chunks`` checked: one of :data:`MISSING_CHUNKS` (None: ``"auto"``)."""
    if value is None:
        return "auto"
    if value not in MISSING_CHUNKS:
        raise SettingsError(f"missing_chunks must be one of {', '.join(MISSING_CHUNKS)}, "
                            f"got {value!r}")
    return str(value)


def chunk_limit(array: Any) -> int:
    """The most bytes a stored chunk of ``array`` may declare in a zip archive: twice its
    raw size (no codec expands data that much) plus 1 MiB."""
    raw = math.prod(storage_chunks(array)) * np.dtype(array.dtype).itemsize
    return 2 * raw + 2**20


def _grid(array: Any) -> tuple[int, ...]:
    return tuple(math.ceil(n / c) for n, c in zip(array.shape, storage_chunks(array)))


def _stored_in_folder(folder: Path) -> set[str]:
    """Every file below ``folder`` (links followed, as zarr follows them; each folder
    visited once, so a link loop ends), relative to it."""
    keys: set[str] = set()
    seen: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        info = os.stat(root)
        if (info.st_dev, info.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        prefix = Path(root).relative_to(folder).as_posix()
        keys.update(f if prefix == "." else f"{prefix}/{f}" for f in files)
    return keys


def _stored_in_zip(path: Path, prefix: str, array: Any) -> set[str]:
    """Chunk keys of the archive below ``prefix``; refuses a compressed chunk declaring more
    than :func:`chunk_limit` bytes."""
    limit, keys = chunk_limit(array), set()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(prefix):
                continue
            key = info.filename[len(prefix):]
            keys.add(key)
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > limit \
                    and not key.endswith((".json", ".zarray", ".zattrs")):
                raise FormatError(f"{path}: zip member {info.filename!r} declares "
                                  f"{info.file_size:,} bytes, more than a chunk of this array "
                                  f"can take ({limit:,}); refusing it as a zip bomb")
    return keys


def stored_keys(path: Path, array: Any) -> set[str]:
    """The keys stored below the array's own folder, relative to it."""
    inner = str(getattr(array, "path", "") or "").strip("/")
    if path.is_dir():
        return _stored_in_folder(path / inner if inner else path)
    return _stored_in_zip(path, f"{inner}/" if inner else "", array)


def _key_form(array: Any) -> tuple[str, str] | None:
    """(prefix, separator) when zarr's chunk keys are ``prefix + separator.join(coords)``
    (learnt from zarr's key of two sample positions), else None."""
    sample = tuple(range(11, 11 + array.ndim))
    key = chunk_key(array, sample)
    start = key.find("11")
    if start < 0:
        return None
    prefix, separator = key[:start], key[start + 2:start + 3] if array.ndim > 1 else "."
    for coords in (sample, (0,) * array.ndim):
        if prefix + separator.join(map(str, coords)) != chunk_key(array, coords):
            return None
    return prefix, separator


def _present(array: Any, stored: set[str], form: tuple[str, str]) -> set[tuple[int, ...]]:
    """Grid positions of the chunks of ``array`` among the ``stored`` keys (one pass over
    the keys: the cost follows what is stored, not the declared grid)."""
    prefix, separator = form
    grid, found = _grid(array), set()
    for key in stored:
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix):].split(separator) if array.ndim > 1 else [key[len(prefix):]]
        if len(parts) == len(grid) and all(p.isdigit() for p in parts):
            coords = tuple(int(p) for p in parts)
            if all(c < n for c, n in zip(coords, grid)):
                found.add(coords)
    return found


def missing_chunks(array: Any, stored: set[str]) -> tuple[int, tuple[int, ...] | None]:
    """(number of chunks of ``array`` whose keys are not in ``stored``, grid position of
    the first of them in C order, or None)."""
    grid = _grid(array)
    total = math.prod(grid)
    form = _key_form(array)
    if form is None:  # not a key form zarr writes: ask zarr for each key
        if total > MAX_GRID_ASKED:
            return 0, None  # too many to ask for one by one: not checked
        keys = (c for c in itertools.product(*(range(n) for n in grid))
                if chunk_key(array, c) not in stored)
        absent = list(itertools.islice(keys, 1))
        return (sum(1 for _ in keys) + len(absent), absent[0]) if absent else (0, None)
    present = _present(array, stored, form)
    if len(present) == total:
        return 0, None
    # the first missing one is among the first len(present) + 1 positions
    first = next(c for c in itertools.product(*(range(n) for n in grid)) if c not in present)
    return total - len(present), first


def _region(array: Any, coords: Sequence[int], axes: Sequence[str]) -> str:
    """The part of the array a chunk covers, scan axes first: ``scan_y 0-15, scan_x 0-63``
    (detector ranges only when the chunk does not span the detector)."""
    spans = {}
    for axis, i, c, n in zip(axes, coords, storage_chunks(array), array.shape):
        start, stop = i * c, min((i + 1) * c, n)
        if axis in ("ky", "kx") and (start, stop) == (0, n):
            continue
        spans[axis] = f"{axis} {start}-{stop - 1}"
    return ", ".join(spans[a] for a in sorted(spans, key=lambda a: SCAN_AXES.index(a)
                                              if a in SCAN_AXES else -1))


def _fill_value(array: Any) -> Any:
    value = getattr(array, "fill_value", None)
    return 0 if value is None else value


def check_chunks(path: Path, array: Any, name: str, *, mode: str, promised: bool,
                 axes: Sequence[str]) -> dict[str, Any] | None:
    """Refuse, or warn about, chunks of ``array`` missing from the store at ``path``.

    Parameters
    ----------
    path, array, name
        The store (folder or zip), the array read from it and its name in the store.
    mode
        ``missing_chunks``: "auto", "refuse" or "zeros" (module docstring).
    promised
        The store's writer recorded that it stored every chunk (symbreak's writer).
    axes
        Names of the array's axes in the file's order, for the message.

    Returns
    -------
    dict or None
        ``input_checks`` entries for the missing chunks that will be read as the fill
        value; None when no chunk is missing.

    Raises
    ------
    FormatError
        A chunk is missing and ``mode`` (with ``promised``) says to refuse the store.
    """
    count, first = missing_chunks(array, stored_keys(path, array))
    if first is None:
        return None
    total = math.prod(_grid(array))
    where = _region(array, first, axes)
    head = (f"{path}: {count:,} of {total:,} chunks of array {name} are missing from the "
            f"store (first: {where})")
    if mode == "refuse" or (mode == "auto" and promised):
        why = ("symbreak stored every chunk of it, so these data were lost (an interrupted "
               "or incomplete copy?)" if promised else "the store is incomplete")
        raise FormatError(f"{head}; {why}: copy the store again, or pass --missing-chunks "
                          "zeros (missing_chunks=\"zeros\") to read them as all-zero patterns")
    fill = _fill_value(array)
    from ...errors import InputWarning

    why = ("as --missing-chunks zeros asks" if mode == "zeros" else "(zarr may leave out "
           "chunks equal to it, but a chunk lost in a copy looks the same: check the store, "
           "or pass --missing-chunks refuse)")
    warnings.warn(f"{head}; they are read as patterns of the fill value {fill} {why}",
                  InputWarning, stacklevel=2)
    return {"missing_chunks": count, "chunks_expected": total, "first_missing_chunk": where,
            "missing_read_as": fill.item() if hasattr(fill, "item") else fill}
