import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.classical import com, decompose, virtual_images
from symbreak.cli import main


@pytest.fixture
def npy(tmp_path):
    data = np.random.default_rng(3).poisson(8, (6, 7, 16, 18)).astype(np.uint16)
    path = tmp_path / "data.npy"
    np.save(path, data)
    return path, data


def test_com_cli_round_trip(npy, tmp_path, capsys):
    path, data = npy
    out = tmp_path / "com.zarr"
    rc = main(["com", str(path), "--out", str(out), "--mask", "2,7", "--rotation", "30deg",
               "--flip", "--derived", "--units", "mrad", "--angular-sampling", "0.5",
               "--energy", "80kV", "--scan-step", "0.3"])
    assert rc == 0 and "30.00 deg" in capsys.readouterr().out
    saved = xr.open_zarr(out)
    ds = symbreak.as_dataset(data, angular_sampling=0.5, energy=80e3, scan_step=0.3)
    direct = com(ds, mask=(2, 7), rotation=np.radians(30), flip=True, units="mrad")
    np.testing.assert_allclose(saved.com_x.values, direct.com_x.values, atol=1e-12)
    for name in ("divergence", "curl", "icom", "field_x"):
        assert name in saved and "units" in saved[name].attrs
    assert saved.scan_x.attrs["units"] == "Å"


def test_virtual_cli_round_trip(npy, tmp_path):
    path, data = npy
    out = tmp_path / "virtual.zarr"
    rc = main(["virtual", str(path), "--out", str(out), "--detector", "bf:0:3",
               "--detector", "adf:3:inf", "--units", "px", "--center", "7.5,8.5"])
    assert rc == 0
    saved = xr.open_zarr(out)
    direct = virtual_images(data, {"bf": (0, 3), "adf": (3, np.inf)}, units="px",
                            center=(7.5, 8.5))
    np.testing.assert_array_equal(saved.bf.values, direct.bf.values)
    assert saved.bf.values.sum() + saved.adf.values.sum() == data.sum()


def test_decompose_cli_round_trip(npy, tmp_path):
    path, data = npy
    out = tmp_path / "pca.zarr"
    assert main(["decompose", str(path), "--out", str(out), "-n", "4"]) == 0
    saved = xr.open_zarr(out)
    direct = decompose(data, "pca", 4)
    np.testing.assert_allclose(saved.components.values, direct.components.values, atol=1e-8)
    assert saved.scores.dims == ("component", "scan_y", "scan_x")


def test_cli_refuses_existing_output_and_bad_options(npy, tmp_path, capsys):
    path, _ = npy
    out = tmp_path / "v.zarr"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    assert main(["virtual", str(path), "--out", str(out), "--detector", "bf:0:3",
                 "--units", "px"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "user file"
    assert main(["virtual", str(path), "--out", str(tmp_path / "x.zarr"),
                 "--detector", "bf-0-3"]) == 2
    assert "NAME:INNER:OUTER" in capsys.readouterr().err
    assert main(["com", str(path), "--out", str(tmp_path / "c.zarr"), "--units", "mrad"]) == 2
    assert "angular_sampling" in capsys.readouterr().err
    assert not (tmp_path / "c.zarr").exists()
    assert main(["com", str(path), "--out", str(tmp_path / "c.zarr"), "--mask", "a,b"]) == 2
    assert main(["decompose", str(path), "--out", str(tmp_path / "d.zarr"), "-n", "0"]) == 2
    assert not list(tmp_path.glob("*symbreak-tmp*"))


def test_overwrite_replaces_output(npy, tmp_path):
    path, _ = npy
    out = tmp_path / "c.zarr"
    assert main(["com", str(path), "--out", str(out)]) == 0
    assert main(["com", str(path), "--out", str(out), "--overwrite", "--reference", "plane"]) == 0
    assert xr.open_zarr(out).attrs["reference"] == "plane"
