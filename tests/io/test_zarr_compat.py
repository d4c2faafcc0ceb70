"""symbreak's zarr stores under the installed zarr-python, 2.18 or 3.x.

The default environment has zarr 3; ``tests/test_field_env.py`` runs this module again
in the field environment (pyxem 0.21, so zarr 2.18). The checks use independent readers:
the store's own metadata files and ``xarray.open_zarr``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
import zarr

from symbreak import Calibration, Dataset4D
from symbreak.errors import FormatError
from symbreak.io import load, save
from symbreak.storage.zarr_compat import WRITE_FORMAT, ZARR_MAJOR, folder_of
from symbreak.vae.source import ZarrPatterns
from symbreak.engine.staging import stage_patterns

CAL = Calibration(energy=200e3, semiangle=12.0, scan_step=(0.4, 0.5),
                  angular_sampling=(0.8, 0.9), detector_center=(2.0, 3.0))


def _data(dtype=np.uint16) -> Dataset4D:
    array = (np.arange(3 * 4 * 5 * 6) % 1000).astype(dtype).reshape(3, 4, 5, 6)
    return Dataset4D(array=array, calibration=CAL, metadata={"detector": "test"})


def test_written_format_is_what_the_installed_zarr_writes(tmp_path):
    out = save(_data(), tmp_path / "d.zarr")
    assert WRITE_FORMAT == (3 if ZARR_MAJOR >= 3 else 2)
    if WRITE_FORMAT == 3:
        meta = json.loads((out / "data" / "zarr.json").read_text())
        assert meta["dimension_names"] == ["scan_y", "scan_x", "ky", "kx"]
        assert not (out / ".zgroup").exists()
    else:
        assert json.loads((out / ".zgroup").read_text())["zarr_format"] == 2
        attrs = json.loads((out / "data" / ".zattrs").read_text())
        assert attrs["_ARRAY_DIMENSIONS"] == ["scan_y", "scan_x", "ky", "kx"]
        assert json.loads((out / "data" / ".zarray").read_text())["compressor"]["cname"] == "lz4"


def test_round_trip_and_xarray_reads_the_coordinates(tmp_path):
    data = _data()
    out = save(data, tmp_path / "d.zarr")
    back = load(out)
    np.testing.assert_array_equal(back.to_numpy(), data.array)
    assert back.calibration == CAL and back.metadata["detector"] == "test"
    with xr.open_zarr(out, consolidated=False) as ds:
        assert ds["data"].dims == ("scan_y", "scan_x", "ky", "kx")
        np.testing.assert_allclose(ds["scan_x"].values, [0, 0.5, 1.0, 1.5])
        np.testing.assert_allclose(ds["ky"].values, (np.arange(5) - 2.0) * 0.8)
        assert ds["kx"].attrs["units"] == "mrad"
        np.testing.assert_array_equal(ds["data"].values, data.array)


def test_ground_truth_strings_round_trip(tmp_path):
    truth = xr.Dataset({"label": (("scan_y", "scan_x"), np.full((3, 4), "vacancy")),
                        "strain": (("scan_y", "scan_x"), np.linspace(0, 1, 12).reshape(3, 4))})
    out = save(_data().replace(ground_truth=truth), tmp_path / "t.zarr")
    back = load(out).ground_truth
    assert back["label"].dtype.kind == "U" and (back["label"].values == "vacancy").all()
    np.testing.assert_allclose(back["strain"].values, truth["strain"].values)


def test_interrupted_write_resumes_bit_exact(tmp_path, monkeypatch):
    from symbreak.io import stream
    from symbreak.storage.atomic import partial_path

    data = _data(np.float32)
    out = tmp_path / "r.zarr"
    original, written = stream._write_chunk, []

    def interrupt_after_one(*args, **kwargs):
        if written:
            raise KeyboardInterrupt
        original(*args, **kwargs)
        written.append(1)

    monkeypatch.setattr(stream, "_write_chunk", interrupt_after_one)
    with pytest.raises(KeyboardInterrupt):
        stream.write_output(data, out, chunks=(1, 4, 5, 6))
    monkeypatch.setattr(stream, "_write_chunk", original)
    assert not out.exists() and partial_path(out).exists()
    stream.write_output(data, out, chunks=(1, 4, 5, 6), resume=True)
    np.testing.assert_array_equal(load(out).to_numpy(), data.array)
    assert load(out).calibration == CAL


def test_staged_patterns_stream_from_a_local_folder(tmp_path):
    import dask.array as da

    x = da.from_array(np.random.default_rng(0).random((4, 3, 5, 6)), chunks=(1, 3, 5, 6))
    staged = stage_patterns(x, tmp_path / "p.zarr")
    assert folder_of(staged) is not None
    source = ZarrPatterns(staged)
    got = np.concatenate([source.read(a, b) for a, b in source.bounds])
    np.testing.assert_allclose(got, x.compute().reshape(-1, 5, 6).astype(np.float32))


@pytest.mark.skipif(ZARR_MAJOR >= 3, reason="zarr-python 3 reads format 3 stores")
def test_a_format_3_store_under_zarr_2_says_what_to_install(tmp_path):
    store = tmp_path / "v3.zarr"
    store.mkdir()
    (store / "zarr.json").write_text(json.dumps(
        {"zarr_format": 3, "node_type": "group", "attributes": {}}))
    with pytest.raises(FormatError, match=r"format 3 store.*zarr-python 3.*zarr>=3"):
        load(store)
