"""`symbreak analyze FILE` on an uncalibrated .npy file: file checksum, px units,
calibration overrides from the command line, settings from a config file."""

import hashlib

import numpy as np
import pytest
import xarray as xr

from symbreak.cli import main


def test_analyze_npy_file(scan, tmp_path, capsys):
    path = tmp_path / "scan.npy"
    np.save(path, scan.array)
    config = tmp_path / "settings.toml"
    config.write_text("[vae]\nepochs = 1\nmanifold_size = 3\n[pca]\npca_components = 2\n")
    out = tmp_path / "out"
    status = main(["analyze", str(path), "--out", str(out), "--config", str(config),
                   "--crop", "16", "--scan-step", "0.5", "--no-report", "--quiet"])
    assert status == 0, capsys.readouterr().err
    r = xr.open_zarr(out / "results.zarr")
    assert r.attrs["input_checksum"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert r.attrs["input_file"] == str(path.resolve())
    assert r.sizes["ky"] == 16 and r.sizes["epoch"] == 1 and r.sizes["component"] == 2
    assert r["scan_x"].attrs["units"] == "Å" and r["kx"].attrs["units"] == "px"
    np.testing.assert_allclose(r["scan_x"].values, 0.5 * np.arange(9))
    assert r["com_x"].attrs["units"] == "px"
    assert "results.zarr" in capsys.readouterr().out


def test_analyze_hdf5_with_two_datasets_needs_dataset(scan, tmp_path, capsys):
    """--dataset (and the other input options) reach load(); the file stays the input:
    its checksum and path are recorded."""
    import h5py

    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f["first"] = scan.array
        f["second"] = scan.array[:, :5]
    out = tmp_path / "out"
    common = ["--out", str(out), "--epochs", "1", "--manifold-size", "3", "--pca-components",
              "2", "--crop", "16", "--no-report", "--quiet", "--semiangle", "9",
              "--angular-sampling", "1.5"]
    assert main(["analyze", str(path), *common]) == 2
    err = capsys.readouterr().err
    assert "several 4-D datasets" in err and "--dataset NAME" in err and "dataset=" not in err
    assert not out.exists()
    assert main(["analyze", str(path), "--dataset", "second", *common]) == 0, \
        capsys.readouterr().err
    r = xr.open_zarr(out / "results.zarr")
    assert (r.sizes["scan_y"], r.sizes["scan_x"]) == (8, 5)
    assert r.attrs["input_checksum"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert r.attrs["input_file"] == str(path.resolve())


def test_checksum_of_a_folder_and_a_large_file_in_the_background(tmp_path):
    """The reused-buffer reader and the background thread give hashlib's digest, across
    reads that do not end on a block boundary; errors reach the caller."""
    from symbreak.analysis import inputs

    big = tmp_path / "big.bin"
    big.write_bytes(np.random.default_rng(0).bytes(inputs.CHECKSUM_BLOCK + 12345))
    expected = "sha256:" + hashlib.sha256(big.read_bytes()).hexdigest()
    assert inputs.BackgroundChecksum(None, big).result() == expected
    folder = tmp_path / "store"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x").write_bytes(b"12")
    (folder / "y").write_bytes(b"3")
    digest = hashlib.sha256(b"a/x" + b"12" + b"y" + b"3").hexdigest()
    assert inputs.file_checksum(folder) == "sha256:" + digest
    with pytest.raises(AttributeError):  # not a data set: the thread's error is re-raised
        inputs.BackgroundChecksum(object(), None).result()
