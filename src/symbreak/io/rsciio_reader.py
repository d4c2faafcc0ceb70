"""Formats read through RosettaSciIO (lazily): Merlin .mib, Gatan .dm3/.dm4, EMPAD
.xml + .raw, HyperSpy .hspy, ASTAR .blo, MRC. Calibration from their axes and metadata."""

from __future__ import annotations

import copy
import importlib
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np

from ..dataset import Dataset4D
from ..errors import FormatError
from ..interop.hyperspy import signal_calibration
from . import common
from .guards.failures import READ_ERRORS, detail, guard_dask, reading
from .hdf5 import check_extent, open_file
from .guards.untrusted import check_external

PLUGINS = {"hspy": "hspy", "mib": "quantumdetector", "dm": "digitalmicrograph",
           "empad": "empad", "blo": "blockfile", "mrc": "mrc"}
# readers that take a navigation shape (HyperSpy order: x, y)
NAVIGATION_SHAPE = {"mib", "mrc"}
# uncompressed formats whose readers take chunks=: the declared size is checked first
WHOLE_CHUNK_PROBE = {"dm"}
PIP_NAMES = {"skimage": "scikit-image"}
MIB_DEPTH = {"U01": 1, "U08": 1, "U16": 2, "U32": 4, "R64": 8}


MIB_HEADER_MAX = 4096  # bytes of a Merlin frame header (384 single chip, 768 quad)
MIB_SAMPLED_HEADERS = 256  # frame headers compared with the first one


def _mib_fields(head: bytes, path: Path, where: str) -> tuple[int, int, int, str]:
    """(header bytes, width, height, depth code) from one frame header."""
    fields = head.decode("ascii", "replace").split(",")
    try:
        if fields[0] != "MQ1":
            raise ValueError
        header_bytes, width, height = int(fields[2]), int(fields[4]), int(fields[5])
        depth = fields[6]
        MIB_DEPTH[depth]
    except (IndexError, ValueError, KeyError):
        raise FormatError(f"{path}: no valid Merlin MIB header {where} (expected 'MQ1,frame,"
                          "header size,chips,width,height,depth,...'); the file is corrupt "
                          "or not a MIB file") from None
    text = head.split(b"\0", 1)[0]
    if not len(text) <= header_bytes <= MIB_HEADER_MAX or min(width, height) <= 0:
        raise FormatError(f"{path}: the MIB header {where} declares {header_bytes} header bytes "
                          f"and {width} x {height} pixels, which its own text contradicts; the "
                          "header is corrupt: copy the file again")
    return header_bytes, width, height, depth


