"""The rrVAE paper's simulation HDF5 layout, exposed lazily as 4-D.

``CBEDs`` is a 2-D dataset where pattern n (row-major over y, then x) occupies rows
``n*Nopiyout:(n+1)*Nopiyout`` and columns ``0:Nopixout``. ``/Calculation`` holds
``Nxsample, Nysample, Nopixout, Nopiyout, Nxtile, Nytile``, ``/Crystal`` the unit cell
``a0`` [Å] and ``/Microscope`` the beam ``Energy`` [kV]. Calibration: detector pixel
1/(Nytile*a0_y), 1/(Nxtile*a0_x) [1/Å]; scan step a0_y/Nysample, a0_x/Nxsample [Å]
(the probe is scanned over one unit cell). The semi-angle is taken from an ``_A<mrad>_``
part of the file name when present (as in ``C6_SQ_A32_df=0.00_R1.h5``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..arrays import H5Dataset
from ..calibration import Calibration
from ..dataset import Dataset4D
from ..errors import CalibrationError, FormatError
from . import common
from .guards.failures import READ_ERRORS, GuardedArray, reading
from .hdf5 import check_extent, open_file
from .guards.untrusted import check_external

ATTRS = ("Nxsample", "Nysample", "Nopixout", "Nopiyout", "Nxtile", "Nytile")


def detect_paper_h5(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return "CBEDs" in f and "Calculation" in f
    except READ_ERRORS:
        return False


class StackedPatterns:
    """Array-like (ny, nx, ky, kx) view of the 2-D ``CBEDs`` stack; reads only what is
    indexed (used under dask, which passes tuples of ints and slices)."""

    def __init__(self, cbeds: H5Dataset, scan: tuple[int, int], pattern: tuple[int, int]):
        self.cbeds = cbeds
        self.shape = scan + pattern
        self.dtype = cbeds.dtype
        self.ndim = 4

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (4 - len(key))
        squeeze = tuple(i for i, k in enumerate(key) if isinstance(k, (int, np.integer)))
        ranges = [range(*(slice(k, k + 1 if k != -1 else None) if i in squeeze else k)
                        .indices(n)) for i, (k, n) in enumerate(zip(key, self.shape))]
        ry, rx, rky, rkx = ranges
        ky, nx = self.shape[2], self.shape[1]
        out = np.empty((len(ry), len(rx), len(rky), len(rkx)), self.dtype)
        if out.size == 0:
            return out.squeeze(axis=squeeze)
        cols = slice(rkx.start, rkx.stop, rkx.step) if rkx.step > 0 else list(rkx)
        for i, y in enumerate(ry):
            x0, x1 = min(rx), max(rx) + 1
            rows = self.cbeds[(y * nx + x0) * ky:(y * nx + x1) * ky, cols]
            block = rows.reshape(x1 - x0, ky, -1)
            out[i] = block[[x - x0 for x in rx]][:, list(rky)]
        return out.squeeze(axis=squeeze)


def _attr(group: h5py.Group, name: str, path: Path) -> Any:
    if name not in group.attrs:
        raise FormatError(f"{path}: /{group.name.strip('/')} lacks attribute {name!r} of "
                          "the paper's layout; add it or read CBEDs with dataset= and scan_shape=")
    return group.attrs[name]


def _calibration(f: h5py.File, path: Path, counts: dict[str, int]) -> Calibration:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if "Crystal" in f and "a0" in f["Crystal"].attrs:
        a0 = np.atleast_1d(np.asarray(f["Crystal"].attrs["a0"], dtype=float))
        a0_x, a0_y = float(a0[0]), float(a0[1] if a0.size > 1 else a0[0])
        values["k_sampling"] = (1 / (counts["Nytile"] * a0_y), 1 / (counts["Nxtile"] * a0_x))
        values["scan_step"] = (a0_y / counts["Nysample"], a0_x / counts["Nxsample"])
    if "Microscope" in f and "Energy" in f["Microscope"].attrs:
        values["energy"] = float(np.asarray(f["Microscope"].attrs["Energy"])) * 1e3
    sources = {k: "file" for k in values}
    match = re.search(r"_A(\d+(?:\.\d+)?)(?:_|$)", path.stem)
    if match:
        values["semiangle"], sources["semiangle"] = float(match.group(1)), "file name"
    try:
        return Calibration(**values, sources=sources)
    except CalibrationError as exc:
        raise FormatError(f"{path}: the calibration attributes are invalid ({exc}); correct "
                          "/Crystal a0 or /Microscope Energy, or give the values to load()"
                          ) from None


def read(path: Path, *, format: str, dataset: str | None, chunks: Any,
         scan_shape: tuple[int, int] | None, allow_external: bool = False) -> Dataset4D:
    f = open_file(path)
    try:
        with reading(path, "the HDF5 structure"):
            return _read(f, path, chunks, allow_external)
    except BaseException:
        f.close()
        raise


def _read(f: h5py.File, path: Path, chunks: Any, allow_external: bool) -> Dataset4D:
    check_external(f, path, allow_external)
    if "CBEDs" not in f or "Calculation" not in f:
        raise FormatError(f"{path}: not in the paper's layout (needs a CBEDs dataset and a "
                          "/Calculation group); use format='hdf5' for other HDF5 files")
    calc = f["Calculation"]
    counts = {name: int(np.asarray(_attr(calc, name, path)).ravel()[0]) for name in ATTRS}
    cbeds = f["CBEDs"]
    if not isinstance(cbeds, h5py.Dataset):
        raise FormatError(f"{path}: CBEDs is a group, not a dataset; the file is not in the "
                          "paper's layout: use format='hdf5'")
    ky, kx = counts["Nopiyout"], counts["Nopixout"]
    if cbeds.ndim != 2 or cbeds.shape[1] < kx or ky <= 0 or kx <= 0:
        raise FormatError(f"{path}: CBEDs has shape {cbeds.shape}, which cannot hold patterns "
                          f"of {ky} x {kx} pixels; the file does not match its /Calculation attrs")
    n = cbeds.shape[0] // ky
    ny, nx = counts["Nysample"], counts["Nxsample"]
    if n == (ny + 1) * (nx + 1) and n != ny * nx:
        ny, nx = ny + 1, nx + 1  # the scan made periodic by appending first row and column
    if n < ny * nx or ny <= 0 or nx <= 0:
        raise FormatError(
            f"{path}: /Calculation declares {ny} x {nx} patterns of {ky} x {kx} px but CBEDs "
            f"{cbeds.shape} holds only {n}; the file is truncated or its attributes are wrong"
        )
    common.check_4d((ny, nx, ky, kx), cbeds.dtype, path, "CBEDs")
    check_extent(cbeds, path)
    stacked = StackedPatterns(H5Dataset(cbeds), (ny, nx), (ky, kx))
    lazy = common.as_dask(GuardedArray(stacked, path, "CBEDs"), chunks, lock=True)
    metadata = {"paper_layout": {k: int(v) for k, v in counts.items()}}
    return Dataset4D(array=lazy, calibration=_calibration(f, path, counts),
                     metadata=metadata, source=str(path))
