"""The analysis input: open it, fingerprint it, and read it once when it fits."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..engine import placement
from ..convert import as_dataset
from ..dataset import Dataset4D
from ..io import load
from ..progress import DaskProgress


def open_input(data: Any, calibration: Mapping[str, Any]) -> tuple[Dataset4D, str, Path | None]:
    """The data set (lazy, with calibration overrides), its description, and its file."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        return load(path, **calibration), str(path.resolve()), path
    ds = as_dataset(data, **calibration)
    if ds.source and Path(ds.source).exists():
        return ds, str(ds.source), Path(ds.source)
    simulation = dict(ds.metadata).get("simulation", {}).get("settings")
    if simulation:
        keys = ("system", "defect", "zone_axis")
        what = ", ".join(f"{k}={simulation[k]}" for k in keys if simulation.get(k))
        return ds, f"in-memory simulation ({what})", None
    return ds, f"in-memory {type(data).__name__}", None


def file_checksum(path: Path) -> str:
    """sha256 of a file, or of all files under a folder (sorted relative paths + bytes),
    read into one reused buffer (hashlib runs at ~2 GB/s on CPUs with SHA extensions;
    a fresh bytes object per read costs a third of that)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    buffer = memoryview(bytearray(CHECKSUM_BLOCK))
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb", buffering=0) as fh:
            while n := fh.readinto(buffer):
                digest.update(buffer[:n])
    return "sha256:" + digest.hexdigest()


CHECKSUM_BLOCK = 8 * 2**20
"""Bytes read at a time for the checksum [bytes]."""


class BackgroundChecksum:
    """:func:`checksum` computed in a daemon thread beside the stages (hashlib and file
    reads release the GIL), so that its pass over the file overlaps theirs; ``result()``
    waits for it (and re-raises its error). A daemon: an interrupted analysis does not
    wait for the hash of a large file."""

    def __init__(self, data: Dataset4D, path: Path | None) -> None:
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(data, path), daemon=True,
                                        name="symbreak-checksum")
        self._thread.start()

    def _work(self, data: Dataset4D, path: Path | None) -> None:
        try:
            self._value = checksum(data, path)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller in result()
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return str(self._value)


def array_checksum(data: Dataset4D) -> str:
    """sha256 of the array bytes (C order, native dtype), one scan row at a time."""
    digest = hashlib.sha256()
    digest.update(f"{data.dtype.str}{data.shape}".encode())
    array = data.to_dask()
    for row in range(data.shape[0]):
        digest.update(np.ascontiguousarray(np.asarray(array[row])).tobytes())
    return "sha256:" + digest.hexdigest()


def checksum(data: Dataset4D, path: Path | None) -> str:
    """sha256 of the input file(s), or of the array bytes for in-memory input."""
    return file_checksum(path) if path is not None else array_checksum(data)


def in_memory(data: Dataset4D, progress: bool | None = None) -> Dataset4D:
    """The data read once into memory when it fits the in-memory share of the budget, so
    that the stages do not each read the file (or recompute a simulation) again."""
    if not data.is_lazy or placement(data.nbytes).streamed:
        return data
    with DaskProgress("reading data", progress):
        return data.replace(array=data.to_numpy())
