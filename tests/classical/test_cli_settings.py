"""The options of `symbreak com`, `virtual`, `decompose` and `convert` come from settings
dataclasses whose defaults and choices are the functions' own: a default or a choice
written by hand in a command (or changed in one place only) fails here."""

import inspect
import subprocess
import sys
import types

import numpy as np
import pytest

from symbreak.classical import com, decompose, virtual_image, virtual_images
from symbreak.classical.decompose import fit
from symbreak.classical import settings as cs
from symbreak.cli import build_parser, com as com_cli, convert as convert_cli, main
from symbreak.cli import decompose as decompose_cli, virtual as virtual_cli
from symbreak.cli.options import flag_of
from symbreak.io.convert_settings import ConvertSettings
from symbreak.io.ops import bin_detector, crop
from symbreak.io.stream import write_output
from symbreak.options import settings_fields
from symbreak.analysis.settings import AnalyzeSettings, COMSettings

# command -> (settings class, the function it feeds, reads the settings from the options)
COMMANDS = {
    "com": (cs.CenterOfMassSettings, com, com_cli.com_settings),
    "virtual": (cs.VirtualImagesSettings, virtual_images, virtual_cli.virtual_settings),
    "decompose": (cs.DecomposeSettings, decompose, decompose_cli.decompose_settings),
    "convert": (ConvertSettings, None, convert_cli.convert_settings),
}


def _parser(command):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[command]


def _minimal(command):
    return ["in.npy", "out.zarr"] if command == "convert" else ["in.npy", "--out", "o.zarr"]


def _settings(command, *options):
    _, _, read = COMMANDS[command]
    return read(_parser(command).parse_args([*_minimal(command), *options]))


@pytest.mark.parametrize("cls, function, every", [
    (cs.CenterOfMassSettings, com, True),
    (cs.VirtualImagesSettings, virtual_images, True),
    (cs.VirtualImagesSettings, virtual_image, False),  # units, center, shifts
    (cs.DecomposeSettings, decompose, True),
    (cs.DecomposeSettings, fit, True),
], ids=lambda x: getattr(x, "__name__", str(x)))
def test_function_defaults_are_the_settings_defaults(cls, function, every):
    parameters = inspect.signature(function).parameters
    fields = [f for f, _ in settings_fields(cls) if every or f.name in parameters]
    assert len(fields) >= 3
    for field in fields:
        assert parameters[field.name].default == field.default, field.name


def test_convert_defaults_are_those_of_its_operations(small_data):
    defaults = ConvertSettings()
    assert defaults.chunks == inspect.signature(write_output).parameters["chunks"].default
    crop_defaults = inspect.signature(crop).parameters
    assert defaults.crops() == {} and crop_defaults["scan"].default is None \
        and crop_defaults["detector"].default is None
    assert bin_detector(small_data, defaults.bin) is small_data  # the default bins nothing


@pytest.fixture
def small_data():
    import symbreak

    return symbreak.as_dataset(np.arange(2 * 3 * 4 * 4, dtype=np.uint16).reshape(2, 3, 4, 4))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_passes_the_settings_defaults_and_offers_their_choices(command):
    """Without options each command passes exactly the settings' defaults; every option
    of a setting is generated (no argparse default or choices of its own) and shows the
    default and choices of the setting."""
    cls, function, _ = COMMANDS[command]
    assert _settings(command) == cls()
    if function is not None:
        parameters = inspect.signature(function).parameters
        given = cs.keywords(_settings(command))
        assert given == {name: parameters[name].default for name in given}
    by_dest = {a.dest: a for a in _parser(command)._actions}
    for field, spec in settings_fields(cls):
        action = by_dest[field.name]
        assert flag_of(field.name, spec) in action.option_strings
        assert action.default is None and action.choices is None, field.name
        assert spec.help in action.help
        if field.default is not None and spec.kind is not bool and spec.length is None:
            assert f"(default: {field.default})" in action.help
        for choice in spec.choices or ():
            assert choice in action.metavar
            assert getattr(_settings(command, flag_of(field.name, spec), choice),
                           field.name) == choice


def test_short_repeatable_and_parsed_options():
    assert _settings("decompose", "-n", "4", "--seed", "7", "--no-incremental") == \
        cs.DecomposeSettings(n_components=4, random_state=7, incremental=False)
    assert _settings("virtual", "--detector", "bf:0:3", "--detector", "adf:3:inf",
                     "--center", "7.5", "8.5").detectors == (("bf", (0.0, 3.0)),
                                                            ("adf", (3.0, np.inf)))
    s = _settings("com", "--mask", "2,7", "--rotation", "30deg", "--flip")
    assert (s.mask, s.rotation, s.flip) == ((2.0, 7.0), pytest.approx(np.radians(30)), True)
    assert _settings("com", "--rotation", "auto", "--mask", "5").rotation == "auto"
    c = _settings("convert", "--crop", "scan=0:2,:", "--crop", "detector=1:3,1:", "--chunks",
                  "1", "-1", "-1", "-1", "--bin", "2")
    assert c.crops() == {"scan": (slice(0, 2), slice(None)),
                         "detector": (slice(1, 3), slice(1, None))}
    assert (c.chunks, c.bin) == ((1, -1, -1, -1), 2)


