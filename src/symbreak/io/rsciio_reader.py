"""Formats read through RosettaSciIO (lazily): Merlin .mib, Gatan .dm3/.dm4, EMPAD
.xml + .raw, HyperSpy .hspy, ASTAR .blo, MRC. Calibration from their axes and metadata."""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import dask.array as da
import h5py

from ..dataset import Dataset4D
from ..errors import FormatError
from . import common
from .axes import calibration_from_axes
from .guard import READ_ERRORS, detail, guard_dask, reading
from .hdf5 import open_file
from .untrusted import check_external

PLUGINS = {"hspy": "hspy", "mib": "quantumdetector", "dm": "digitalmicrograph",
           "empad": "empad", "blo": "blockfile", "mrc": "mrc"}
# readers that take a navigation shape (HyperSpy order: x, y)
NAVIGATION_SHAPE = {"mib", "mrc"}
PIP_NAMES = {"skimage": "scikit-image"}
MIB_DEPTH = {"U01": 1, "U08": 1, "U16": 2, "U32": 4, "R64": 8}


def check_mib_header(path: Path) -> None:
    """Refuse a MIB whose first header declares frames larger than the file."""
    if path.stat().st_size == 0:
        raise FormatError(f"{path}: the file is empty (0 bytes); copy it again")
    with open(path, "rb") as fh:
        head = fh.read(384).decode("ascii", "replace").split(",")
    try:
        header_bytes, width, height = int(head[2]), int(head[4]), int(head[5])
        depth = MIB_DEPTH[head[6]]
    except (IndexError, ValueError, KeyError):
        raise FormatError(f"{path}: no valid Merlin MIB header (expected 'MQ1,frame,"
                          "header size,chips,width,height,depth,...'); the file is corrupt "
                          "or not a MIB file") from None
    frame = header_bytes + width * height * depth
    if frame > path.stat().st_size:
        raise FormatError(
            f"{path}: header declares {width} x {height} {head[6]} frames of {frame:,} bytes "
            f"but the file has only {path.stat().st_size:,} bytes; the file is truncated or "
            "its header is corrupt")


def detect_hspy(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("file_format", b"")
    except READ_ERRORS:
        return False
    return (kind.decode(errors="replace") if isinstance(kind, bytes) else str(kind)) == "HyperSpy"


def _signals(path: Path, format: str, scan_shape: tuple[int, int] | None) -> list[dict]:
    try:
        module = importlib.import_module(f"rsciio.{PLUGINS[format]}")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise FormatError(f"{path}: reading {format} files needs the package {missing!r}, "
                          f"which is not installed; pip install {PIP_NAMES.get(missing, missing)}"
                          ) from None
    kwargs: dict[str, Any] = {"lazy": True}
    if scan_shape is not None and format in NAVIGATION_SHAPE:
        kwargs["navigation_shape"] = (int(scan_shape[1]), int(scan_shape[0]))
    try:
        return module.file_reader(str(path), **kwargs)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 (a third-party parser raises its own types)
        raise FormatError(f"{path}: RosettaSciIO could not read it as {format} "
                          f"({detail(exc)}); the file is corrupt, truncated or "
                          f"not {format}: check it opens in HyperSpy, or pass format=NAME") from None


def _choose(signals: list[dict], path: Path, dataset: str | None) -> dict:
    if dataset is not None:
        try:
            return signals[int(dataset)]
        except (ValueError, IndexError):
            raise FormatError(f"{path}: dataset= must be a signal index 0..{len(signals) - 1} "
                              f"for this format, got {dataset!r}") from None
    four_d = [s for s in signals if getattr(s["data"], "ndim", 0) == 4]
    if len(four_d) > 1:
        raise FormatError(f"{path}: holds {len(four_d)} 4-D signals; choose one with "
                          "dataset=INDEX (--dataset INDEX)")
    return four_d[0] if four_d else signals[0]


def _lookup(tree: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def mapped_metadata(signal: dict) -> dict:
    """The signal's metadata with RosettaSciIO's ``mapping`` applied (original metadata
    path -> metadata path, e.g. DM 'Microscope Info.Voltage' [V] -> beam_energy [kV]),
    which HyperSpy would otherwise do when it builds a signal."""
    metadata = copy.deepcopy(dict(signal.get("metadata", {})))
    for source, (target, convert) in (signal.get("mapping") or {}).items():
        value = _lookup(signal.get("original_metadata", {}), source.split("."))
        if value is None:
            continue
        try:
            value = convert(value) if convert is not None else value
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            continue
        node = metadata
        *parents, leaf = target.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node.setdefault(leaf, value)
    return metadata


def read(path: Path, *, format: str, dataset: str | None, chunks: Any,
         scan_shape: tuple[int, int] | None, allow_external: bool = False) -> Dataset4D:
    if format == "empad" and path.suffix.lower() == ".raw":
        raise FormatError(f"{path}: open the EMPAD .xml file that describes this .raw file")
    if format == "mib":
        check_mib_header(path)
    if format == "hspy":
        with open_file(path) as f, reading(path, "the HDF5 structure"):
            check_external(f, path, allow_external)
    signals = _signals(path, format, scan_shape)
    with reading(path, f"the {format} signal"):
        return _dataset(signals, path, format, dataset, chunks, scan_shape)


def _dataset(signals: list[dict], path: Path, format: str, dataset: str | None, chunks: Any,
             scan_shape: tuple[int, int] | None) -> Dataset4D:
    if not signals:
        raise FormatError(f"{path}: RosettaSciIO found no data in this file")
    signal = _choose(signals, path, dataset)
    data = signal["data"]
    if format not in NAVIGATION_SHAPE:
        data = common.reshape_stack(data, scan_shape, path)
    common.check_4d(tuple(data.shape), data.dtype, path)
    if isinstance(data, da.Array):
        data = guard_dask(data, path)
        if not (isinstance(chunks, str) and chunks == "auto"):
            data = data.rechunk(chunks)
    elif not (isinstance(chunks, str) and chunks == "auto"):
        data = common.as_dask(data, chunks)
    axes = sorted(signal["axes"], key=lambda a: a.get("index_in_array", 0))
    hs_metadata = mapped_metadata(signal)
    calibration = calibration_from_axes(axes, hs_metadata)
    metadata = {"rosettasciio_plugin": PLUGINS[format],
                "metadata": common.jsonable(hs_metadata),
                "original_metadata_keys": sorted(signal.get("original_metadata", {}))}
    return Dataset4D(array=data, calibration=calibration, metadata=metadata, source=str(path))