def check_mib_header(path: Path) -> None:
    """Check a Merlin MIB exactly against its headers before RosettaSciIO reads it.

    The file must be a whole number of frames of the size the first header declares
    (header bytes + width x height x depth), every sampled frame header (up to
    :data:`MIB_SAMPLED_HEADERS`, evenly spread, the last included) must declare the same
    layout, and a ``.hdr`` beside it must declare that many frames.

    Raises
    ------
    FormatError
        A truncated file, a corrupt header or a frame count that disagrees with the .hdr.
    """
    size = path.stat().st_size
    if size == 0:
        raise FormatError(f"{path}: the file is empty (0 bytes); copy it again")
    with open(path, "rb") as fh:
        first = _mib_fields(fh.read(MIB_HEADER_MAX), path, "at the start")
        header_bytes, width, height, depth = first
        frame = header_bytes + width * height * MIB_DEPTH[depth]
        if frame > size or size % frame:
            raise FormatError(
                f"{path}: the first header declares {width} x {height} {depth} frames of "
                f"{frame:,} bytes, but the file's {size:,} bytes are not a whole number of "
                f"them ({size / frame:.3f}); the file is truncated or its header is corrupt: "
                "copy it again")
        count = size // frame
        for index in sorted({0, count - 1, *range(0, count, max(1, count // MIB_SAMPLED_HEADERS))}):
            fh.seek(index * frame)
            if _mib_fields(fh.read(header_bytes), path, f"of frame {index + 1}") != first:
                raise FormatError(f"{path}: frame {index + 1} has another header layout than "
                                  "frame 1; the file is corrupt: copy it again")
    check_mib_count(path, count)


def check_mib_count(path: Path, count: int) -> None:
    """Refuse a ``.hdr`` beside the MIB that declares another number of frames."""
    hdr = path.with_suffix(".hdr")
    if not hdr.is_file():
        return
    with open(hdr, "rb") as fh:
        text = fh.read(1 << 16).decode("ascii", "replace")
    for line in text.splitlines():
        if line.startswith("Frames in Acquisition"):
            value = line.rsplit("\t", 1)[-1].rsplit(":", 1)[-1].strip()
            if not value.isdigit() or int(value) != count:
                raise FormatError(
                    f"{hdr}: declares {value!r} frames in the acquisition, but {path.name} "
                    f"holds {count:,}; the acquisition was cut short or a file is damaged: "
                    "correct 'Frames in Acquisition' in the .hdr")
            return


MRC_MODE_BYTES = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2, 101: 0.5}
MRC_HEADER = 1024


def check_mrc_header(path: Path) -> None:
    """Refuse an MRC whose header declares more frames than the file holds (before
    RosettaSciIO builds arrays from it): NX, NY, NZ, MODE at bytes 0-15, NSYMBT (extended
    header bytes) at 92, byte order from the machine stamp at 212."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(MRC_HEADER)
    if len(head) < MRC_HEADER:
        raise FormatError(f"{path}: {len(head)} bytes, shorter than the {MRC_HEADER}-byte MRC "
                          "header; the file is truncated or not MRC: copy it again")
    order = ">" if head[212] == 0x11 else "<"
    nx, ny, nz, mode = struct.unpack_from(order + "4i", head, 0)
    (extended,) = struct.unpack_from(order + "i", head, 92)
    depth = MRC_MODE_BYTES.get(mode)
    if min(nx, ny, nz) <= 0 or depth is None or extended < 0:
        raise FormatError(f"{path}: MRC header declares {nx} x {ny} x {nz} voxels of mode "
                          f"{mode} (extended header {extended} bytes), which is not a valid "
                          "image stack; the file is corrupt or not MRC")
    needed = MRC_HEADER + extended + int(nx * ny * nz * depth)
    if needed > size:
        raise FormatError(f"{path}: MRC header declares {nz} frames of {ny} x {nx} (mode "
                          f"{mode}), {needed:,} bytes with the header, but the file has only "
                          f"{size:,} bytes; the file is truncated or its header is corrupt")


EMPAD_FRAME_BYTES = 130 * 128 * 4  # float32 frames of 128 x 128 px + 2 footer rows


def _empad_count(root: ET.Element, raw_name: str) -> int | None:
    """Frames the EMPAD XML declares (series_count, pix_x * pix_y, or scan_xN_yM.raw)."""
    series = root.findtext("scan_parameters/series_count")
    if series is not None:
        return int(series)
    if root.findtext("pix_x") is not None and root.findtext("pix_y") is not None:
        return int(root.findtext("pix_x")) * int(root.findtext("pix_y"))
    match = re.fullmatch(r"scan_x(\d+)_y(\d+)\.raw", raw_name)
    return int(match.group(1)) * int(match.group(2)) if match else None


def check_empad_header(path: Path, allow_external: bool) -> None:
    """Refuse an EMPAD XML whose .raw file lies outside its folder (unless
    ``allow_external``) or holds fewer frames than the XML declares."""
    with reading(path, "the EMPAD XML"):
        root = ET.parse(path).getroot()
        element = root.find("raw_file")
        raw_name = element.get("filename") if element is not None else None
        if not raw_name:
            raise FormatError(f"{path}: the EMPAD XML names no raw_file; open the .xml "
                              "written with the .raw data")
        count = _empad_count(root, raw_name)
    raw = (path.parent / raw_name).resolve()
    if not allow_external and raw.parent != path.parent.resolve():
        raise FormatError(f"{path}: the EMPAD XML points to data outside its folder "
                          f"({raw_name!r}); pass allow_external=True if you trust it")
    if count is None or count <= 0:
        raise FormatError(f"{path}: the EMPAD XML declares no valid scan size; the file is "
                          "corrupt")
    size = raw.stat().st_size if raw.is_file() else 0
    if count * EMPAD_FRAME_BYTES > size:
        raise FormatError(f"{path}: the XML declares {count:,} frames "
                          f"({count * EMPAD_FRAME_BYTES:,} bytes) but {raw_name} has "
                          f"{size:,} bytes; the .raw file is missing, truncated or the XML "
                          "is corrupt")


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
    if format in WHOLE_CHUNK_PROBE:
        # one chunk per signal: cheap whatever the header declares, so that the declared
        # size can be checked before RosettaSciIO lays out (and allocates) the real chunks
        _check_signal_sizes(path, _call(module.file_reader, path, format,
                                        dict(kwargs, chunks=-1)))
    return _call(module.file_reader, path, format, kwargs)


def _call(reader: Any, path: Path, format: str, kwargs: dict[str, Any]) -> list[dict]:
    try:
        return reader(str(path), **kwargs)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 (a third-party parser raises its own types)
        raise FormatError(f"{path}: RosettaSciIO could not read it as {format} "
                          f"({detail(exc)}); the file is corrupt, truncated or not "
                          f"{format}: check it opens in HyperSpy, or pass format=NAME") from None


def _check_signal_sizes(path: Path, signals: list[dict]) -> None:
    size = path.stat().st_size
    for signal in signals:
        data = signal.get("data")
        nbytes = int(np.prod(getattr(data, "shape", ()), dtype=object)) * \
            np.dtype(getattr(data, "dtype", np.uint8)).itemsize
        if nbytes > size:
            raise FormatError(f"{path}: the header declares an array of shape "
                              f"{tuple(data.shape)} {data.dtype} ({nbytes:,} bytes) but the "
                              f"file has only {size:,} bytes; the file is truncated or its "
                              "header is corrupt")


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
                          "dataset=INDEX")
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
    if format == "mrc":
        check_mrc_header(path)
    if format == "empad":
        check_empad_header(path, allow_external)
    if format == "hspy":
        with open_file(path) as f, reading(path, "the HDF5 structure"):
            check_external(f, path, allow_external)
            f.visititems(lambda _, obj: check_extent(obj, path)
                         if isinstance(obj, h5py.Dataset) else None)
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
    # what symbreak wrote (scan rotation, sources) where HyperSpy has no field for it
    calibration = signal_calibration(axes, hs_metadata)
    metadata = {"rosettasciio_plugin": PLUGINS[format],
                "metadata": common.jsonable(hs_metadata),
                "original_metadata_keys": sorted(signal.get("original_metadata", {}))}
    return Dataset4D(array=data, calibration=calibration, metadata=metadata, source=str(path))


def write(data: Dataset4D, path: Path, *, chunks: Any, progress: bool | None) -> None:
    """Write ``data`` as HyperSpy HDF5 (``.hspy``): :mod:`.hspy_writer`."""
    from .hspy_writer import write as write_hspy

    write_hspy(data, path, chunks=chunks, progress=progress)
