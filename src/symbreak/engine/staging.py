"""Staging: writing lazy patterns once to a zarr store that training then streams from.

Not imported by :mod:`symbreak.engine` itself (it needs the zarr writer of
:mod:`symbreak.storage.zarr_compat`, which needs the engine): import
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
from ..storage.ownership import make_marked_folder, mark, remove_leftover
from ..storage.zarr_compat import blosc, create_array
from ..progress import DaskProgress
from .policy import COPIES_WRITE, scan_chunks

CODEC = blosc("lz4", 3, "shuffle")


def stage_patterns(array: Any, path: Path, progress: bool | None = None) -> zarr.Array:
    """Write a lazy (scan_y, scan_x, ky, kx) or (n, ky, kx) array to ``path`` as float32
    in chunks of whole scan rows, through a temporary folder carrying symbreak's marker (a
    crash leaves no half store under ``path``, and the next run removes it), and return
    the zarr array opened read-only. An existing ``path`` is replaced only when symbreak
    staged it (a user's folder of that name is refused in one line, never removed)."""
    x = array if isinstance(array, da.Array) else da.from_array(array, asarray=True, name=False)
    if x.ndim not in (3, 4):
        raise DataError(f"expected patterns (scan_y, scan_x, ky, kx) or (n, ky, kx), got "
                        f"shape {x.shape}")
    x = x.astype(np.float32)
    shape4 = x.shape if x.ndim == 4 else (x.shape[0], 1, *x.shape[1:])
    rows = scan_chunks(shape4, 4, copies=COPIES_WRITE)[0]
    chunks = (rows, *x.shape[1:])
    x = x.rechunk(chunks)
    holder = path.with_name(f".{path.name}.tmp")
    remove_leftover(holder, "staged patterns")  # a killed run's, never a user's folder
    make_marked_folder(holder, "staged patterns")
    tmp = holder / path.name
    target = create_array(tmp, shape=x.shape, chunks=chunks, dtype=np.float32,
                          compressor=CODEC)
    try:
        with DaskProgress("staging patterns", progress):
            da.store(x, target, lock=False)
        mark(tmp, "staged patterns")
        remove_leftover(path, "staged patterns")  # an earlier staging of symbreak's only
        tmp.rename(path)
    finally:
        shutil.rmtree(holder, ignore_errors=True)  # a full disk: do not keep it full
    return zarr.open_array(str(path), mode="r")
