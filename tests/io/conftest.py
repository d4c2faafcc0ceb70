"""Independent writers for the reader tests: each follows the published layout of its
format (or uses the format's own library) and never symbreak's writer."""

from __future__ import annotations

import json
import struct
import types
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest


def counts(shape, dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) > 0.5
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 60000), shape, endpoint=True).astype(dtype)


def write_emd(path: Path, data: np.ndarray, r_step=0.5, q_step=0.02, r_units="A",
              q_units="A^-1") -> None:
    """EMD 1.0 as emdfile 0.0.16 / py4DSTEM 0.14 write an Array: dims as [origin, step]."""
    with h5py.File(path, "w") as f:
        f.attrs.update({"emd_group_type": "file", "version_major": 1, "version_minor": 0,
                        "authoring_program": "emdfile"})
        root = f.create_group("root")
        root.attrs.update({"emd_group_type": "root", "python_class": "Root"})
        cube = root.create_group("datacube")
        cube.attrs.update({"emd_group_type": "array", "python_class": "Array"})
        cube.create_dataset("data", data=data)
        for i, (name, step, unit) in enumerate(zip(("Rx", "Ry", "Qx", "Qy"),
                                                   (r_step, r_step, q_step, q_step),
                                                   (r_units, r_units, q_units, q_units))):
            dim = cube.create_dataset(f"dim{i}", data=np.array([0.0, step]))
            dim.attrs.update({"name": name, "units": unit})


def write_paper(path: Path, patterns: np.ndarray, a0=(4.268, 2.464, 2.0), tiles=(12, 20),
                kv=60.0) -> None:
    """The paper's layout: CBEDs rows n*Nopiyout:(n+1)*Nopiyout, n row-major over y, x."""
    ny, nx, ky, kx = patterns.shape
    with h5py.File(path, "w") as f:
        f.create_dataset("CBEDs", data=patterns.reshape(ny * nx * ky, kx))
        calc = f.create_group("Calculation")
        calc.attrs.update({"Nxsample": nx, "Nysample": ny, "Nopixout": kx, "Nopiyout": ky,
                           "Nxtile": tiles[0], "Nytile": tiles[1]})
        f.create_group("Crystal").attrs["a0"] = np.array(a0)
        f.create_group("Microscope").attrs["Energy"] = kv


def write_ndata1(path: Path, data: np.ndarray, stored=True, high_tension=60000.0) -> dict:
    """Nion Swift: zip of data.npy (numpy.save) and metadata.json."""
    meta = {
        "version": 1, "collection_dimension_count": 2, "datum_dimension_count": 2,
        "dimensional_calibrations": [
            {"offset": 0.0, "scale": 0.025, "units": "nm"},
            {"offset": 0.0, "scale": 0.03, "units": "nm"},
            {"offset": -0.004, "scale": 0.0005, "units": "rad"},
            {"offset": -0.005, "scale": 0.0005, "units": "rad"},
        ],
        "intensity_calibration": {"offset": 0.0, "scale": 1.0, "units": "counts"},
        "metadata": {"instrument": {"high_tension": high_tension}},
    }
    npy = path.with_suffix(".tmp.npy")
    np.save(npy, data)
    mode = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", compression=mode) as z:
        z.write(npy, "data.npy")
        z.writestr("metadata.json", json.dumps(meta))
    npy.unlink()
    return meta


def write_mib(path: Path, frames: np.ndarray, scan_shape, with_hdr=True) -> None:
    """Quantum Detectors Merlin MIB: per frame a 384-byte ASCII header (MQ1, frame number,
    header size, chips, width, height, pixel depth, layout, ...) then big-endian pixels."""
    n, h, w = frames.shape
    depth = {np.dtype(np.uint8): "U08", np.dtype(np.uint16): "U16",
             np.dtype(np.uint32): "U32"}[frames.dtype]
    with open(path, "wb") as fh:
        for i, frame in enumerate(frames):
            stamp = f"2024-01-01T00:00:{i * 1e-3:09.6f}Z"
            fields = ["MQ1", f"{i + 1:06d}", "00384", "01", f"{w:04d}", f"{h:04d}", depth,
                      "   1x1", "01", "2024-01-01 00:00:00.000000", "0.001000", "0", "0", "0",
                      "1.0E+1", "5.11E+2", "3RX", "MQ1A", stamp, "1000000ns", "12", ""]
            header = ",".join(fields).encode()
            fh.write(header + b"\0" * (384 - len(header)))
            fh.write(frame.astype(frame.dtype.newbyteorder(">")).tobytes())
    if with_hdr:
        ny, nx = scan_shape
        path.with_suffix(".hdr").write_text(
            "HDR,\t\nTime and Date Stamp (day, mnth, year, hr, min, s):\t01/01/2024 00:00:00\n"
            "Chip ID:\tW530_L5\nChip Type (Medipix 3.0, Medipix 3.1, Medipix 3RX):\tMedipix 3RX\n"
            "Assembly Size (NX1, 2X2):\t   1x1\nChip Mode  (SPM, CSM, CM, CSCM):\tSPM\n"
            f"Frames in Acquisition (Number):\t{ny * nx}\nFrames per Trigger (Number):\t{nx}\n"
            "End\t\n")


