"""The analysis input: open it, fingerprint it, and read it once when it fits."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..engine import fits_in_memory
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
    """sha256 of a file, or of all files under a folder (sorted relative paths + bytes)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(2**22), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


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
    if not data.is_lazy or not fits_in_memory(data.nbytes):
        return data
    with DaskProgress("reading data", progress):
        return data.replace(array=data.to_numpy())
