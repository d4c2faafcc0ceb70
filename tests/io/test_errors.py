"""Bad input: one clear error naming the file, the problem and the fix, before heavy work."""

from __future__ import annotations

import json

import zipfile

import h5py
import numpy as np
import pytest

from symbreak.errors import DataError, FormatError, SettingsError, SymbreakError
from symbreak.io import load

from .conftest import one_line


def test_missing_file(tmp_path):
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "nothere.h5")
    one_line(exc, "nothere.h5", "no such file", "check the path")


def test_missing_file_suggests_files_with_that_stem(tmp_path):
    np.save(tmp_path / "scan.npy", np.zeros((1, 1, 2, 2)))
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "scan.h5")
    one_line(exc, "scan.npy")


def test_directory(tmp_path):
    with pytest.raises(FormatError) as exc:
        load(tmp_path)
    one_line(exc, str(tmp_path), "is a directory", "give a file")


def test_unknown_format(tmp_path):
    (tmp_path / "d.tiff").write_bytes(b"II*\0")
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "d.tiff")
    one_line(exc, "d.tiff", "unknown file format", ".npy", "format=")


def test_truncated_npy(tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((4, 4, 8, 8), np.float32))
    raw = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "t.npy")
    one_line(exc, "t.npy", "truncated")


def test_corrupt_npy_header(tmp_path):
    (tmp_path / "c.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "c.npy")
    one_line(exc, "c.npy", "not a valid .npy")


def test_truncated_hdf5(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["data"] = np.zeros((4, 4, 16, 16))
    raw = (tmp_path / "t.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(raw[:1000])
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "t.h5")
    one_line(exc, "t.h5", "truncated, corrupt or not HDF5")


def test_corrupt_zip_store(tmp_path):
    (tmp_path / "z.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "z.zip")
    one_line(exc, "z.zip", "corrupt")


def test_corrupt_ndata1(tmp_path):
    (tmp_path / "n.ndata1").write_bytes(b"\0" * 100)
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "n.ndata1")
    one_line(exc, "n.ndata1", "not a valid .ndata1")


def test_corrupt_mib(tmp_path):
    (tmp_path / "m.mib").write_bytes(b"MQ1,garbage" + b"\0" * 500)
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "m.mib")
    one_line(exc, "m.mib", "no valid Merlin MIB header")


@pytest.mark.parametrize("shape", [(4, 8, 8), (2, 2, 2, 4, 4)])
def test_wrong_number_of_dimensions(tmp_path, shape):
    np.save(tmp_path / "a.npy", np.zeros(shape))
    with pytest.raises(DataError) as exc:
        load(tmp_path / "a.npy")
    text = one_line(exc, "a.npy", f"{len(shape)} dimensions", "expected 4")
    if len(shape) == 3:
        assert "scan_shape=(ny, nx)" in text


def test_three_d_hdf5_is_an_error_listing_datasets(tmp_path):
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["stack"] = np.zeros((6, 4, 4))
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "s.h5")
    one_line(exc, "s.h5", "no 4-D dataset", "stack (6, 4, 4)", "scan_shape")
    assert load(tmp_path / "s.h5", dataset="stack", scan_shape=(2, 3)).shape == (2, 3, 4, 4)


@pytest.mark.parametrize("dtype", [np.complex64, "U3", np.dtype([("a", "f4"), ("b", "i2")])])
def test_non_numeric_dtype(tmp_path, dtype):
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("data", shape=(2, 2, 3, 3),
                         dtype=h5py.string_dtype() if dtype == "U3" else dtype)
    with pytest.raises(DataError) as exc:
        load(tmp_path / "c.h5", dataset="data")
    one_line(exc, "c.h5", "not a real number type")


def test_non_numeric_npy(tmp_path):
    np.save(tmp_path / "c.npy", np.zeros((2, 2, 3, 3), np.complex64))
    with pytest.raises(DataError) as exc:
        load(tmp_path / "c.npy")
    one_line(exc, "c.npy", "complex64")


