"""One settings convention: a field's metadata validates it and drives its CLI option."""

import dataclasses
import tomllib

import pytest

from symbreak.classical.settings import (CenterOfMassSettings, DecomposeSettings,
                                        VirtualImagesSettings)
from symbreak.cli import build_parser, main
from symbreak.cli.options import add_settings_options, flag_of, given, join_spaced
from symbreak.errors import SettingsError
from symbreak.io.convert_settings import ConvertSettings
from symbreak.io.spec import CalibrationOverrides, InputSpec
from symbreak.options import check_fields, check_value, setting, settings_fields
from symbreak.analysis.settings import SECTIONS, AnalyzeSettings, VAESettings
from symbreak.simulation.settings import SimulationSettings
from symbreak.vae.parameters import VAEParameters

CLASSICAL = [CenterOfMassSettings, VirtualImagesSettings, DecomposeSettings, ConvertSettings]
ALL_SETTINGS = [*SECTIONS.values(), VAEParameters, SimulationSettings, InputSpec,
                CalibrationOverrides, *CLASSICAL]


@dataclasses.dataclass(frozen=True)
class Probe:
    semiangle: float = setting(32.0, help="probe semi-angle", unit="mrad", above=0.0,
                               maximum=100.0)
    pixels: int = setting(64, help="detector pixels", minimum=8)
    units: str = setting("mrad", help="units", choices=("mrad", "px"))
    step: tuple[float, float] | None = setting(None, kind=float, length=2, scalar_pair=True,
                                               above=0.0, help="scan step")

    def __post_init__(self):
        check_fields(self)


def test_validator_normalises_and_refuses_with_name_value_and_range():
    p = Probe(semiangle=20, pixels=16, step=0.5)
    assert p.semiangle == 20.0 and isinstance(p.semiangle, float)
    assert p.step == (0.5, 0.5)
    assert Probe(step=[0.2, 0.3]).step == (0.2, 0.3)
    cases = [
        (dict(semiangle=0), "semiangle must be a positive number <= 100, got 0"),
        (dict(semiangle=150.0), "semiangle must be a positive number <= 100, got 150.0"),
        (dict(semiangle=float("nan")), "semiangle must be a positive number"),
        (dict(pixels=4), "pixels must be an integer >= 8, got 4"),
        (dict(pixels=16.0), "pixels must be an integer >= 8, got 16.0"),
        (dict(pixels=True), "pixels must be an integer >= 8, got True"),
        (dict(units="nm"), "units must be one of 'mrad', 'px', got 'nm'"),
        (dict(step=(1.0, 2.0, 3.0)), "step must be one number or 2 values"),
        (dict(step=(1.0, -2.0)), "step must be one number or 2 values, each a positive number"),
    ]
    for values, message in cases:
        with pytest.raises(SettingsError) as info:
            Probe(**values)
        assert message in str(info.value)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("cls", ALL_SETTINGS, ids=lambda c: c.__name__)
def test_every_setting_has_help_and_a_valid_default(cls):
    fields = settings_fields(cls)
    assert fields
    for field, spec in fields:
        assert len(spec.help.split()) >= 2, field.name
        # the default passes the field's own check (written once, valid)
        assert check_value(field.name, spec, field.default) == field.default or \
            isinstance(field.default, float)


def _option_actions(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command]


@pytest.mark.parametrize("command, classes", [
    ("analyze", list(SECTIONS.values()) + [InputSpec, CalibrationOverrides]),
    ("train", [VAEParameters, InputSpec, CalibrationOverrides]),
    ("simulate", [SimulationSettings]),
    ("com", [CenterOfMassSettings, InputSpec, CalibrationOverrides]),
    ("virtual", [VirtualImagesSettings, InputSpec, CalibrationOverrides]),
    ("decompose", [DecomposeSettings, InputSpec, CalibrationOverrides]),
    ("convert", [ConvertSettings, InputSpec, CalibrationOverrides]),
])
def test_every_generated_option_has_help_text_with_unit_and_default(command, classes):
    parser = _option_actions(command)
    by_flag = {s: a for a in parser._actions for s in a.option_strings}
    for cls in classes:
        for field, spec in settings_fields(cls):
            if not spec.cli:
                continue
            action = by_flag[flag_of(field.name, spec)]
            assert spec.help in action.help
            if spec.unit:
                assert f"[{spec.unit}]" in action.help
            if field.default is not None and spec.kind is not bool and spec.length is None:
                assert f"(default: {field.default})" in action.help
            if spec.choices is not None:
                assert all(str(c) in action.metavar for c in spec.choices)


