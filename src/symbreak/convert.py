"""Conversion between :class:`Dataset4D` and the containers of other packages.

numpy and dask arrays, xarray DataArrays, HyperSpy/pyxem signals and py4DSTEM
DataCubes are accepted wherever symbreak takes data (through :func:`as_dataset`).
HyperSpy and py4DSTEM are optional: they are only touched when their objects are passed.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from .calibration import Calibration
from .dataset import Dataset4D
from .errors import DataError


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


def from_hyperspy(signal: Any) -> Dataset4D:
    """HyperSpy/pyxem signal (navigation x, y; signal kx, ky) to Dataset4D.

    HyperSpy stores data as (nav_y, nav_x, sig_y, sig_x), i.e. our axis order already.
    Scan step is taken from navigation axes in Å or nm; detector sampling from signal
    axes in mrad, 1/Å or 1/nm.
    """
    from .io.axes import calibration_from_axes

    am = signal.axes_manager
    axes = [
        {"name": a.name, "scale": a.scale, "offset": a.offset, "units": a.units, "size": a.size,
         "navigate": a.navigate}
        for a in list(am.navigation_axes)[::-1] + list(am.signal_axes)[::-1]
    ]
    cal = calibration_from_axes(axes, metadata=_hs_metadata(signal))
    return Dataset4D(array=signal.data, calibration=cal, metadata={"hyperspy_title": str(
        getattr(getattr(signal.metadata, "General", None), "title", ""))})


def _hs_metadata(signal: Any) -> dict:
    try:
        return signal.metadata.as_dictionary()
    except AttributeError:
        return {}


def from_py4dstem(cube: Any) -> Dataset4D:
    """py4DSTEM DataCube to Dataset4D (py4DSTEM's order is (rx, ry, qx, qy) = ours)."""
    cal_in = getattr(cube, "calibration", None)
    values: dict[str, Any] = {}
    if cal_in is not None:
        r_step, r_unit = cal_in.get_R_pixel_size(), cal_in.get_R_pixel_units()
        q_step, q_unit = cal_in.get_Q_pixel_size(), cal_in.get_Q_pixel_units()
        if r_unit == "A":
            values["scan_step"] = r_step
        elif r_unit == "nm":
            values["scan_step"] = r_step * 10
        if q_unit == "A^-1":
            values["k_sampling"] = q_step
        elif q_unit == "mrad":
            values["angular_sampling"] = q_step
    cal = Calibration(**values, sources={k: "file" for k in values})
    return Dataset4D(array=cube.data, calibration=cal)


def to_hyperspy(data: Dataset4D) -> Any:
    """A lazy or eager ``hyperspy`` Signal2D (pyxem-compatible) with calibrated axes."""
    try:
        import hyperspy.api as hs
    except ImportError as exc:  # optional dependency
        raise DataError("to_hyperspy needs HyperSpy: pip install hyperspy") from exc
    cls = hs.signals.Signal2D
    sig = cls(data.array).as_lazy() if data.is_lazy else cls(data.array)
    coords = data.coords()
    hs_axes = list(sig.axes_manager.navigation_axes)[::-1] + list(sig.axes_manager.signal_axes)[::-1]
    for ax, name in zip(hs_axes, ("scan_y", "scan_x", "ky", "kx")):
        values, unit = coords[name]
        ax.name = name
        ax.units = unit
        ax.scale = float(values[1] - values[0]) if len(values) > 1 else 1.0
        ax.offset = float(values[0])
    return sig


def to_py4dstem(data: Dataset4D) -> Any:
    """A py4DSTEM DataCube with R and Q pixel sizes set where known."""
    try:
        import py4DSTEM
    except ImportError as exc:  # optional dependency
        raise DataError("to_py4dstem needs py4DSTEM: pip install py4DSTEM") from exc
    cube = py4DSTEM.DataCube(data=data.to_numpy())
    cal = data.calibration
    if cal.scan_step is not None:
        cube.calibration.set_R_pixel_size(cal.scan_step[0])
        cube.calibration.set_R_pixel_units("A")
    if cal.k_sampling is not None:
        cube.calibration.set_Q_pixel_size(cal.k_sampling[0])
        cube.calibration.set_Q_pixel_units("A^-1")
    return cube
