"""Conversion between :class:`Dataset4D` and the containers of other packages.

numpy and dask arrays, xarray DataArrays, HyperSpy/pyxem signals and py4DSTEM
DataCubes are accepted wherever symbreak takes data (through :func:`as_dataset`).
HyperSpy and py4DSTEM are optional: they are only touched when their objects are passed.
The hand-overs themselves, field by field, are in :mod:`symbreak.interop`.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .dataset import Dataset4D
from .errors import DataError
from .interop.hyperspy import from_hyperspy, to_hyperspy
from .interop.py4dstem import from_py4dstem, to_py4dstem

__all__ = ["as_dataset", "from_foreign", "from_hyperspy", "from_py4dstem", "to_hyperspy",
           "to_py4dstem"]


def as_dataset(data: Any, **calibration: Any) -> Dataset4D:
    """Coerce numpy / dask / xarray / HyperSpy / py4DSTEM / Dataset4D input to a Dataset4D.

    Calibration keywords override what the input carries and are recorded as ``user``.
    """
    if isinstance(data, Dataset4D):
        ds = data
    elif isinstance(data, (np.ndarray, da.Array)):
        ds = Dataset4D(array=data)
    else:
        ds = from_foreign(data)
    return ds.with_calibration(source="user", **calibration)


def from_foreign(obj: Any) -> Dataset4D:
    """Build a Dataset4D from an xarray, HyperSpy or py4DSTEM object."""
    if isinstance(obj, xr.DataArray):
        return Dataset4D.from_xarray(obj)
    if hasattr(obj, "axes_manager") and hasattr(obj, "data"):
        return from_hyperspy(obj)
    if type(obj).__name__ == "DataCube" and hasattr(obj, "data"):
        return from_py4dstem(obj)
    raise DataError(
        f"cannot use an object of type {type(obj).__module__}.{type(obj).__name__} as 4D-STEM "
        "data; pass a numpy or dask array (scan_y, scan_x, ky, kx), an xarray DataArray, a "
        "HyperSpy/pyxem signal, a py4DSTEM DataCube, or a path to symbreak.load"
    )
