"""Fuzzing what parses calibration values: command-line text, values given to ``load()``
and ``Calibration``, stored calibration dicts, and per-axis file calibrations.

Any input ends in a valid :class:`~symbreak.calibration.Calibration` (finite, physical
values that survive a JSON round trip) or a :class:`~symbreak.errors.SymbreakError`
(``SettingsError`` for command-line text, ``CalibrationError`` for values); file axes never
fail, unusable values there are unknown. Round trips check the parsers against the
number they were written from.

Examples per test: 60 by default (about 10 s); set
``SYMBREAK_FUZZ_EXAMPLES=2000`` for a long run, or run the ``slow``-marked variants
(``pytest -m slow tests/test_fuzz_calibration.py``), which use the
``fuzz-calibration-long`` profile (1000 examples).
"""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbreak.calibration import FIELD_UNITS, Calibration, electron_wavelength
from symbreak.errors import CalibrationError, FormatError, SettingsError, SymbreakError
from symbreak.io import load, save
from symbreak.calibration.axes import calibration_from_axes
from symbreak.quantities import parse_angle, parse_energy, parse_pair

settings.register_profile(
    "fuzz-calibration-default",
    max_examples=int(os.environ.get("SYMBREAK_FUZZ_EXAMPLES", "60")), deadline=None,
    derandomize=not os.environ.get("SYMBREAK_FUZZ_RANDOM"),  # as the reader fuzz suite
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile(
    "fuzz-calibration-long", parent=settings.get_profile("fuzz-calibration-default"),
    max_examples=int(os.environ.get("SYMBREAK_FUZZ_EXAMPLES", "1000")))
DEFAULT = settings.get_profile("fuzz-calibration-default")
LONG = settings.get_profile("fuzz-calibration-long")

floats = st.floats(allow_nan=True, allow_infinity=True)
junk = st.one_of(
    st.none(), floats, st.integers(-10**30, 10**30), st.booleans(), st.text(max_size=8),
    st.binary(max_size=4), st.lists(floats, max_size=3), st.tuples(floats, floats),
    st.dictionaries(st.text(max_size=3), floats, max_size=2),
    st.builds(np.float32, st.floats(width=32)), st.builds(np.array, st.lists(floats, max_size=3)),
)
reals = st.floats(1e-6, 1e6)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=12)
UNITS = ["nm", "Å", "A", "pm", "µm", "m", "mrad", "rad", "1/nm", "1/Å", "$\\AA^{-1}$", "nm^-1",
         "px", "", "pixels", None]


def check_calibration(cal: Calibration) -> None:
    """Finite, physical values that survive to_dict -> JSON -> from_dict."""
    for name in ("energy", "semiangle"):
        value = getattr(cal, name)
        assert value is None or (math.isfinite(value) and value > 0), (name, value)
    for name in ("scan_step", "angular_sampling", "k_sampling"):
        pair = getattr(cal, name)
        assert pair is None or all(math.isfinite(v) and v > 0 for v in pair), (name, pair)
    assert cal.detector_center is None or all(map(math.isfinite, cal.detector_center))
    assert cal.scan_rotation is None or math.isfinite(cal.scan_rotation)
    assert cal.scan_flip in (None, True, False)
    text = json.dumps(cal.to_dict(), allow_nan=False)
    assert Calibration.from_dict(json.loads(text)) == cal
    cal.describe()


def expect(call, allowed=SymbreakError):
    try:
        return call()
    except allowed:
        return None


# --------------------------------------------------------------------------- CLI text
texts = st.one_of(st.text(max_size=20), st.from_regex(
    r"\s*[-+]?(\d{0,400}\.?\d*([eE][-+]?\d{1,4})?)\s*(kv|kev|KV|keV|v|eV|deg|°|rad)?\s*",
    fullmatch=True))


@DEFAULT
@given(texts)
def test_energy_text_parses_or_gives_a_settings_error(text):
    energy = expect(lambda: parse_energy(text), SettingsError)
    if energy is not None:
        assert 1000 <= energy <= 1e12 and math.isfinite(energy)
        check_calibration(Calibration(energy=energy))


@DEFAULT
@given(st.floats(1, 5000), st.sampled_from(["kV", "keV", " kV", "KEV", "kv "]))
def test_energy_in_kilovolts_round_trips(kv, unit):
    assert parse_energy(f"{kv!r}{unit}") == pytest.approx(kv * 1e3, rel=1e-12)