@pytest.mark.parametrize("argv, words", [
    (["com", "--mask", "7,2"], ["--mask", "(7.0, 2.0)", "INNER < OUTER"]),
    (["com", "--mask", "a,b"], ["--mask", "'a,b'", "R or INNER,OUTER"]),
    (["com", "--rotation", "12foo"], ["--rotation", "'12foo'", "12deg"]),
    (["com", "--reference", "origin"], ["--reference", "'origin'", "'plane'"]),
    (["virtual", "--detector", "bf-0-3"], ["--detector", "'bf-0-3'", "NAME:INNER:OUTER"]),
    (["virtual", "--detector", "bf:3:1"], ["--detector bf", "bf:3.0:1.0", "INNER < OUTER"]),
    (["virtual", "--shifts", "plane"], ["--shifts", "'plane'", "'com'"]),
    (["decompose", "-n", "0"], ["--n-components", "got 0", ">= 1"]),
    (["decompose", "--seed", "-1"], ["--seed", "got -1", ">= 0"]),
    (["convert", "--chunks", "1,0,1,1"], ["--chunks", "(1, 0, 1, 1)", "-1"]),
    (["convert", "--chunks", "a,b"], ["--chunks", "'a,b'", "SY,SX,KY,KX"]),
    (["convert", "--crop", "scan=0:2,:", "--crop", "scan=1:2,:"], ["--crop", "twice for scan",
                                                                   "at most once"]),
])
def test_bad_values_give_one_line_naming_option_value_and_fix(tmp_path, capsys, argv, words):
    data = tmp_path / "in.npy"
    np.save(data, np.ones((2, 2, 4, 4), np.uint16))
    out = tmp_path / "o.zarr"
    where = [str(data), str(out)] if argv[0] == "convert" else [str(data), "--out", str(out)]
    assert main([argv[0], *where, *argv[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for word in words:
        assert word in err[0], (word, err[0])
    assert not out.exists()


def test_reference_plane_is_one_choice_of_com_and_analyze(tmp_path):
    """com and analyze offer the references that com() computes; analyze's COM stage
    with 'plane' is com(reference='plane')."""
    from symbreak import as_dataset
    from symbreak.analysis import stages
    from symbreak.classical.com import REFERENCES  # what com() computes

    analysis = dict((f.name, s) for f, s in settings_fields(COMSettings))["com_reference"]
    command = dict((f.name, s) for f, s in settings_fields(cs.CenterOfMassSettings))["reference"]
    assert analysis.choices == command.choices == REFERENCES == ("mean", "center", "plane")
    assert _settings("com", "--reference", "plane").reference == "plane"
    analyze = _parser("analyze").parse_args(["in.npy", "--out", "o", "--com-reference",
                                             "plane"])
    assert analyze.com_reference == "plane"
    settings = AnalyzeSettings.from_options(com_reference="plane")
    data = np.random.default_rng(0).poisson(5, (5, 6, 9, 9)).astype(np.float32)
    data[..., 4, 2:] += np.linspace(0, 30, 5 * 6).reshape(5, 6, 1)  # a descan-like tilt
    ctx = types.SimpleNamespace(settings=settings, data=as_dataset(data), progress=False)
    staged = stages._com(ctx)
    direct = com(data, reference="plane")
    np.testing.assert_allclose(staged["com_x"].values, direct["com_x"].values)
    assert not np.allclose(direct["com_x"].values, com(data)["com_x"].values)


def test_options_of_the_four_commands_import_no_computation():
    """Their settings modules are light: building the options of com, virtual, decompose
    and convert imports neither numpy nor the computations (``symbreak --help`` stays
    instant); the package still gives the functions com and decompose, not the
    submodules of the same names."""
    code = ("import argparse, sys; from symbreak.cli import com, convert, decompose, virtual; "
            "[m.add_arguments(argparse.ArgumentParser()) for m in (com, convert, decompose, "
            "virtual)]; heavy = [m for m in ('numpy', 'dask', 'xarray', 'sklearn', "
            "'symbreak.classical.com') if m in sys.modules]; assert not heavy, heavy; "
            "import symbreak.classical.com, symbreak.classical.decompose; "
            "from symbreak.classical import com, decompose; "
            "assert callable(com) and callable(decompose), (com, decompose)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
