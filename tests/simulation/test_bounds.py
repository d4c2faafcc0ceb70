"""Issue 22, items 10 and 13: every size simulate derives from its options is bounded
before anything is built, with one line naming the option; under an address-space limit
the command ends with that line (or, out of memory, a line that says so), never an
empty message."""

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbreak.simulation.engine as engine
from symbreak.engine import budget_scope
from symbreak.errors import SettingsError
from symbreak.options import spec_of
from symbreak.simulation import plan
from symbreak.simulation.settings import SimulationSettings, simulation_settings

from ..test_bounds import assert_one_line, run_capped


@pytest.fixture(autouse=True)
def no_compute(monkeypatch):
    """Fail the test if the abTEM graph is ever built."""
    def refuse(*args, **kwargs):
        raise AssertionError("the simulation graph was built before the sizes were checked")
    monkeypatch.setattr(engine, "measurement", refuse)


@pytest.mark.parametrize("options, words", [
    (dict(slice_thickness=1e-9), ["slice_thickness", ">= 0.001", "1e-09"]),
    (dict(slice_thickness=0.001), ["2,000 slices (slice_thickness=0.001)", "memory budget"]),
    (dict(scan_step=1e-9, scan_shape=(4, 4)), ["scan_step", ">= 0.001"]),
    (dict(scan_step=0.001, scan_shape=(4, 4)),
     ["scan_region='cell' with scan_step=0.001,0.001", "GiB, more than 256 GiB"]),
    (dict(scan_step=0.002), ["scan_step=0.002", "GiB"]),
    (dict(phonons=1_000_000), ["phonons", "<= 1000", "1000000"]),
    (dict(phonons=1000), ["phonons=1000", "memory budget"]),
    (dict(max_angle=1e9), ["max_angle", "<= 500"]),
    (dict(dose=1e300), ["dose", "<= 1e+12"]),
    (dict(energy=1e9), ["energy", "<= 3e+06"]),
    (dict(sampling=0.001), ["sampling", "16,384 per side"]),
    (dict(tiling=(100_000, 1)), ["tiling", "2,000 Å per side"]),
    (dict(tiling=(10**400, 1)), ["tiling", "<= 100000"]),
    (dict(scan_shape=(10**400, 4), scan_step=0.25, scan_region=None), ["scan_shape"]),
    (dict(source_size=1e308), ["source_size", "<= 100"]),
    (dict(detector_pixels=5000), ["detector_pixels", "<= 4096"]),
    (dict(scan_region=(0.0, 0.0, 1e308, 1e308)), ["scan_region", "+/-100000 Å"]),
    (dict(scan_region=(8e4, 8e4, 8e4 + 10, 8e4 + 10), tiling=None), ["2,000 Å per side"]),
    (dict(scan_region=(0.0, 0.0, 9e4, 9e4)), ["scan_region=0,0,90000,90000", "probes"]),
    (dict(defect="vacancy", defect_site=(float("nan"), 1.0)), ["defect_site", "finite"]),
])
def test_sizes_from_options_are_refused_before_building(options, words):
    """Each case of the issue (and its neighbours) is one line naming the option, under a
    1 GB budget so that the memory cases do not depend on this machine."""
    with budget_scope("1GB"), pytest.raises(SettingsError) as info:
        plan("graphene-cell", **options)
    message = str(info.value)
    assert "\n" not in message and message.strip()
    for word in words:
        assert word in message, message


def test_electrons_per_probe_are_bounded():
    with pytest.raises(SettingsError, match=r"dose=1e\+12 .* electrons per probe"):
        plan("graphene-vacancy", dose=1e12, scan_step=40.0, scan_shape=(2, 2))


def test_the_presets_stay_within_the_bounds():
    with budget_scope("1GB"):
        for preset in ("graphene-cell", "graphene-cell-incoherent", "graphene-vacancy",
                       "zns-110"):
            plan(preset)


# Every numeric option of simulate: validation alone (no abTEM graph, no supercell)
# either refuses with one line naming the option or accepts a value within its bounds.
NUMERIC = {f.name: spec_of(f) for f in dataclasses.fields(SimulationSettings)
           if spec_of(f) is not None and spec_of(f).kind in (int, float) and spec_of(f).cli
           and spec_of(f).check is None}
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 1e-320, 1e-9, 1e-3, 0.5, 1e3, 1e9, 1e300,
                                    -1e300, float("inf"), float("nan")]))
INTS = st.one_of(st.integers(min_value=-10**6, max_value=10**6),
                 st.sampled_from([0, 1, 10**9, 10**18, 10**400, -(10**400)]))


def value_for(spec):
    item = st.one_of(FLOATS, INTS)  # the API takes ints for floats, and may be given 10**400
    return st.tuples(item, item) if spec.length == 2 else item


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(NUMERIC)))
def test_numeric_options_are_refused_in_one_line_or_within_bounds(data, name):
    spec = NUMERIC[name]
    value = data.draw(value_for(spec), label=name)
    try:
        s = simulation_settings("graphene-vacancy", {name: value})
    except SettingsError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message
        assert name in message, message
        return
    accepted = getattr(s, name)
    for item in accepted if isinstance(accepted, tuple) else (accepted,):
        assert isinstance(item, spec.kind) and math.isfinite(item)
        assert spec.minimum is None or item >= spec.minimum
        assert spec.maximum is None or item <= spec.maximum
        assert spec.above is None or item > spec.above


@pytest.mark.slow  # subprocesses; the checks themselves run in the default suite
def test_simulate_cases_of_the_issue_are_one_line_under_an_address_limit(tmp_path):
    """The issue's two cases that reached 23 GB and 14.6 GB: refused at once, status 2,
    no output left."""
    for args in (["--slice-thickness", "1e-9"], ["--scan-step", "0.001", "--scan-shape", "4,4"]):
        status, stderr, seconds = run_capped(
            ["simulate", "graphene-cell", *args, "--out", "o.zarr"], tmp_path)
        assert status == 2, stderr
        assert_one_line(stderr, "simulate", args[0])
        assert seconds < 120  # about 12 s on two loaded cores, abTEM's import included
        assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_out_of_memory_in_simulate_is_one_non_empty_line(tmp_path):
    """With the budget raised beyond the address-space limit, the potential cannot be
    allocated: the line says out of memory and what to lower, status 1."""
    status, stderr, _ = run_capped(
        ["simulate", "graphene-cell", "--slice-thickness", "0.001", "--out", "o.zarr"],
        tmp_path, env={"SYMBREAK_MEMORY_BUDGET": "64GB"})
    assert status == 1, stderr
    assert_one_line(stderr, "simulate", "out of memory (MemoryError)", "SYMBREAK_MEMORY_BUDGET")
    assert not (tmp_path / "o.zarr").exists()


def test_work_and_the_source_blur_are_bounded():
    """A thick specimen scanned densely is months of computing; a source blur of the
    whole scan at once does not fit a 1 GB budget."""
    with budget_scope("4GB"), pytest.raises(SettingsError, match=r"3,825 slices .* more "
                                                                 r"than 1e\+16"):
        plan("zns", zone_axis="110", thickness=1000, scan_shape=(1000, 1000), scan_step=0.01)
    with budget_scope("1GB"), pytest.raises(SettingsError, match=r"source_size=99 blurs "
                                                                 r"42 x 72 patterns"):
        plan("graphene-cell-incoherent", source_size=99)
