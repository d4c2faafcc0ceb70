"""Ground truth (an ``xarray.Dataset``) in an HDF5 group: one dataset per variable.

Each dataset carries ``dims`` (JSON list), ``attrs`` (JSON object) and ``kind``
(``"data"`` or ``"coord"``); the group carries the Dataset's attrs as JSON.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import xarray as xr

from . import common

GROUP = "ground_truth"


def _storable(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "OU":
        return np.asarray(values.astype(str), dtype=h5py.string_dtype())
    return values


def write(group: h5py.Group, truth: xr.Dataset) -> None:
    """Store every data variable and coordinate of ``truth`` under ``group``."""
    group.attrs["attrs"] = common.dumps(dict(truth.attrs))
    for kind, variables in (("coord", truth.coords), ("data", truth.data_vars)):
        for name, var in variables.items():
            ds = group.create_dataset(str(name), data=_storable(np.asarray(var.values)))
            ds.attrs.update({"dims": common.dumps(list(var.dims)), "kind": kind,
                             "attrs": common.dumps(dict(var.attrs))})


def _values(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return ds.asstr()[()]
    return ds[()]


def read(group: h5py.Group) -> xr.Dataset:
    """Inverse of :func:`write` (values read into memory; ground truth is small)."""
    data: dict[str, Any] = {}
    coords: dict[str, Any] = {}
    for name, ds in group.items():
        var = xr.Variable(common.loads(ds.attrs.get("dims"), []), _values(ds),
                          attrs=common.loads(ds.attrs.get("attrs"), {}))
        (coords if ds.attrs.get("kind") == "coord" else data)[name] = var
    return xr.Dataset(data, coords=coords, attrs=common.loads(group.attrs.get("attrs"), {}))