def test_several_4d_datasets_without_choice(tmp_path):
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["raw"] = np.zeros((2, 2, 4, 4))
        f["processed/binned"] = np.zeros((2, 2, 2, 2))
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "two.h5")
    one_line(exc, "two.h5", "several 4-D datasets", "raw", "processed/binned", "dataset=NAME")


def test_missing_named_dataset(tmp_path):
    with h5py.File(tmp_path / "one.h5", "w") as f:
        f["raw"] = np.zeros((2, 2, 4, 4))
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "one.h5", dataset="nope")
    one_line(exc, "one.h5", "'nope'", "raw")


def test_absurd_npy_header_is_refused_without_allocating(tmp_path):
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6, 512, 512)}
    with open(tmp_path / "big.npy", "wb") as fh:
        np.lib.format.write_array_header_2_0(fh, header)
        fh.write(b"\0" * 64)
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "big.npy")
    one_line(exc, "big.npy", "header declares", "truncated")


def test_absurd_ndata1_header_is_refused(tmp_path):
    buf = tmp_path / "h.npy"
    header = {"descr": "<u2", "fortran_order": False, "shape": (4096, 4096, 1024, 1024)}
    with open(buf, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 128)
    with zipfile.ZipFile(tmp_path / "a.ndata1", "w") as z:
        z.write(buf, "data.npy")
        z.writestr("metadata.json", json.dumps({}))
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "a.ndata1")
    one_line(exc, "a.ndata1", "header declares")


def test_absurd_paper_attributes_are_refused(tmp_path, writers):
    path = tmp_path / "p.h5"
    writers.paper(path, np.zeros((2, 2, 4, 4), np.float32))
    with h5py.File(path, "a") as f:
        f["Calculation"].attrs["Nxsample"] = 10**9
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "p.h5", "holds only 4", "truncated or its attributes are wrong")


def test_absurd_mib_frame_size_is_refused(tmp_path):
    fields = ["MQ1", "000001", "00384", "01", "9999", "9999", "U32", "   1x1", "01",
              "2024-01-01 00:00:00", "0.001", "0", "0", "0", "1.0E+1", "5.11E+2", "3RX",
              "MQ1A", "2024-01-01T00:00:00.000000000Z", "1000000ns", "24", ""]
    header = ",".join(fields).encode()
    (tmp_path / "big.mib").write_bytes(header + b"\0" * (384 - len(header)) + b"\0" * 1024)
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "big.mib")
    one_line(exc, "big.mib", "9999 x 9999 U32", "truncated")


def test_scan_shape_that_does_not_match(tmp_path):
    np.save(tmp_path / "s.npy", np.zeros((10, 4, 4)))
    with pytest.raises(DataError) as exc:
        load(tmp_path / "s.npy", scan_shape=(3, 4))
    one_line(exc, "s.npy", "12 positions", "10 patterns")


def test_bad_calibration_override(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((1, 1, 2, 2)))
    with pytest.raises(SymbreakError, match="energy"):
        load(tmp_path / "a.npy", energy=-5)
    with pytest.raises(SymbreakError, match="unknown calibration field"):
        load(tmp_path / "a.npy", enrgy=60e3)


def test_bad_save_target(tmp_path):
    from symbreak.io import save

    with pytest.raises(FormatError, match="writes zarr"):
        save(np.zeros((1, 1, 2, 2)), tmp_path / "out.tiff")
    with pytest.raises(SettingsError, match="does not exist"):
        save(np.zeros((1, 1, 2, 2)), tmp_path / "no" / "out.zarr")
    with pytest.raises(SettingsError, match="chunks must be 4"):
        save(np.zeros((1, 1, 2, 2)), tmp_path / "out.zarr", chunks=(1, 2))
    assert list(tmp_path.iterdir()) == []



def test_blockfile_without_its_optional_dependency(tmp_path):
    import importlib.util

    if importlib.util.find_spec("skimage") is not None:
        pytest.skip("scikit-image is installed: the .blo reader works")
    (tmp_path / "a.blo").write_bytes(b"IMGBLO" + b"\0" * 100)
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "a.blo")
    one_line(exc, "a.blo", "pip install scikit-image")
