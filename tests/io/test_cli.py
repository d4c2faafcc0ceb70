"""``symbreak info`` and ``symbreak convert`` through ``symbreak.cli.main``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from symbreak.cli import main
from symbreak.io import load
from symbreak.quantities import parse_angle, parse_energy
from symbreak.errors import SettingsError


@pytest.fixture
def emd_file(tmp_path, writers):
    data = writers.counts((4, 6, 12, 10), np.uint16)
    writers.emd(tmp_path / "in.emd", data, r_step=0.5, q_step=0.02)
    return tmp_path / "in.emd", data


def test_info_text(emd_file, capsys):
    path, _ = emd_file
    assert main(["info", str(path), "--energy", "60kV"]) == 0
    out = capsys.readouterr().out
    assert "format        emd" in out
    assert "(4, 6, 12, 10)" in out and "uint16" in out
    assert "energy            60000 eV" in out and "[user]" in out
    assert "(0.5, 0.5) Å" in out and "[file]" in out
    assert "ground truth  none" in out


def test_info_json(emd_file, capsys):
    path, _ = emd_file
    assert main(["info", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["shape"] == [4, 6, 12, 10] and summary["dtype"] == "uint16"
    assert summary["size_on_disk"] == path.stat().st_size
    rows = {r["field"]: r for r in summary["calibration"]}
    assert rows["k_sampling"]["source"] == "file" and rows["energy"]["value"] == "unknown"


def test_convert_with_crop_and_bin(emd_file, tmp_path, capsys):
    path, data = emd_file
    out = tmp_path / "out.zarr"
    code = main(["convert", str(path), str(out), "--crop", "scan=1:3,:",
                 "--crop", "detector=1:11,0:9", "--bin", "2", "--energy", "300000",
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    back = load(out)
    # crop 10 x 9 detector pixels, then 2 x 2 sums; the odd last column is dropped
    ref = data[1:3, :, 1:11, 0:8].astype(np.uint32).reshape(2, 6, 5, 2, 4, 2).sum(axis=(3, 5))
    np.testing.assert_array_equal(back.to_numpy(), ref)
    assert back.dtype == np.uint32
    assert back.calibration.k_sampling == pytest.approx((0.04, 0.04))
    assert back.calibration.energy == 300e3
    steps = [p["step"] for p in back.provenance]
    assert steps[-3:] == ["select", "bin_detector", "load"]


def test_convert_to_hdf5_and_rechunk(emd_file, tmp_path):
    path, data = emd_file
    out = tmp_path / "out.h5"
    assert main(["convert", str(path), str(out), "--chunks", "1,-1,-1,-1", "--no-progress"]) == 0
    np.testing.assert_array_equal(load(out).to_numpy(), data)


def test_convert_refuses_to_overwrite(emd_file, tmp_path, capsys):
    path, _ = emd_file
    out = tmp_path / "out.zarr"
    assert main(["convert", str(path), str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["convert", str(path), str(out), "--bin", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert load(out).shape == (4, 6, 12, 10)
    assert main(["convert", str(path), str(out), "--bin", "2", "--overwrite",
                 "--no-progress"]) == 0
    assert load(out).shape == (4, 6, 6, 5)


@pytest.mark.parametrize("argv, words", [
    (["info", "{tmp}/missing.h5"], ["missing.h5", "no such file"]),
    (["info", "{tmp}/bad.npy"], ["bad.npy", "3 dimensions"]),
    (["info", "{tmp}/in.emd", "--energy", "60"], ["too low", "60kV"]),
    (["convert", "{tmp}/in.emd", "{tmp}/o.zarr", "--crop", "scan=1-3"], ["crop", "scan=0:32,16:48"]),
    (["convert", "{tmp}/in.emd", "{tmp}/o.zarr", "--bin", "0"], ["--bin", ">= 1", "got 0"]),
    (["convert", "{tmp}/in.emd", "{tmp}/o.tif"], ["writes zarr"]),
])
def test_cli_errors_are_one_line_without_traceback(emd_file, tmp_path, capsys, argv, words):
    np.save(tmp_path / "bad.npy", np.zeros((3, 4, 4)))
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err
    assert not (tmp_path / "o.zarr").exists()


def test_energy_and_angle_parsing():
    assert parse_energy("60kV") == 60e3 == parse_energy("60 keV") == parse_energy("60000")
    assert parse_energy("300000eV") == 300e3
    assert parse_angle("90deg") == pytest.approx(math.pi / 2)
    assert parse_angle("0.5") == 0.5 == parse_angle("0.5rad")
    for bad in ("sixty", "60", "-kV"):
        with pytest.raises(SettingsError):
            parse_energy(bad)
    with pytest.raises(SettingsError, match="deg"):
        parse_angle("90")
