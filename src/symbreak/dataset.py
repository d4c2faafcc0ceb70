"""The 4D-STEM data container: an array (scan_y, scan_x, ky, kx) with its calibration.

The array may be a numpy array, a read-only memory map, or a lazy dask array over a
file; nothing is read until asked. Slicing a :class:`Dataset4D` slices the lazy array,
so one pattern or one scan row reads only that part of the file.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from typing import Any, Mapping

import dask.array as da
import numpy as np
import xarray as xr

from .calibration import Calibration
from .engine import as_dask, available_memory
from .errors import DataError
from .jsonable import dumps, jsonable

AXES = ("scan_y", "scan_x", "ky", "kx")


def _check_array(array: Any, what: str = "data") -> Any:
    ndim = getattr(array, "ndim", None)
    if ndim != 4:
        shape = getattr(array, "shape", None)
        raise DataError(
            f"expected a 4-D array (scan_y, scan_x, ky, kx) for {what}, got "
            f"{'shape ' + str(tuple(shape)) if shape is not None else type(array).__name__}; "
            "reshape a flat scan with array.reshape(ny, nx, ky, kx)"
        )
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "biuf":
        raise DataError(
            f"{what} has dtype {dtype}, which is not a real number type; 4D-STEM data must be "
            "integer counts or float intensities (convert complex waves with abs(psi)**2)"
        )
    if 0 in array.shape:
        raise DataError(f"{what} is empty: shape {tuple(array.shape)}")
    return array


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset4D:
    """A 4D-STEM data set with axis order (scan_y, scan_x, ky, kx).

    Parameters
    ----------
    array
        numpy array, numpy memmap or dask array of shape (scan_y, scan_x, ky, kx).
    calibration
        Physical calibration; unknown values are None.
    metadata
        Free-form metadata from the file (JSON-able).
    provenance
        What was done to the data, oldest first; each entry a dict with at least ``step``.
    source
        Path of the file the data came from, if any.
    ground_truth
        Optional ``xarray.Dataset`` of known truth (from ``symbreak simulate``): per-probe
        variables on dims (scan_y, scan_x) and tables such as atoms on their own dims.
        Saved and loaded with the data; scan slicing slices it too.
    """

    array: Any
    calibration: Calibration = dataclasses.field(default_factory=Calibration)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    provenance: tuple[dict, ...] = ()
    source: str | None = None
    ground_truth: Any = None

    def __post_init__(self) -> None:
        _check_array(self.array)
        if isinstance(self.provenance, list):
            object.__setattr__(self, "provenance", tuple(self.provenance))

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def scan_shape(self) -> tuple[int, int]:
        return self.shape[:2]  # type: ignore[return-value]

    @property
    def pattern_shape(self) -> tuple[int, int]:
        return self.shape[2:]  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.array.dtype)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def is_lazy(self) -> bool:
        return isinstance(self.array, da.Array)

    @property
    def chunks(self) -> tuple[int, ...] | None:
        """Chunk shape of a lazy array (the first chunk along each axis), else None."""
        if self.is_lazy:
            return tuple(int(c[0]) for c in self.array.chunks)
        return None

    def _repr_html_(self) -> str:
        """Summary table for Jupyter (:func:`symbreak.notebook.dataset_html`)."""
        from .notebook import dataset_html
        return dataset_html(self)

    def __repr__(self) -> str:
        kind = "lazy" if self.is_lazy else type(self.array).__name__
        return (
            f"Dataset4D(shape={self.shape}, dtype={self.dtype}, {kind}, "
            f"source={self.source!r})"
        )

    # ------------------------------------------------------------- selection
    def __getitem__(self, key: Any) -> "Dataset4D":
        if not isinstance(key, tuple):
            key = (key,)
        if any(not isinstance(k, slice) and k is not Ellipsis for k in key):
            raise DataError(
                "index a Dataset4D with slices only (it stays 4-D); use data.pattern(y, x) "
                "for one pattern or data.array[...] for raw access"
            )
        sliced = self.array[key]
        _check_array(sliced, "the selection")
        cal = self.calibration
        ky_key = _axis_slice(key, 2)
        kx_key = _axis_slice(key, 3)
        if cal.detector_center is not None and (ky_key.start or kx_key.start):
            cy, cx = cal.detector_center
            start_y = ky_key.indices(self.shape[2])[0]
            start_x = kx_key.indices(self.shape[3])[0]
            cal = dataclasses.replace(cal, detector_center=(cy - start_y, cx - start_x))
        truth = self.ground_truth
        if truth is not None:
            scan_keys = {d: _axis_slice(key, i) for i, d in enumerate(AXES[:2]) if d in truth.dims}
            truth = truth.isel(scan_keys)
        return self.replace(
            array=sliced,
            calibration=cal,
            ground_truth=truth,
            step={"step": "select", "key": [_slice_repr(k) for k in key]},
        )

    def pattern(self, y: int, x: int) -> np.ndarray:
        """One diffraction pattern (ky, kx) as a numpy array; reads only that pattern."""
        ny, nx = self.scan_shape
        if not (-ny <= y < ny and -nx <= x < nx):
            raise DataError(f"scan position ({y}, {x}) is outside the scan of shape {(ny, nx)}")
        return np.asarray(self.array[y, x])

    # ----------------------------------------------------------- derivation
    def replace(self, *, step: dict | None = None, **changes: Any) -> "Dataset4D":
        """Return a copy with fields changed and, if given, a provenance ``step`` appended."""
        if step is not None:
            entry = dict(step)
            entry.setdefault("time", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
            changes["provenance"] = tuple(self.provenance) + (entry,)
        return dataclasses.replace(self, **changes)

    def with_calibration(self, source: str = "user", **values: Any) -> "Dataset4D":
        """Return a copy with calibration values set (recorded with ``source``)."""
        if not values:
            return self
        cal = self.calibration.replace(source=source, **values)
        return self.replace(
            calibration=cal,
            step={"step": "calibrate", "source": source, "values": jsonable(values)},
        )

    # ------------------------------------------------------------ conversion
    def to_numpy(self) -> np.ndarray:
        """The whole array in memory; lazy data larger than the available memory are
        refused with a clear error instead of being killed by the system."""
        if not self.is_lazy:
            return np.asarray(self.array)
        free = available_memory()
        if self.nbytes > free:
            raise DataError(
                f"the data ({self.nbytes / 1e9:.3g} GB) do not fit in the available memory "
                f"({free / 1e9:.3g} GB); process them chunk by chunk (to_dask(), or the "
                "symbreak functions, which stream) or crop/bin them first")
        return np.asarray(self.array.compute())

    def to_dask(self, chunks: Any = "auto") -> da.Array:
        """The array as dask (no data read). A numpy/memmap array is wrapped, not copied;
        chunks as in :func:`symbreak.engine.as_dask`."""
        return as_dask(self.array, chunks)

    def coords(self) -> dict[str, tuple[np.ndarray, str]]:
        """Axis coordinates with units: scan in Å (or px), detector in mrad (or 1/Å, px)."""
        cal = self.calibration
        out = {}
        for i, name in enumerate(AXES):
            n = self.shape[i]
            idx = np.arange(n, dtype=float)
            if i < 2:
                if cal.scan_step is not None:
                    out[name] = (idx * cal.scan_step[i], "Å")
                else:
                    out[name] = (idx, "px")
                continue
            j = i - 2
            center = cal.detector_center[j] if cal.detector_center is not None else (n - 1) / 2
            if cal.angular_sampling is not None:
                out[name] = ((idx - center) * cal.angular_sampling[j], "mrad")
            elif cal.k_sampling is not None:
                out[name] = ((idx - center) * cal.k_sampling[j], "1/Å")
            else:
                out[name] = (idx - center, "px")
        return out

    def to_xarray(self, name: str = "intensity") -> "Any":
        """An ``xarray.DataArray`` (lazy if the data is) with coordinates and units."""
        coords = {
            axis: xr.Variable(axis, values, attrs={"units": unit})
            for axis, (values, unit) in self.coords().items()
        }
        attrs = {
            "calibration": dumps(self.calibration.to_dict()),
            "metadata": dumps(dict(self.metadata)),
            "provenance": dumps(list(self.provenance)),
        }
        if self.source:
            attrs["source"] = self.source
        return xr.DataArray(self.array, dims=AXES, coords=coords, name=name, attrs=attrs)

    @classmethod
    def from_xarray(cls, data_array: Any) -> "Dataset4D":
        """Inverse of :meth:`to_xarray`; dims must be (scan_y, scan_x, ky, kx)."""
        if tuple(data_array.dims) != AXES:
            raise DataError(f"expected dims {AXES}, got {tuple(data_array.dims)}; transpose first")
        attrs = data_array.attrs
        cal = Calibration.from_dict(_json_loads(attrs.get("calibration", "{}")))
        return cls(
            array=data_array.data,
            calibration=cal,
            metadata=_json_loads(attrs.get("metadata", "{}")),
            provenance=tuple(_json_loads(attrs.get("provenance", "[]"))),
            source=attrs.get("source"),
        )


def _axis_slice(key: tuple, axis: int) -> slice:
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (4 - len(key) + 1) + key[i + 1 :]
    return key[axis] if axis < len(key) else slice(None)


def _slice_repr(k: Any) -> Any:
    if k is Ellipsis:
        return "..."
    return [k.start, k.stop, k.step]


def _json_loads(text: str) -> Any:
    return json.loads(text) if text else {}
