"""save() then load(): same bits, same calibration, metadata, provenance, ground truth;
no half file after a failure; never overwrite unless asked."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr
import zarr

from symbreak.calibration import Calibration
from symbreak.dataset import Dataset4D
from symbreak.errors import OutputExistsError
from symbreak.io import load, save

DTYPES = [np.uint8, np.uint16, np.uint32, np.int16, np.int64, np.float16, np.float32,
          np.float64, np.bool_]
CAL = Calibration(energy=60e3, semiangle=32.0, scan_step=(0.18, 0.176),
                  angular_sampling=(0.95, 0.97), detector_center=(7.5, 8.25),
                  scan_rotation=-0.3, scan_flip=True,
                  sources={"energy": "file", "semiangle": "user", "scan_step": "file",
                           "angular_sampling": "file", "detector_center": "user",
                           "scan_rotation": "user", "scan_flip": "user"})


def _truth(ny=4, nx=5):
    rng = np.random.default_rng(3)
    return xr.Dataset(
        {"site": (("scan_y", "scan_x"), rng.integers(0, 3, (ny, nx))),
         "com_x": (("scan_y", "scan_x"), rng.random((ny, nx)), {"units": "mrad"}),
         "atom_z": (("atom",), np.array([6, 6, 14]))},
        coords={"element": ("atom", np.array(["C", "C", "Si"]))},
        attrs={"structure": "graphene", "seed": 0})


@pytest.fixture
def sample(writers):
    def make(dtype, shape=(4, 5, 16, 17)):
        return Dataset4D(array=writers.counts(shape, dtype), calibration=CAL,
                         metadata={"instrument": {"name": "Nion", "kV": 60}, "note": "x"},
                         provenance=({"step": "simulate", "seed": 0},),
                         ground_truth=_truth(*shape[:2]))
    return make


@pytest.mark.parametrize("suffix", [".zarr", ".h5"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip_is_bit_exact(tmp_path, sample, suffix, dtype):
    data = sample(dtype)
    out = save(data, tmp_path / f"d{suffix}")
    back = load(out)
    assert back.dtype == data.dtype
    np.testing.assert_array_equal(back.to_numpy(), data.array)
    assert back.to_numpy().tobytes() == np.asarray(data.array).tobytes()
    assert back.calibration == CAL
    assert back.calibration.sources == CAL.sources


@pytest.mark.parametrize("suffix", [".zarr", ".h5"])
def test_round_trip_keeps_metadata_provenance_and_ground_truth(tmp_path, sample, suffix):
    data = sample(np.uint16)
    back = load(save(data, tmp_path / f"d{suffix}"))
    assert back.metadata == data.metadata
    assert back.provenance[0]["step"] == "simulate" and back.provenance[-1]["step"] == "load"
    xr.testing.assert_identical(back.ground_truth.load(), data.ground_truth)


def test_lazy_input_streams_with_other_chunks(tmp_path, writers):
    source = writers.counts((6, 7, 12, 12), np.float32)
    lazy = da.from_array(source, chunks=(4, 3, 12, 12))
    out = save(lazy, tmp_path / "lazy.zarr", chunks=(2, 7, 12, 12))
    assert zarr.open_array(str(out / "data"), mode="r").chunks == (2, 7, 12, 12)
    np.testing.assert_array_equal(load(out).to_numpy(), source)


def test_zarr_output_opens_in_xarray_with_units(tmp_path, sample):
    out = save(sample(np.uint16), tmp_path / "x.zarr")
    ds = xr.open_zarr(out, consolidated=False)
    assert ds["data"].dims == ("scan_y", "scan_x", "ky", "kx")
    assert ds["scan_x"].attrs["units"] == "Å" and ds["kx"].attrs["units"] == "mrad"
    np.testing.assert_allclose(ds["scan_x"].values, np.arange(5) * 0.176)
    np.testing.assert_allclose(ds["ky"].values, (np.arange(16) - 7.5) * 0.95)


def _failing(shape=(4, 5, 8, 8)):
    def block(x):
        if x.sum() >= 0 and block.calls >= 1:
            raise RuntimeError("detector read failed")
        block.calls += 1
        return x
    block.calls = 0
    return da.zeros(shape, chunks=(1, 5, 8, 8), dtype=np.uint16).map_blocks(block, dtype=np.uint16)


@pytest.mark.parametrize("suffix", [".zarr", ".h5"])
def test_failure_mid_write_leaves_nothing(tmp_path, suffix):
    with pytest.raises(RuntimeError, match="detector read failed"):
        save(_failing(), tmp_path / f"f{suffix}", chunks=(1, 5, 8, 8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".zarr", ".h5"])
def test_failure_keeps_the_old_output(tmp_path, sample, suffix):
    data = sample(np.uint16, (4, 5, 8, 8))
    out = save(data, tmp_path / f"o{suffix}")
    with pytest.raises(RuntimeError):
        save(_failing(), out, overwrite=True, chunks=(1, 5, 8, 8))
    np.testing.assert_array_equal(load(out).to_numpy(), data.array)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_refuses_to_overwrite_then_overwrites_when_asked(tmp_path, sample):
    out = tmp_path / "d.zarr"
    save(sample(np.uint8), out)
    with pytest.raises(OutputExistsError, match="already exists.*overwrite=True"):
        save(sample(np.uint16), out)
    assert load(out).dtype == np.uint8
    save(sample(np.uint16), out, overwrite=True)
    assert load(out).dtype == np.uint16


def test_round_trip_from_a_loaded_file_keeps_its_calibration(tmp_path, writers):
    writers.emd(tmp_path / "in.emd", writers.counts((2, 3, 4, 4)), r_step=0.5, q_step=0.02)
    back = load(save(load(tmp_path / "in.emd", energy=300e3), tmp_path / "out.zarr"))
    assert back.calibration.energy == 300e3 and back.calibration.sources["energy"] == "user"
    assert back.calibration.k_sampling == (0.02, 0.02)
    assert back.calibration.sources["k_sampling"] == "file"


# built by `make refenvs` (py4DSTEM pins old NumPy, so it lives in its own venv)
PY4DSTEM = Path(os.environ.get("SYMBREAK_REFENVS", Path(__file__).resolve().parents[2] / ".refenvs")) / "py4dstem" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.skipif(not PY4DSTEM.exists(), reason="py4DSTEM reference venv not built (make refenvs)")
def test_py4dstem_reads_our_emd_file(tmp_path, sample):
    data = sample(np.uint16, (3, 4, 8, 8))
    out = save(data, tmp_path / "p.h5")
    script = (
        "import sys, numpy as np, py4DSTEM\n"
        "dc = py4DSTEM.read(sys.argv[1])\n"
        "c = dc.calibration\n"
        "np.save(sys.argv[2], dc.data)\n"
        "print(type(dc).__name__, c.get_R_pixel_size(), c.get_R_pixel_units(),\n"
        "      c.get_Q_pixel_size(), c.get_Q_pixel_units())\n")
    result = subprocess.run([str(PY4DSTEM), "-c", script, str(out), str(tmp_path / "a.npy")],
                            capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr[-2000:]
    kind, r_size, r_units, q_size, q_units = result.stdout.split()[-5:]
    assert kind == "DataCube" and r_units == "A" and q_units == "A^-1"
    assert float(r_size) == pytest.approx(0.176)
    assert float(q_size) == pytest.approx(CAL.k_sampling[1])
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), data.array)


@pytest.mark.slow
@pytest.mark.skipif(not PY4DSTEM.exists(), reason="py4DSTEM reference venv not built (make refenvs)")
def test_we_read_a_file_py4dstem_wrote(tmp_path, writers):
    data = writers.counts((3, 4, 8, 8), np.uint16)
    np.save(tmp_path / "a.npy", data)
    script = (
        "import sys, numpy as np, py4DSTEM\n"
        "dc = py4DSTEM.DataCube(data=np.load(sys.argv[1]))\n"
        "dc.calibration.set_R_pixel_size(0.25); dc.calibration.set_R_pixel_units('A')\n"
        "dc.calibration.set_Q_pixel_size(0.015); dc.calibration.set_Q_pixel_units('A^-1')\n"
        "py4DSTEM.save(sys.argv[2], dc, mode='o')\n")
    result = subprocess.run([str(PY4DSTEM), "-c", script, str(tmp_path / "a.npy"),
                             str(tmp_path / "p.h5")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ds = load(tmp_path / "p.h5")
    np.testing.assert_array_equal(ds.to_numpy(), data)
    assert ds.calibration.scan_step == (0.25, 0.25)
    assert ds.calibration.k_sampling == (0.015, 0.015)