@DEFAULT
@given(st.floats(1000, 1e9))
def test_energy_in_volts_round_trips(ev):
    assert parse_energy(repr(ev)) == ev
    assert parse_energy(f"{ev!r} eV") == ev


@DEFAULT
@given(texts)
def test_angle_text_parses_or_gives_a_settings_error(text):
    angle = expect(lambda: parse_angle(text), SettingsError)
    if angle is not None:
        assert math.isfinite(angle)
        check_calibration(Calibration(scan_rotation=angle))


@DEFAULT
@given(st.floats(-720, 720), st.floats(-2 * math.pi, 2 * math.pi))
def test_angles_round_trip(degrees, radians):
    assert parse_angle(f"{degrees!r}deg") == pytest.approx(math.radians(degrees), rel=1e-12,
                                                           abs=1e-15)
    assert parse_angle(f"{degrees!r} °") == pytest.approx(degrees * math.pi / 180, rel=1e-12,
                                                          abs=1e-15)
    assert parse_angle(repr(radians)) == radians
    assert parse_angle(f"{radians!r}rad") == radians


@DEFAULT
@given(st.one_of(texts, st.lists(st.text(max_size=6), max_size=4).map(",".join)))
def test_pair_text_parses_or_gives_a_settings_error(text):
    pair = expect(lambda: parse_pair(text), SettingsError)
    if pair is not None:
        assert len(pair) == 2 and all(map(math.isfinite, pair))


@DEFAULT
@given(st.floats(allow_nan=False, allow_infinity=False),
       st.floats(allow_nan=False, allow_infinity=False))
def test_pairs_round_trip(y, x):
    assert parse_pair(f"{y!r},{x!r}") == (y, x)
    assert parse_pair(f" {y!r} , {x!r} ") == (y, x)
    assert parse_pair(repr(y)) == (y, y)


# --------------------------------------------------------------------------- values
@DEFAULT
@given(st.dictionaries(st.sampled_from(sorted(FIELD_UNITS)), junk, max_size=5))
def test_any_calibration_values_give_a_valid_calibration_or_a_calibration_error(values):
    cal = expect(lambda: Calibration(**values), CalibrationError)
    if cal is not None:
        check_calibration(cal)


@DEFAULT
@given(st.dictionaries(st.sampled_from(sorted(FIELD_UNITS)), reals | st.tuples(reals, reals),
                       max_size=4),
       st.dictionaries(st.sampled_from(sorted(FIELD_UNITS)), junk, max_size=3))
def test_replace_keeps_a_valid_calibration(start, changes):
    start.pop("scan_flip", None)
    if "angular_sampling" in start and "k_sampling" in start:
        del start["k_sampling"]
    base = expect(lambda: Calibration(**start), CalibrationError)
    if base is None:
        return
    cal = expect(lambda: base.replace(**changes), CalibrationError)
    if cal is not None:
        check_calibration(cal)
        for name in changes:
            assert cal.sources[name] == "user"


@DEFAULT
@given(json_values)
def test_stored_calibration_dict_gives_a_calibration_or_a_calibration_error(stored):
    cal = expect(lambda: Calibration.from_dict(stored), CalibrationError)
    if cal is not None:
        check_calibration(cal)


@DEFAULT
@given(st.dictionaries(st.sampled_from(["energy", "semiangle", "scan_step", "scan_flip",
                                        "scan_rotation", "detector_center", "k_sampling"]),
                       junk, max_size=3))
def test_load_with_any_calibration_keywords(tmp_path_factory, values):
    path = tmp_path_factory.getbasetemp() / "calibration fuzz ü.npy"
    if not path.exists():
        np.save(path, np.ones((2, 2, 4, 4), np.float32))
    data = expect(lambda: load(path, **values))
    if data is not None:
        check_calibration(data.calibration)
        for name in values:
            assert data.calibration.sources[name] == "user"


# --------------------------------------------------------------------------- file axes
axis = st.fixed_dictionaries({}, optional={
    "scale": st.one_of(junk, st.text(max_size=6)), "offset": junk,
    "units": st.one_of(st.sampled_from(UNITS), st.text(max_size=6), junk)})
tem = st.dictionaries(st.sampled_from(["beam_energy", "convergence_angle"]), junk)
metadata = st.one_of(json_values, st.fixed_dictionaries(
    {"Acquisition_instrument": st.fixed_dictionaries({"TEM": tem})}))


@DEFAULT
@given(st.one_of(st.lists(st.one_of(axis, junk), max_size=5), junk), metadata)
def test_file_axes_never_fail(axes, meta):
    cal = calibration_from_axes(axes, meta)
    check_calibration(cal)
    assert set(cal.sources.values()) <= {"file", "derived"}


