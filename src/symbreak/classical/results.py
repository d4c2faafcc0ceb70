"""Shared pieces of the classical results: scan coordinates, attrs, saving to zarr."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np
import xarray as xr

from .. import __version__
from ..dataset import Dataset4D
from ..errors import SettingsError
from ..storage.atomic import atomic_output

SCAN_DIMS = ("scan_y", "scan_x")


def axis_coords(data: Dataset4D, dims: tuple[str, ...]) -> dict[str, xr.Variable]:
    """Coordinates (with units) of the given axes of ``data``."""
    coords = data.coords()
    return {d: xr.Variable(d, coords[d][0], attrs={"units": coords[d][1]}) for d in dims}


def base_attrs(data: Dataset4D, settings: dict[str, Any]) -> dict[str, Any]:
    """Attributes every result carries: settings, calibration, source, versions."""
    return {
        "settings": json.dumps(settings, default=_json_default),
        "calibration": json.dumps(data.calibration.to_dict(), default=_json_default),
        "source": data.source or "",
        "symbreak_version": __version__,
    }


def scan_spacing(obj: xr.Dataset | xr.DataArray) -> tuple[tuple[float, float], str]:
    """Scan step (y, x) and its unit, read from the scan coordinates of a result."""
    steps = []
    for dim in SCAN_DIMS:
        values = np.asarray(obj[dim].values, dtype=float)
        steps.append(float(values[1] - values[0]) if values.size > 1 else 1.0)
    unit = obj[SCAN_DIMS[1]].attrs.get("units", "px")
    return (steps[0], steps[1]), unit


def save_results(obj: xr.Dataset | xr.DataArray, path: str | os.PathLike,
                 overwrite: bool = False) -> str:
    """Write a result to a zarr store atomically; refuses an existing path unless
    ``overwrite=True``. Returns the path."""
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name=obj.name or "data")
    if not isinstance(obj, xr.Dataset):
        raise SettingsError(f"save_results takes an xarray Dataset or DataArray, got {type(obj)}")
    with atomic_output(path, overwrite) as tmp, warnings.catch_warnings():
        # zarr 3 notes that consolidated metadata is outside its spec; xarray reads it
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        obj.to_zarr(tmp, mode="w", consolidated=True)
    return str(path)


def load_results(path: str | os.PathLike) -> xr.Dataset:
    """Open a result written by :func:`save_results` (lazily, as xarray does)."""
    if not os.path.exists(path):
        raise SettingsError(f"no results at {path}; write them with save_results first")
    return xr.open_zarr(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return f"<array shape {value.shape}>" if value.size > 16 else value.tolist()
    return str(value)
