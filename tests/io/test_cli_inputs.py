"""Every command that reads a file takes the same input options, with the same syntax,
and they reach :func:`symbreak.io.load`."""

import math

import numpy as np
import pytest

import symbreak.io
from symbreak.cli import build_parser, main
from symbreak.errors import DataError
from symbreak.io.spec import CalibrationOverrides, InputSpec

READING_COMMANDS = {
    "info": [],
    "convert": ["{tmp}/out.zarr"],
    "com": ["--out", "{tmp}/out.zarr"],
    "virtual": ["--out", "{tmp}/out.zarr"],
    "decompose": ["--out", "{tmp}/out.zarr"],
    "train": ["--out", "{tmp}/model"],
    "encode": ["--model", "{tmp}/model", "--out", "{tmp}/out.zarr"],
    "analyze": ["--out", "{tmp}/out"],
}
INPUT_OPTIONS = ["--format", "npy", "--dataset", "frames", "--scan-shape", "4,3",
                 "--allow-external", "--energy", "60kV", "--semiangle", "21.4",
                 "--scan-step", "0.5", "--angular-sampling", "0.8,0.9",
                 "--detector-center", "3.5,4", "--scan-rotation", "90deg", "--scan-flip"]
EXPECTED = InputSpec(
    "PATH", format="npy", dataset="frames", scan_shape=(4, 3), allow_external=True,
    calibration=CalibrationOverrides(energy=60e3, semiangle=21.4, scan_step=(0.5, 0.5),
                                     angular_sampling=(0.8, 0.9),
                                     detector_center=(3.5, 4.0),
                                     scan_rotation=math.pi / 2, scan_flip=True))


@pytest.fixture
def stack(tmp_path):
    """12 patterns of 8 x 8 px as .npy under a suffix no reader claims."""
    path = tmp_path / "stack.bin"
    with open(path, "wb") as fh:
        np.save(fh, np.random.default_rng(0).random((12, 8, 8)).astype(np.float32))
    return path


def test_every_reading_command_has_the_same_input_options():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    expected = None
    for name in READING_COMMANDS:
        options = {(s, a.help, a.metavar) for a in commands[name]._actions
                   for s in a.option_strings
                   if a.container.title in ("input", "calibration (overrides the file's values)")}
        assert {"--format", "--dataset", "--scan-shape", "--allow-external", "--energy",
                "--scan-rotation"} <= {o[0] for o in options}, name
        assert expected is None or options == expected, name
        expected = options


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_input_options_reach_load(command, stack, tmp_path, monkeypatch, capsys):
    seen = []

    def fake_load(spec, **options):
        seen.append((spec, options))
        raise DataError("stopped after load")

    monkeypatch.setattr(symbreak.io, "load", fake_load)
    argv = [command, str(stack), *[a.format(tmp=tmp_path) for a in READING_COMMANDS[command]],
            *INPUT_OPTIONS]
    assert main(argv) == 2
    assert "stopped after load" in capsys.readouterr().err
    (spec, options), = seen
    assert isinstance(spec, InputSpec) and options == {}
    assert spec.path == stack or str(spec.path) == str(stack)
    for name in ("format", "dataset", "scan_shape", "allow_external"):
        assert getattr(spec, name) == getattr(EXPECTED, name), name
    for name, value in EXPECTED.calibration.given().items():
        assert getattr(spec.calibration, name) == pytest.approx(value), name


@pytest.mark.parametrize("command", ["info", "convert", "com", "virtual", "decompose"])
def test_format_and_scan_shape_read_a_stack(command, stack, tmp_path, capsys):
    argv = [command, str(stack), *[a.format(tmp=tmp_path) for a in READING_COMMANDS[command]],
            "--format", "npy", "--scan-shape", "4,3", "--scan-step", "0.5", "--semiangle", "2",
            "--angular-sampling", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    if command == "info":
        assert "(4, 3, 8, 8)" in capsys.readouterr().out
        return
    import xarray as xr
    if command == "convert":
        data = symbreak.io.load(tmp_path / "out.zarr")
        assert data.shape == (4, 3, 8, 8) and data.calibration.scan_step == (0.5, 0.5)
        source = np.load(stack)
        np.testing.assert_array_equal(data.to_numpy().reshape(12, 8, 8), source)
        return
    result = xr.open_zarr(tmp_path / "out.zarr")
    assert (result.sizes["scan_y"], result.sizes["scan_x"]) == (4, 3)
    np.testing.assert_allclose(result["scan_x"].values, [0.0, 0.5, 1.0])


def test_without_scan_shape_a_stack_is_refused(stack, capsys):
    assert main(["info", str(stack), "--format", "npy"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "scan" in err


def test_simulate_energy_and_scan_shape_spellings():
    from symbreak.cli.simulate import options_from

    parser = build_parser()
    new = parser.parse_args(["simulate", "graphene", "--energy", "60kV", "--scan-shape", "4,3",
                             "--scan-step", "0.3,0.2", "--defect-site", "1.5,2"])
    old = parser.parse_args(["simulate", "--energy", "60000", "--scan-shape", "4", "3",
                             "--scan-step", "0.3", "0.2", "--defect-site", "1.5", "2",
                             "graphene"])
    assert new.system == old.system == "graphene"
    assert options_from(new) == options_from(old) == {
        "energy": 60e3, "scan_shape": (4, 3), "scan_step": (0.3, 0.2),
        "defect_site": (1.5, 2.0)}
    kev = parser.parse_args(["simulate", "graphene", "--energy", "80keV"])
    assert options_from(kev) == {"energy": 80e3}


def test_train_shares_the_memory_budget_option():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    helps = {name: next(a.help for a in commands[name]._actions
                        if "--memory-budget" in a.option_strings)
             for name in ("train", "analyze", "com", "convert")}
    assert len(set(helps.values())) == 1


def test_load_takes_an_input_spec(stack):
    spec = InputSpec(stack, format="npy", scan_shape=(4, 3),
                     calibration=CalibrationOverrides(energy=60e3, scan_step=0.5))
    data = symbreak.io.load(spec)
    assert data.shape == (4, 3, 8, 8)
    assert data.calibration.energy == 60e3 and data.calibration.scan_step == (0.5, 0.5)
    np.testing.assert_array_equal(data.to_numpy()[1, 2], np.load(stack)[5])
    assert symbreak.io.load(spec, scan_shape=(3, 4), energy=80e3).shape == (3, 4, 8, 8)
    with pytest.raises(Exception, match="scan_shape must be 2 values"):
        InputSpec(stack, scan_shape=(4, 3, 1))