def write_empad(folder: Path, data: np.ndarray, fov_m=(2e-9, 2e-9)) -> Path:
    """EMPAD: float32 frames of 128 x 130 (two footer rows) + an XML description."""
    ny, nx = data.shape[:2]
    raw_name = f"scan_x{nx}_y{ny}.raw"
    frames = np.zeros((ny, nx, 130, 128), np.float32)
    frames[:, :, :128] = data
    frames.tofile(folder / raw_name)
    xml = folder / "scan.xml"
    xml.write_text(
        f'<root><raw_file filename="{raw_name}"/><pix_x>{nx}</pix_x><pix_y>{ny}</pix_y>'
        "<timestamp isoformat=\"2024-01-01T00:00:00\"/><iom_measurements><optics>"
        f"<get_full_scan_field_of_view>[{fov_m[1]}, {fov_m[0]}]</get_full_scan_field_of_view>"
        "</optics></iom_measurements></root>")
    return xml


def write_mrc(path: Path, stack: np.ndarray) -> None:
    """MRC2014: 1024-byte header (NX, NY, NZ, MODE, ..., 'MAP ' stamp), then the frames."""
    nz, ny, nx = stack.shape
    mode = {np.dtype(np.int16): 1, np.dtype(np.float32): 2, np.dtype(np.uint16): 6,
            np.dtype(np.int8): 0}[stack.dtype]
    header = bytearray(1024)
    struct.pack_into("<10i", header, 0, nx, ny, nz, mode, 0, 0, 0, nx, ny, nz)
    struct.pack_into("<3f", header, 40, nx, ny, nz)
    struct.pack_into("<3f", header, 52, 90, 90, 90)
    struct.pack_into("<3i", header, 64, 1, 2, 3)
    struct.pack_into("<2i", header, 88, 0, 0)  # ISPG, NSYMBT (no extended header)
    header[208:212] = b"MAP "
    header[212:216] = bytes([0x44, 0x44, 0, 0])
    with open(path, "wb") as fh:
        fh.write(bytes(header))
        fh.write(stack.astype(stack.dtype.newbyteorder("<")).tobytes())


def _dm_name(name: str) -> bytes:
    return struct.pack(">H", len(name)) + name.encode()


def _dm_data(name: str, info: list[int], payload: bytes) -> bytes:
    body = b"%%%%" + struct.pack(">Q", len(info)) + struct.pack(f">{len(info)}Q", *info) + payload
    return b"\x15" + _dm_name(name) + struct.pack(">Q", len(body)) + body


def _dm_group(name: str, tags: list[bytes]) -> bytes:
    body = b"\x00\x01" + struct.pack(">Q", len(tags)) + b"".join(tags)
    return b"\x14" + _dm_name(name) + struct.pack(">Q", len(body)) + body


def _dm_float(name: str, value: float) -> bytes:
    return _dm_data(name, [6], struct.pack("<f", value))


def _dm_text(name: str, text: str) -> bytes:
    return _dm_data(name, [20, 4, len(text)], struct.pack(f"<{len(text)}H", *map(ord, text)))


def write_dm4(path: Path, data: np.ndarray, scan=(0.2, "nm"), detector=(0.1, "1/nm"),
              center=(16.0, 20.0), voltage=300e3) -> None:
    """Gatan DM4 per the published tag-file layout: big-endian header (version 4, root
    length, byte order), tag groups (id 20) and data tags (id 21, '%%%%', info array of
    uint64, little-endian payload); ImageList/ImageData holds Data, DataType,
    Dimensions (x fastest) and Calibrations (Origin [px], Scale, Units per dimension)."""
    ny, nx, ky, kx = data.shape
    dims = [(kx, detector, center[1]), (ky, detector, center[0]), (nx, scan, 0.0),
            (ny, scan, 0.0)]
    calibrations = _dm_group("Calibrations", [
        _dm_group("Brightness", [_dm_float("Origin", 0), _dm_float("Scale", 1),
                                 _dm_text("Units", "counts")]),
        _dm_group("Dimension", [
            _dm_group("", [_dm_float("Origin", origin), _dm_float("Scale", step),
                           _dm_text("Units", unit)]) for _, (step, unit), origin in dims]),
    ])
    image_data = _dm_group("ImageData", [
        calibrations,
        _dm_data("Data", [20, 4, data.size], data.astype("<u2").tobytes()),
        _dm_data("DataType", [3], struct.pack("<i", 10)),
        _dm_group("Dimensions", [_dm_data("", [5], struct.pack("<I", n)) for n, _, _ in dims]),
        _dm_data("PixelDepth", [5], struct.pack("<I", 2)),
    ])
    image_tags = _dm_group("ImageTags", [
        _dm_group("Microscope Info", [_dm_float("Voltage", voltage)])])
    image = _dm_group("", [image_data, image_tags, _dm_text("Name", "4D scan")])
    root = b"\x00\x01" + struct.pack(">Q", 1) + _dm_group("ImageList", [image])
    with open(path, "wb") as fh:
        fh.write(struct.pack(">I", 4) + struct.pack(">Q", len(root)) + struct.pack(">I", 1))
        fh.write(root + b"\0" * 8)


@pytest.fixture
def writers():
    return types.SimpleNamespace(
        counts=counts, emd=write_emd, paper=write_paper, ndata1=write_ndata1, mib=write_mib,
        empad=write_empad, mrc=write_mrc, dm4=write_dm4)


def one_line(exc: pytest.ExceptionInfo, *words: str) -> str:
    """The error message, checked to be one line that contains every word of ``words``."""
    text = str(exc.value)
    assert "\n" not in text
    for word in words:
        assert word in text, text
    return text
