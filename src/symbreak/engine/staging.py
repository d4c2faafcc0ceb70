"""Staging: writing lazy patterns once to a zarr store that training then streams from.

Not imported by :mod:`symbreak.engine` itself (it needs the zarr writer of
:mod:`symbreak.io.zarr_compat`, which needs the engine): import
``symbreak.engine.staging``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import zarr

from ..errors import DataError
from ..io.zarr_compat import blosc, create_array
from ..progress import DaskProgress
from .policy import COPIES_WRITE, scan_chunks

CODEC = blosc("lz4", 3, "shuffle")


def stage_patterns(array: Any, path: Path, progress: bool | None = None) -> zarr.Array:
    """Write a lazy (scan_y, scan_x, ky, kx) or (n, ky, kx) array to ``path`` as float32
    in chunks of whole scan rows, through a temporary name (a crash leaves no half store
    under ``path``), and return the zarr array opened read-only."""
    x = array if isinstance(array, da.Array) else da.from_array(array, asarray=True, name=False)
    if x.ndim not in (3, 4):
        raise DataError(f"expected patterns (scan_y, scan_x, ky, kx) or (n, ky, kx), got "
                        f"shape {x.shape}")
    x = x.astype(np.float32)
    shape4 = x.shape if x.ndim == 4 else (x.shape[0], 1, *x.shape[1:])
    rows = scan_chunks(shape4, 4, copies=COPIES_WRITE)[0]
    chunks = (rows, *x.shape[1:])
    x = x.rechunk(chunks)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    target = create_array(tmp, shape=x.shape, chunks=chunks, dtype=np.float32,
                          compressor=CODEC)
    try:
        with DaskProgress("staging patterns", progress):
            da.store(x, target, lock=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk: do not keep it full
        raise
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return zarr.open_array(str(path), mode="r")
