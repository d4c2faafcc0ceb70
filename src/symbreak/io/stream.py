"""Stream a Dataset4D into an on-disk array chunk by chunk with bounded memory, and
write whole outputs so that a killed write can be continued (``resume``).

A zarr output is written into the fixed temporary store
:func:`~symbreak.storage.atomic.partial_path` with a :class:`~symbreak.storage.atomic.ChunkRecord`
of the chunks on disk and a fingerprint of the input and settings. ``resume=True``
reopens that store, checks the fingerprint, writes the chunks not yet recorded and
renames the store to its final name. HDF5 outputs cannot be resumed (a file killed
mid-write may be corrupt) and are always written from the start.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from ..engine.cluster import active_client
from ..dataset import Dataset4D
from ..errors import SettingsError
from ..jsonable import jsonable
from ..progress import DaskProgress
from ..storage.atomic import (
    RECORD_NAME,
    ChunkRecord,
    check_output,
    partial_output,
    partial_path,
    partial_store,
    remove_partial,
)
from .common import default_chunks, lazy_array
from ..storage.zarr_compat import is_zarr_array, writing_every_chunk
from ..storage.safe_output import check_free_space, is_leftover

HDF5_OVERHEAD = 2**20  # bytes of an EMD file beyond its data (metadata, ground truth)

_RECORD: contextvars.ContextVar[ChunkRecord | None] = contextvars.ContextVar(
    "symbreak_chunk_record", default=None)


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
    """Compute ``data`` chunk by chunk into ``target`` (zarr array or h5py dataset).

    Inside :func:`recording`, a zarr ``target`` is written one of its own chunks at a
    time, skipping the chunks the record lists and recording each one written.
    """
    record = _RECORD.get()
    if record is not None and is_zarr_array(target):
        _store_recorded(data, target, record, progress)
        return
    array = lazy_array(data.array, write_chunks(data, chunks))
    client = active_client()
    if client is not None and is_zarr_array(target):  # zarr: the workers write
        da.store(array, target, lock=False, compute=True, scheduler=client)
        return
    with dask.config.set(scheduler="threads"), DaskProgress("writing", progress):
        da.store(array, target, lock=lock, compute=True)


@contextlib.contextmanager
def recording(record: ChunkRecord) -> Iterator[None]:
    """Make :func:`store` record the chunks it writes in ``record`` (and skip done ones)."""
    token = _RECORD.set(record)
    try:
        yield
    finally:
        _RECORD.reset(token)


def _write_chunk(target: Any, number: int, region: tuple[slice, ...], block: np.ndarray,
                 record: ChunkRecord | None = None) -> int:
    target[region] = block
    if record is not None:
        record.mark(number)
    return number


def _store_recorded(data: Dataset4D, target: Any, record: ChunkRecord,
                    progress: bool | None) -> None:
    from ..engine.cluster import active_client

    chunk_shape = tuple(int(c) for c in target.chunks)
    array = lazy_array(data.array, chunk_shape)
    grid = tuple(int(n) for n in array.numblocks)
    if record.grid and record.grid != grid:
        raise SettingsError(f"{record.path.parent}: its chunk grid {record.grid} is not the "
                            f"data's {grid}; run without resume to start again")
    record.grid = grid
    record.flush()  # from here on the store's header is complete: it can be resumed
    client = active_client()
    parts = array.to_delayed().ravel()
    writes = []
    for number in range(int(np.prod(grid))):
        if number in record.done:
            continue
        index = np.unravel_index(number, grid)
        region = tuple(slice(i * c, min((i + 1) * c, n))
                       for i, c, n in zip(index, chunk_shape, data.shape))
        # on a cluster the chunks are written by the workers and recorded here
        write = functools.partial(_write_chunk, target, number, region,
                                  record=None if client is not None else record)
        writes.append(dask.delayed(write, pure=False)(parts[number]))
    try:
        if client is None:
            with DaskProgress("writing", progress):
                dask.compute(*writes, scheduler="threads")
        else:
            from distributed import as_completed

            for future in as_completed(client.compute(writes)):
                record.mark(future.result())
    finally:
        record.close()


# ------------------------------------------------------------------------ whole outputs
def _without_time(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_time(v) for k, v in value.items() if k != "time"}
    if isinstance(value, (list, tuple)):
        return [_without_time(v) for v in value]
    return value


def input_paths(data: Dataset4D) -> list[str]:
    """The files and stores the data was loaded from (from its provenance)."""
    return sorted({step["path"] for step in data.provenance
                   if isinstance(step, dict) and isinstance(step.get("path"), str)})


def _input_stats(data: Dataset4D) -> list[Any]:
    """Size and modification time of the files the data was loaded from."""
    stats = []
    for name in input_paths(data):
        path = Path(name)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                st = f.stat()
                stats.append([str(f), st.st_size, st.st_mtime_ns])
            except OSError:
                stats.append([str(f), None, None])
    return stats


def _memory_hash(data: Dataset4D) -> str | None:
    """SHA-256 of data held in memory (no file to identify it by); None for lazy data."""
    array = data.array
    if not isinstance(array, np.ndarray) or isinstance(array, np.memmap):
        return None
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


def fingerprint(data: Dataset4D, *, format: str, chunks: Any) -> dict[str, str]:
    """Short hashes of what decides an output's bytes: the input (files' sizes and
    modification times, or the bytes of in-memory data), the array's shape and dtype, and
    the settings (provenance without times, calibration, metadata, format and chunks).
    Equal fingerprints: a resumed write gives the same output."""
    parts = {
        "input": [_input_stats(data), _memory_hash(data)],
        "shape and dtype": [list(data.shape), str(data.dtype)],
        "settings": [_without_time(list(data.provenance)), data.calibration.to_dict(),
                     dict(data.metadata), format, None if chunks is None else list(chunks)],
    }
    return {k: hashlib.sha256(json.dumps(jsonable(v), sort_keys=True, default=str).encode()
                              ).hexdigest()[:16] for k, v in parts.items()}


def _tell(text: str) -> None:
    print(f"symbreak: {text}", file=sys.stderr)


def _previous(path: Path, resume: bool, current: dict[str, str] | None) -> dict | None:
    """What an earlier, unfinished write of ``path`` left: its record when resuming (after
    checking it against the ``current`` fingerprint), else None after removing the
    leftover and saying so. ``current`` is None for outputs that cannot be resumed."""
    left = partial_path(path)
    found = left.exists() or left.is_symlink()
    if found and not is_leftover(left):
        remove_partial(path)  # refuses: a folder of that name that symbreak did not make
    previous = ChunkRecord.read(partial_store(path) / RECORD_NAME) if found else None
    if resume and previous is not None and current is not None:
        old = previous["fingerprint"] if isinstance(previous["fingerprint"], dict) else {}
        changed = [k for k, v in current.items() if old.get(k) != v]
        if changed:
            raise SettingsError(
                f"cannot resume: the unfinished {left.name} was written from other "
                f"{' and '.join(changed)}; give the same input and options as the "
                "interrupted run, or start again without resume=True")
        return previous
    if resume:
        _tell(f"nothing to resume for {path.name}" + (
            " (the earlier run stopped before writing data)" if found else "")
            + "; writing it from the start")
    elif found:
        hint = ("; pass --resume (resume=True) to continue it instead"
                if current is not None and previous is not None else "")
        _tell(f"replacing the unfinished output {left.name} of an interrupted run{hint}")
    if found:
        remove_partial(path)
    return None


def write_output(data: Dataset4D, path: str | os.PathLike, *, format: str | None = None,
                 chunks: Any = None, overwrite: bool = False, resume: bool = False,
                 progress: bool | None = None, what: str = "save") -> Path:
    """Write ``data`` to ``path`` (zarr or EMD HDF5) under an output lock, streaming.

    Parameters
    ----------
    data, path, format, chunks, overwrite, progress
        As :func:`symbreak.save`.
    resume
        Continue a zarr write that was killed half way: the chunks already in its
        temporary store are kept when the input and settings are the same (else a
        :class:`SettingsError`); without an unfinished write, start from the beginning.
    what
        The command named in the lock file (``convert``, ``simulate``).

    Returns
    -------
    Path
        The written path; nothing appears under it until the write is complete.
    """
    from ..storage.lock import output_lock
    from .registry import writer_for

    path = Path(path).expanduser()
    fmt = writer_for(path, format)
    resumable = fmt.name == "zarr"
    if resume and not resumable:
        raise SettingsError(
            f"resume needs zarr output: {path.name} is {fmt.name} (HDF5), which cannot be "
            "continued after an interruption; write a .zarr store, or run without resume")
    check_output(path, overwrite, inputs=input_paths(data))
    if not resumable:  # HDF5 is written uncompressed: its size is known now
        check_free_space(path, int(data.nbytes) + HDF5_OVERHEAD)
    current = fingerprint(data, format=fmt.name, chunks=chunks) if resumable else None
    with output_lock(path, what, beside=True, reentrant=True):
        check_output(path, overwrite, inputs=input_paths(data))
        previous = _previous(path, resume, current)
        try:
            with partial_output(path, overwrite, keep_on_interrupt=resumable) as tmp:
                if current is None:
                    fmt.reader().write(data, tmp, chunks=chunks, progress=progress)
                else:
                    _write_zarr(data, tmp, fmt, chunks, progress, current, previous)
        except KeyboardInterrupt:
            kept = ChunkRecord.read(partial_store(path) / RECORD_NAME)
            if kept is not None:
                _tell(f"interrupted: {len(kept['done'])} chunks of {path.name} are kept in "
                      f"{partial_path(path).name}; run again with --resume (resume=True) "
                      "to continue")
            raise
    return path


def _write_zarr(data: Dataset4D, tmp: Path, fmt: Any, chunks: Any, progress: bool | None,
                current: dict[str, str], previous: dict | None) -> None:
    import zarr

    if previous is None:
        with recording(ChunkRecord(tmp / RECORD_NAME, current, ())):
            fmt.reader().write(data, tmp, chunks=chunks, progress=progress)
        return
    record = ChunkRecord(tmp / RECORD_NAME, current, previous["grid"], previous["done"])
    total = int(np.prod(record.grid))
    _tell(f"resuming: {len(record.done)} of {total} chunks were already written")
    target = writing_every_chunk(zarr.open_group(str(tmp), mode="r+")["data"])
    with recording(record):
        store(data, target, chunks=None, progress=progress)
