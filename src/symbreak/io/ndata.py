"""Nion Swift ``.ndata1``: a zip archive of ``data.npy`` and ``metadata.json``.

``data.npy`` is memory-mapped straight from the archive when the member is stored
uncompressed (Nion Swift's default): its data offset is the local file header offset +
30 + name length + extra length, plus the .npy header. A deflated member is read into
memory if it fits the memory budget: decompressed block by block into an array of the size
its .npy header declares, and refused when the archive declares a different size (a zip
bomb: a small header in front of gigabytes of deflated zeros) or the data end early.

Calibration comes from ``dimensional_calibrations`` (or the older
``spatial_calibrations``): scan axes in nm / Å, detector axes in rad / mrad / 1/nm; beam
energy from a ``high_tension`` [V] entry of the metadata.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..dataset import Dataset4D
from ..engine import COPIES_DECOMPRESSED, placement
from ..errors import CalibrationError, FormatError
from . import common
from ..calibration.axes import calibration_from_axes
from .guards.failures import detail, reading
from .npy import check_size, read_header
from .guards.untrusted import ZIP_ERRORS, check_zip, fill, read_member

LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


def _member_offset(fh: Any, info: zipfile.ZipInfo, path: Path) -> int:
    fh.seek(info.header_offset)
    fields = LOCAL_HEADER.unpack(fh.read(LOCAL_HEADER.size))
    if fields[0] != b"PK\x03\x04":
        raise FormatError(f"{path}: corrupt zip (bad local header for data.npy); copy the "
                          "file again")
    return info.header_offset + LOCAL_HEADER.size + fields[9] + fields[10]


CRC_BLOCK = 1 << 24  # bytes read at a time while checking a member's CRC


def check_crc(path: Path, start: int, info: zipfile.ZipInfo) -> None:
    """Compare the CRC-32 of a stored member's bytes (``info.file_size`` from ``start``)
    with the one the archive records, reading it block by block (no copy is kept).

    Raises
    ------
    FormatError
        The bytes differ from what was archived (a flipped bit, a bad copy), or end early.
    """
    crc, left = 0, info.file_size
    with open(path, "rb") as fh:
        fh.seek(start)
        while left > 0:
            block = fh.read(min(CRC_BLOCK, left))
            if not block:
                raise FormatError(f"{path}: data.npy ends {left:,} bytes early; the file is "
                                  "truncated: copy or export it again")
            crc = zlib.crc32(block, crc)
            left -= len(block)
    if crc != info.CRC:
        raise FormatError(f"{path}: data.npy fails its CRC check (stored {info.CRC:08x}, "
                          f"read {crc:08x}); the file is corrupt: copy or export it again "
                          "from Nion Swift")


def _find(values: Any, key: str) -> Any:
    if isinstance(values, Mapping):
        if key in values:
            return values[key]
        for value in values.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def _calibration(meta: Any) -> Any:
    """Calibration from Nion metadata; entries that are missing or unusable are unknown."""
    meta = meta if isinstance(meta, Mapping) else {}
    cals = meta.get("dimensional_calibrations") or meta.get("spatial_calibrations") or []
    cals = cals if isinstance(cals, list) else []
    axes = [{"scale": c.get("scale", 1.0), "offset": c.get("offset", 0.0),
             "units": c.get("units", "")} if isinstance(c, Mapping) else {} for c in cals]
    cal = calibration_from_axes(axes)
    volts = _find(meta.get("metadata", meta), "high_tension")
    try:
        energy = float(volts) if volts is not None and not isinstance(volts, str) else None
        return cal.replace(source="file", energy=energy) if energy and energy > 0 else cal
    except (TypeError, ValueError, OverflowError, CalibrationError):
        return cal


def _open(path: Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_ERRORS as exc:
        raise FormatError(f"{path}: not a valid .ndata1 zip archive ({detail(exc)}); the file is "
                          "corrupt or truncated: export it again from Nion Swift") from None
    try:
        check_zip(archive, path)
    except FormatError:
        archive.close()
        raise
    names = archive.namelist()
    if "data.npy" not in names or "metadata.json" not in names:
        raise FormatError(f"{path}: .ndata1 archive lacks data.npy or metadata.json "
                          f"(members: {names[:6]}); export it again from Nion Swift")
    return archive


def _array(path: Path, archive: zipfile.ZipFile) -> np.ndarray:
    info = archive.getinfo("data.npy")
    if info.compress_type == zipfile.ZIP_STORED:
        with open(path, "rb") as fh:
            start = _member_offset(fh, info, path)
            fh.seek(start)
            shape, fortran, dtype = read_header(fh, path)
            offset = fh.tell()
        common.check_4d(shape if len(shape) == 4 else (1,) * 4, dtype, path, "data.npy")
        check_size(path, shape, dtype, offset,
                   min(start + info.file_size, path.stat().st_size))
        check_crc(path, start, info)
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                         order="F" if fortran else "C")
    return _inflate(path, archive, info)


def _inflate(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """A compressed ``data.npy``, decompressed into an array of the size its header declares
    (never more: the archive must declare exactly that header and data)."""
    with archive.open(info) as member:
        shape, fortran, dtype = read_header(member, path)
        header = member.tell()
        common.check_4d(shape if len(shape) == 4 else (1,) * 4, dtype, path, "data.npy")
        needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if header + needed != info.file_size:
            raise FormatError(
                f"{path}: data.npy declares {info.file_size:,} bytes uncompressed but its "
                f".npy header describes {header + needed:,} (shape {tuple(shape)} {dtype}); "
                "the archive is corrupt or a zip bomb: export it again from Nion Swift")
        if placement(needed, COPIES_DECOMPRESSED).streamed:
            raise FormatError(f"{path}: data.npy is compressed inside the archive and its "
                              f"{needed:,} bytes exceed the memory budget; re-zip it stored "
                              "(zip -0) or raise SYMBREAK_MEMORY_BUDGET")
        raw = np.empty(needed, dtype=np.uint8)
        fill(member, memoryview(raw), path, "data.npy")
        if member.read(1):
            raise FormatError(f"{path}: data.npy holds more than its .npy header declares; "
                              "the archive is corrupt: export it again from Nion Swift")
    return raw.view(dtype).reshape(shape, order="F" if fortran else "C")


def read(path: Path, *, format: str, dataset: str | None, chunks: Any,
         scan_shape: tuple[int, int] | None, allow_external: bool = False) -> Dataset4D:
    with reading(path, "the .ndata1 archive"):
        return _read(path, chunks, scan_shape)


def _read(path: Path, chunks: Any, scan_shape: tuple[int, int] | None) -> Dataset4D:
    with _open(path) as archive:
        try:
            meta = json.loads(read_member(archive, "metadata.json", path))
        except (ValueError, zipfile.BadZipFile) as exc:
            raise FormatError(f"{path}: metadata.json is not valid JSON ({detail(exc)}); "
                              "export it again from Nion Swift") from None
        array = _array(path, archive)
    array = common.reshape_stack(array, scan_shape, path)
    common.check_4d(array.shape, array.dtype, path, "data.npy")
    if not (isinstance(chunks, str) and chunks == "auto"):
        array = common.as_dask(array, chunks)
    return Dataset4D(array=array, calibration=_calibration(meta),
                     metadata=common.jsonable(meta), source=str(path))
