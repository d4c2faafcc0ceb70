"""HDF5: EMD 1.0 datacubes (py4DSTEM / emdfile layout) and any file with one 4-D dataset.

Layout symbreak writes (what py4DSTEM 0.14 writes for a DataCube, plus symbreak attrs)::

    /                       emd_group_type="file", version_major=1, version_minor=0
    /datacube_root          emd_group_type="root", python_class="Root"
      datacube/             emd_group_type="array", python_class="DataCube",
                            symbreak_calibration / _metadata / _provenance (JSON)
        data                (scan_y, scan_x, ky, kx), chunked by scan rows
        dim0 .. dim3        [origin, step] with attrs name, units
      metadatabundle/calibration   py4DSTEM Calibration: R/Q pixel size and units
      ground_truth/         one dataset per variable, attrs "dims" (JSON), "attrs" (JSON)
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..arrays import H5Dataset
from ..calibration import Calibration
from ..dataset import Dataset4D
from ..errors import CalibrationError, FormatError
from . import common, h5_truth
from ..calibration.axes import calibration_from_axes
from .guards.failures import READ_ERRORS, GuardedArray, reading
from .stream import store
from .guards.untrusted import check_declared, check_external

ROOT = "datacube_root"
CUBE = "datacube"
# py4DSTEM's dim names; its (Rx, Ry, Qx, Qy) is our (scan_y, scan_x, ky, kx)
DIM_NAMES = ("Rx", "Ry", "Qx", "Qy")
H5_CHUNK_BYTES = 4 * 2**20


def open_file(path: Path) -> h5py.File:
    """Open read-only; a clear error for truncated or non-HDF5 files."""
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(
            f"{path}: cannot be opened as HDF5 ({str(exc).split('(')[0].strip()}); the file "
            "is truncated, corrupt or not HDF5: copy it again or pass format=NAME"
        ) from None


def _is_emd(f: h5py.File) -> bool:
    return "version_major" in f.attrs and f.attrs.get("emd_group_type", "file") in ("file", b"file")


def detect(path: Path) -> bool:
    """EMD 1.0 (emdfile / py4DSTEM / symbreak)?"""
    try:
        with h5py.File(path, "r") as f:
            return _is_emd(f)
    except READ_ERRORS:
        return False


def check_extent(array: h5py.Dataset, path: Path) -> None:
    """Refuse a dataset whose declared shape the file cannot hold, before any read:
    contiguous storage past the end of the file or never written, or a chunked dataset
    declaring implausibly more bytes than it stores."""
    nbytes = int(array.size) * array.dtype.itemsize
    what = f"dataset {array.name} {tuple(array.shape)} {array.dtype}"
    layout = array.id.get_create_plist().get_layout()
    if array.is_virtual or array.external or layout == h5py.h5d.COMPACT:
        return
    if layout == h5py.h5d.CONTIGUOUS:
        offset = array.id.get_offset()
        if offset is None and nbytes > 0:
            raise FormatError(f"{path}: {what} holds no stored data (never written); the "
                              "file is unfinished: write it again")
        size = os.path.getsize(array.file.filename)  # an external link's target file
        if offset is not None and offset + nbytes > size:
            raise FormatError(f"{path}: {what} declares {nbytes:,} bytes at offset {offset:,} "
                              f"but the file has only {size:,} bytes; the file is truncated "
                              "or its header is corrupt: copy or write it again")
        return
    check_declared(path, what, nbytes, array.id.get_storage_size())


def guarded(array: h5py.Dataset, path: Path) -> GuardedArray:
    """``array`` for dask: picklable, with read errors as FormatErrors."""
    check_extent(array, path)
    return GuardedArray(H5Dataset(array), path, f"dataset {array.name}")


def four_d_datasets(f: h5py.File) -> list[str]:
    """Paths of all 4-D datasets in the file."""
    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.ndim == 4:
            found.append(name)

    f.visititems(visit)
    return found


def _pick(f: h5py.File, path: Path, dataset: str | None) -> h5py.Dataset:
    if dataset is not None:
        if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
            raise FormatError(f"{path}: no dataset {dataset!r}; 4-D datasets in the file: "
                              f"{four_d_datasets(f) or 'none'}")
        return f[dataset]
    found = four_d_datasets(f)
    arrays = [n for n in found if f[n].parent.attrs.get("emd_group_type") in ("array", 1)]
    if len(found) > 1 and len(arrays) == 1:
        found = arrays
    if len(found) == 1:
        return f[found[0]]
    if not found:
        shapes = []
        f.visititems(lambda n, o: shapes.append(f"{n} {o.shape}") if isinstance(o, h5py.Dataset) else None)
        raise FormatError(
            f"{path}: no 4-D dataset (scan_y, scan_x, ky, kx) in this HDF5 file (datasets: "
            f"{', '.join(shapes[:8]) or 'none'}); reshape and save a 4-D array, or pass "
            "scan_shape=(ny, nx) with dataset=NAME for a stack of patterns"
        )
    raise FormatError(
        f"{path}: holds several 4-D datasets ({', '.join(found)}); choose one with "
        "dataset=NAME"
    )


def _emd_dims(group: h5py.Group) -> list[dict[str, Any]]:
    axes = []
    for i in range(4):
        dim = group.get(f"dim{i}")
        if dim is None or dim.ndim != 1 or dim.shape[0] < 2:
            axes.append({})
            continue
        values = dim[:2]
        units = dim.attrs.get("units", "")
        units = units.decode() if isinstance(units, bytes) else str(units)
        units = {"A": "Å", "A^-1": "1/Å", "pixels": ""}.get(units, units)
        axes.append({"scale": float(values[1] - values[0]), "offset": float(values[0]),
                     "units": units})
    return axes


def _calibration(group: h5py.Group, array: h5py.Dataset, path: Path) -> Calibration:
    stored = common.loads(group.attrs.get("symbreak_calibration"), None)
    if stored is not None:
        return stored_calibration(stored, path)
    if array.name.endswith("/data") and group.attrs.get("emd_group_type") in ("array", 1, b"array"):
        return calibration_from_axes(_emd_dims(group))
    return Calibration()


def stored_calibration(stored: Any, path: Path) -> Calibration:
    """A calibration dict written by symbreak, or a FormatError naming the file."""
    try:
        if not isinstance(stored, dict):
            raise CalibrationError(f"expected a JSON object, got {type(stored).__name__}")
        return Calibration.from_dict(stored)
    except (CalibrationError, TypeError) as exc:
        raise FormatError(f"{path}: the stored calibration is invalid ({exc}); the file is "
                          "corrupt: write it again, or give the values to load()") from None


def read(path: Path, *, format: str, dataset: str | None, chunks: Any,
         scan_shape: tuple[int, int] | None, allow_external: bool = False) -> Dataset4D:
    f = open_file(path)
    try:
        with reading(path, "the HDF5 structure"):
            return _read(f, path, dataset, chunks, scan_shape, allow_external)
    except BaseException:
        f.close()
        raise


def _read(f: h5py.File, path: Path, dataset: str | None, chunks: Any,
          scan_shape: tuple[int, int] | None, allow_external: bool) -> Dataset4D:
    check_external(f, path, allow_external)
    if scan_shape is not None and dataset is not None and dataset in f:
        array = f[dataset]
    else:
        array = _pick(f, path, dataset)
    group = array.parent
    if array.ndim == 3 and scan_shape is not None:
        stack = common.as_dask(guarded(array, path), (scan_shape[1],) + array.shape[1:],
                               lock=True)
        lazy = common.reshape_stack(stack, scan_shape, path)
    else:
        common.check_4d(array.shape, array.dtype, path, f"dataset {array.name}")
        lazy = common.as_dask(guarded(array, path), chunks, lock=True)
    common.check_4d(lazy.shape, lazy.dtype, path, f"dataset {array.name}")
    calibration = _calibration(group, array, path)
    metadata = common.loads(group.attrs.get("symbreak_metadata"), {})
    provenance = common.loads(group.attrs.get("symbreak_provenance"), [])
    truth = h5_truth.read(group[h5_truth.GROUP]) if h5_truth.GROUP in group else None
    return Dataset4D(array=lazy, calibration=calibration, metadata=metadata,
                     provenance=tuple(provenance), source=str(path), ground_truth=truth)


# --------------------------------------------------------------------------- writer
def _h5_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, int, int, int]:
    ny, nx, ky, kx = shape
    per = max(1, H5_CHUNK_BYTES // (ky * kx * itemsize))
    return (1, int(min(nx, per)), ky, kx)


def _write_dims(group: h5py.Group, data: Dataset4D) -> None:
    for i, (name, (values, unit)) in enumerate(zip(DIM_NAMES, data.coords().values())):
        unit = {"Å": "A", "1/Å": "A^-1", "px": "pixels"}.get(unit, unit)
        step = float(values[1] - values[0]) if len(values) > 1 else 1.0
        dim = group.create_dataset(f"dim{i}", data=np.array([values[0], values[0] + step]))
        dim.attrs["name"], dim.attrs["units"] = name, unit


def _write_py4dstem_calibration(root: h5py.Group, cal: Calibration) -> None:
    bundle = root.create_group("metadatabundle")
    bundle.attrs["emd_group_type"] = "metadatabundle"
    group = bundle.create_group("calibration")
    group.attrs.update({"emd_group_type": "metadata", "python_class": "Calibration"})
    r_size, r_units = (cal.scan_step[1], "A") if cal.scan_step else (1.0, "pixels")
    if cal.k_sampling:
        q_size, q_units = cal.k_sampling[1], "A^-1"
    elif cal.angular_sampling:
        q_size, q_units = cal.angular_sampling[1], "mrad"
    else:
        q_size, q_units = 1.0, "pixels"
    items = {"R_pixel_size": (r_size, "number"), "R_pixel_units": (r_units, "string"),
             "Q_pixel_size": (q_size, "number"), "Q_pixel_units": (q_units, "string"),
             "QR_flip": (bool(cal.scan_flip), "bool"), "_root_treepath": ("", "string")}
    for key, (value, kind) in items.items():
        ds = group.create_dataset(key, data=value)
        ds.attrs["type"] = kind
    paths = group.create_group("_target_paths")
    paths.attrs.update({"length": 1, "type": "list_of_strings"})
    paths.create_dataset("0", data=f"/{CUBE}")


def write(data: Dataset4D, path: Path, *, chunks: Any, progress: bool | None) -> None:
    """Write ``data`` to a new HDF5 file at ``path`` in the EMD 1.0 layout, streaming."""
    with h5py.File(path, "w") as f:
        f.attrs.update({"emd_group_type": "file", "version_major": 1, "version_minor": 0,
                        "authoring_program": "symbreak", "authoring_user": "",
                        "UUID": str(uuid.uuid4())})
        root = f.create_group(ROOT)
        root.attrs.update({"emd_group_type": "root", "python_class": "Root"})
        cube = root.create_group(CUBE)
        cube.attrs.update({"emd_group_type": "array", "python_class": "DataCube",
                           "symbreak_calibration": common.dumps(data.calibration.to_dict()),
                           "symbreak_metadata": common.dumps(dict(data.metadata)),
                           "symbreak_provenance": common.dumps(list(data.provenance))})
        target = cube.create_dataset("data", shape=data.shape, dtype=data.dtype,
                                     chunks=_h5_chunks(data.shape, data.dtype.itemsize))
        target.attrs["units"] = "pixel intensity"
        _write_dims(cube, data)
        _write_py4dstem_calibration(root, data.calibration)
        if data.ground_truth is not None:
            h5_truth.write(cube.create_group(h5_truth.GROUP), data.ground_truth)
        store(data, target, chunks=chunks, progress=progress, lock=True)
