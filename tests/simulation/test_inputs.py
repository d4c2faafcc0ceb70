"""Every bad input is a SettingsError (or OutputExistsError) raised before computing."""

import pytest

import symbreak
import symbreak.simulation.engine as engine
from symbreak.errors import OutputExistsError, SettingsError


@pytest.fixture(autouse=True)
def no_compute(monkeypatch):
    """Fail the test if the abTEM graph is ever built."""
    def refuse(*args, **kwargs):
        raise AssertionError("the simulation graph was built before validation finished")
    monkeypatch.setattr(engine, "measurement", refuse)
    monkeypatch.setattr("symbreak.simulation.measurement", refuse)


@pytest.mark.parametrize("options, words", [
    (dict(system_or_preset="graphene-vacanci"), ["unknown system or preset", "graphene-vacancy"]),
    (dict(system_or_preset="silicon"), ["unknown system or preset", "silicon"]),
    (dict(system_or_preset="no/such/file.cif"), ["unknown system", "no/such/file.cif"]),
    (dict(defect="Xy"), ["unknown element", "'Xy'"]),
    (dict(defect_site=(100.0, 5.0)), ["outside the supercell", "100"]),
    (dict(defect_site=10_000), ["not an atom index", "10000"]),
    (dict(scan_region=(-5.0, 0.0, 5.0, 5.0), scan_step=0.25), ["scan region", "outside the supercell"]),
    (dict(scan_region=(1.0, 1.0, 40.0, 5.0), scan_step=0.25, tiling=(14, 8)), ["outside the supercell"]),
    (dict(scan_shape=(400, 40), tiling=(14, 8)), ["outside the supercell", "tiling"]),
    (dict(energy=0), ["energy", "positive"]),
    (dict(energy=-60e3), ["energy", "positive"]),
    (dict(energy=60), ["at least 1000 eV", "60e3"]),
    (dict(semiangle=-1), ["semiangle", "positive"]),
    (dict(sampling=0.3), ["too coarse", "sampling 0.3", "mrad"]),
    (dict(max_angle=48.0, detector_pixels=64, tiling=(4, 4)), ["too small", "tiling of at least"]),
    (dict(dose=0), ["dose", "positive"]),
    (dict(scan_step=0), ["scan_step", "positive"]),
    (dict(detector_pixels=2), ["detector_pixels", "at least 8"]),
    (dict(wavelength=1.0), ["unknown simulation option", "wavelength"]),
    (dict(zone_axis="111"), ["zone_axis", "111"]),
    (dict(system_or_preset="graphene", thickness=3), ["single layer", "thickness"]),
    (dict(parametrization="peng"), ["parametrization", "peng"]),
    (dict(seed=-1), ["seed", "-1"]),
])
def test_bad_input_is_a_clear_error(options, words):
    target = options.pop("system_or_preset", "graphene-vacancy")
    with pytest.raises(SettingsError) as info:
        symbreak.simulate(target, **options)
    message = str(info.value)
    for word in words:
        assert word in message, message


def test_existing_output_is_refused_before_work(tmp_path):
    out = tmp_path / "sim.zarr"
    out.mkdir()
    with pytest.raises(OutputExistsError, match="overwrite"):
        symbreak.simulate("graphene-vacancy", out=out)


def test_unreadable_structure_file(tmp_path):
    bad = tmp_path / "bad.xyz"
    bad.write_text("this is not a structure\n")
    with pytest.raises(SettingsError, match="ASE cannot read"):
        symbreak.simulate(str(bad))