def test_choices_and_bounds_are_enforced_on_the_command_line(tmp_path, capsys):
    missing = str(tmp_path / "missing.npy")
    out = str(tmp_path / "out")
    cases = [
        (["analyze", missing, "--out", out, "--recipe", "fast"],
         "--recipe must be one of 'default', 'paper', got 'fast'"),
        (["analyze", missing, "--out", out, "--pca-components", "0"],
         "--pca-components must be an integer >= 1, got 0"),
        (["analyze", missing, "--out", out, "--latent-dim", "two"],
         "--latent-dim must be an integer >= 1 and <= 1024, got 'two'"),
        (["train", missing, "--out", out, "--validation-fraction", "1.5"],
         "--validation-fraction must be a positive number < 1, got 1.5"),
        (["train", missing, "--out", out, "--likelihood", "poisson"],
         "--likelihood must be one of 'gaussian', 'bernoulli', 'continuous_bernoulli', got "
         "'poisson'"),
        (["simulate", "graphene", "--out", str(tmp_path / "s.zarr"), "--detector-pixels", "0"],
         "--detector-pixels must be an integer >= 1 and <= 4096, got 0"),
        (["info", missing, "--scan-shape", "4,0"],
         "--scan-shape must be 2 values, each an integer >= 1, got (4, 0)"),
        (["info", missing, "--semiangle", "-3"],
         "--semiangle must be a positive number, got -3.0"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.zarr").exists()


def test_tuple_options_take_comma_or_separate_values():
    assert join_spaced(["--bf", "0", "30", "x.npy"], {"--bf": 2}) == ["--bf=0,30", "x.npy"]
    assert join_spaced(["--bf", "0,30", "x.npy"], {"--bf": 2}) == ["--bf=0,30", "x.npy"]
    assert join_spaced(["--c", "-1.5", "2e1"], {"--c": 2}) == ["--c=-1.5,2e1"]
    assert join_spaced(["--scan-shape", "4", "x.raw"], {"--scan-shape": 2}) == [
        "--scan-shape=4", "x.raw"]  # one value: refused later as not a pair
    parser = _option_actions("analyze")
    a = parser.parse_args(["x.npy", "--out", "o", "--bf", "0", "30", "--adf", "40,80"])
    assert given(a, SECTIONS["detectors"]) == {"bf": (0.0, 30.0), "adf": (40.0, 80.0)}
    sim = _option_actions("simulate")
    for argv in (["--defect-site", "-1.5", "2", "graphene"], ["--defect-site", "-1.5,2", "graphene"],
                 ["--defect-site=-1.5,2", "graphene"]):
        a = sim.parse_args(argv)
        assert given(a, SimulationSettings) == {"defect_site": (-1.5, 2.0)} and a.system == "graphene"


def test_one_default_per_setting():
    """The analysis borrows the rrVAE's settings: one default, one description."""
    vae = {f.name: f for f in dataclasses.fields(VAEParameters)}
    ours = {f.name: f for f in dataclasses.fields(VAESettings)}
    for name, theirs in [("latent_dim", "latent_dim"), ("recipe", "recipe"),
                         ("epochs", "epochs"), ("seed", "random_state"),
                         ("max_time", "max_time")]:
        assert ours[name].default == vae[theirs].default
    assert ours["latent_dim"].default == 2
    from symbreak.vae import RotationalVAE
    import inspect
    signature = inspect.signature(RotationalVAE)
    for field, _ in settings_fields(VAEParameters):
        assert signature.parameters[field.name].default == field.default, field.name


def test_settings_file_round_trip(tmp_path):
    s = AnalyzeSettings().replace(crop=24, bin=2, subtract_mean=False, bf=(0, 12.5),
                                  detector_units="px", com_threshold=0, pca_components=3,
                                  latent_dim=3, recipe="paper", epochs=4, seed=7,
                                  max_time=30)
    path = tmp_path / "settings.toml"
    path.write_text(s.to_toml())
    back = AnalyzeSettings.from_file(path)
    assert back == s
    assert back.detectors.bf == (0.0, 12.5) and back.vae.seed == 7
    assert tomllib.loads(s.to_toml())["vae"]["latent_dim"] == 3


def test_generated_options_of_a_new_settings_class():
    """Adding a setting is one field: its option, help and checks follow."""
    import argparse

    parser = argparse.ArgumentParser()
    add_settings_options(parser, Probe)
    args = parser.parse_args(["--semiangle", "21.4", "--units", "px", "--step", "0.2,0.3"])
    assert given(args, Probe) == {"semiangle": 21.4, "units": "px", "step": (0.2, 0.3)}
    args = parser.parse_args(["--pixels", "2"])
    with pytest.raises(SettingsError, match="--pixels must be an integer >= 8, got 2"):
        given(args, Probe)


@dataclasses.dataclass(frozen=True)
class Detectors:
    names: tuple[str, ...] | None = setting(None, kind=str, repeat=True, choices=("bf", "adf"),
                                            flag="--name", help="detector names")
    count: int = setting(3, minimum=1, short="-n", help="detector count")

    def __post_init__(self):
        check_fields(self)


def test_repeatable_options_and_short_flags():
    """``repeat`` settings take the option several times (a tuple, each item checked);
    ``short`` adds a one-letter alias."""
    import argparse

    parser = argparse.ArgumentParser()
    add_settings_options(parser, Detectors)
    args = parser.parse_args(["--name", "bf", "--name", "adf", "-n", "2"])
    assert given(args, Detectors) == {"names": ("bf", "adf"), "count": 2}
    assert Detectors(names=["bf"]).names == ("bf",)
    with pytest.raises(SettingsError, match="--name must be one of 'bf', 'adf', got 'haadf'"):
        given(parser.parse_args(["--name", "bf", "--name", "haadf"]), Detectors)
    with pytest.raises(SettingsError, match="names must be a list, each item one of"):
        Detectors(names="bf")