@DEFAULT
@given(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), st.floats(-100, 100))
def test_file_axes_unit_conversions(scan, detector, offset):
    """1 nm = 10 Å, 1 rad = 1000 mrad, 1/nm = 0.1/Å; the centre is -offset/scale px."""
    nm = {"scale": scan, "units": "nm"}
    rad = {"scale": detector, "offset": offset, "units": "rad"}
    cal = calibration_from_axes([nm, nm, rad, rad])
    assert cal.scan_step == pytest.approx((10 * scan, 10 * scan))
    assert cal.angular_sampling == pytest.approx((1000 * detector, 1000 * detector))
    if offset:
        assert cal.detector_center == pytest.approx((-offset / detector,) * 2)
    inv = {"scale": detector, "units": "1/nm"}
    assert calibration_from_axes([nm, nm, inv, inv]).k_sampling == pytest.approx(
        (0.1 * detector, 0.1 * detector))


def test_wavelengths_match_tabulated_values():
    """Relativistic electron wavelengths [pm] as tabulated (e.g. Williams & Carter, Table
    1.1: 100 kV 3.70 pm, 200 kV 2.51 pm, 300 kV 1.97 pm; 60 kV 4.87 pm)."""
    for kv, pm in ((60, 4.866), (100, 3.701), (200, 2.508), (300, 1.969)):
        assert electron_wavelength(kv * 1e3) * 100 == pytest.approx(pm, abs=2e-3)
    for bad in (0.0, -1.0, math.inf, math.nan, 1e308):
        with pytest.raises(CalibrationError):
            electron_wavelength(bad)


# --------------------------------------------------------------------------- in files
file_values = st.recursive(
    st.none() | st.booleans() | floats | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=10)
stored_calibrations = st.one_of(file_values, st.dictionaries(
    st.sampled_from(sorted(FIELD_UNITS) + ["sources"]), file_values, max_size=4))
nion_calibrations = st.lists(st.one_of(st.fixed_dictionaries({}, optional={
    "scale": file_values, "offset": file_values,
    "units": st.one_of(st.sampled_from(UNITS), file_values)}), file_values), max_size=5)


@pytest.fixture(scope="module")
def zarr_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("calibration fuzz") / "störe.zarr"
    save(np.ones((2, 2, 4, 4), np.float32), path)
    return path


@DEFAULT
@given(stored_calibrations)
def test_calibration_stored_in_a_zarr_store(zarr_store, stored):
    """A symbreak store's calibration attrs rewritten: a valid Calibration, or a
    FormatError naming the file."""
    meta_path = zarr_store / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["symbreak"]["calibration"] = stored
    meta_path.write_text(json.dumps(meta))
    try:
        cal = load(zarr_store).calibration
    except FormatError as exc:
        assert zarr_store.name in str(exc) and "\n" not in str(exc), str(exc)
        return
    check_calibration(cal)


@DEFAULT
@given(nion_calibrations, file_values)
def test_calibration_from_nion_metadata(tmp_path_factory, axes, high_tension):
    """Any ``dimensional_calibrations`` and ``high_tension`` in a .ndata1: the file loads,
    with whatever calibration is usable."""
    path = tmp_path_factory.getbasetemp() / "nïon calibration.ndata1"
    meta = {"dimensional_calibrations": axes,
            "metadata": {"instrument": {"high_tension": high_tension}}}
    with zipfile.ZipFile(path, "w") as z:
        with z.open("data.npy", "w") as member:
            np.save(member, np.ones((2, 2, 4, 4), np.float32))
        z.writestr("metadata.json", json.dumps(meta))
    check_calibration(load(path).calibration)


# --------------------------------------------------------------------------- long runs
@pytest.mark.slow
@LONG
@given(st.dictionaries(st.sampled_from(sorted(FIELD_UNITS)), junk, max_size=8), json_values,
       st.one_of(st.lists(st.one_of(axis, junk), max_size=5), junk), metadata)
def test_calibration_long(values, stored, axes, meta):
    for call in (lambda: Calibration(**values), lambda: Calibration.from_dict(stored)):
        cal = expect(call, CalibrationError)
        if cal is not None:
            check_calibration(cal)
    check_calibration(calibration_from_axes(axes, meta))


@pytest.mark.slow
@LONG
@given(texts)
def test_cli_text_long(text):
    for parse in (parse_energy, parse_angle, parse_pair):
        expect(lambda parse=parse: parse(text), SettingsError)
