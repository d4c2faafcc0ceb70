"""The analysis as planned stages: a new map is one stage + one schema entry, and it
reaches results.zarr and the report without touching anything else."""

import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.analysis import Stage, register, schema, unregister
from symbreak.analysis.plan import DataDescription, plan, with_data_defaults
from symbreak.analysis.stages import analysis_stages
from symbreak.calibration import Calibration
from symbreak.errors import SettingsError
from symbreak.settings import AnalyzeSettings

TOY = "toy_total_intensity"


@pytest.fixture
def toy_stage():
    """A stage that maps the total intensity of every pattern (an independent truth:
    numpy's sum over the detector axes)."""
    schema.register(schema.Variable(TOY, schema.SCAN, "counts", "total intensity per pattern",
                                    "Toy maps"))

    def run(ctx):
        total = np.asarray(ctx.data.to_numpy(), dtype=np.float64).sum(axis=(2, 3))
        return xr.Dataset({TOY: schema.make(TOY, total)})

    register(Stage("toy", (TOY,), run), after="COM")
    yield
    unregister("toy")
    schema.unregister(TOY)


def test_toy_stage_reaches_results_and_report(scan, tmp_path, toy_stage):
    results = symbreak.analyze(scan, out=tmp_path / "out", epochs=1, progress=False)
    expected = np.asarray(scan.to_numpy(), dtype=np.float64).sum(axis=(2, 3))
    saved = xr.open_zarr(tmp_path / "out" / "results.zarr")
    np.testing.assert_allclose(saved[TOY].values, expected, rtol=1e-12)
    assert saved[TOY].attrs == {"units": "counts", "long_name": "total intensity per pattern"}
    assert "toy" in results.attrs["timings"]
    page = symbreak.report(tmp_path / "out").read_text()
    # a scan map: wrapped for the pattern explorer (its cross-hair overlay)
    assert '<section id="toy-maps"><h2>Toy maps</h2><figure><div class="sb-map"><img' in page
    assert (tmp_path / "out" / "figures" / "toy-maps.png").stat().st_size > 1000


def test_undeclared_variable_is_refused(scan, toy_stage):
    def sneaky(ctx):
        return xr.Dataset({TOY: schema.make(TOY, np.zeros(ctx.data.scan_shape)),
                           "other": (schema.SCAN, np.zeros(ctx.data.scan_shape))})

    register(Stage("sneaky", (TOY,), sneaky))
    try:
        with pytest.raises(SettingsError, match=r"stage 'sneaky' returned undeclared .*'other'"):
            symbreak.analyze(scan, epochs=1, progress=False)
    finally:
        unregister("sneaky")


def test_register_refuses_duplicates_and_unknown_anchor():
    with pytest.raises(SettingsError, match="already registered"):
        register(Stage("COM", (), lambda ctx: xr.Dataset()))
    with pytest.raises(SettingsError, match="no stage named 'nope'"):
        register(Stage("x", (), lambda ctx: xr.Dataset()), after="nope")
    with pytest.raises(SettingsError, match="already in the schema"):
        schema.register(schema.Variable(schema.BF, schema.SCAN, "1", "not the BF image"))


def test_make_checks_dims_and_units():
    with pytest.raises(ValueError, match="needs dims .*got an array of shape"):
        schema.make(schema.COM_X, np.zeros(3), units="mrad")
    with pytest.raises(ValueError, match="takes its unit from the data"):
        schema.make(schema.BF, np.zeros((2, 2)))
    var = schema.make(schema.COM_ANGLE, np.zeros((2, 2)))
    assert var.dims == schema.SCAN and var.attrs["units"] == "rad"


def _description(**cal):
    return DataDescription(scan_shape=(8, 9), pattern_shape=(64, 64),
                           calibration=Calibration(**cal), disk_radius_px=10.0, edge_px=31.5)


def test_plan_is_pure_and_derives_the_defaults():
    """Crop = 1.16 x disk diameter (even); BF = (0, alpha); ADF = (1.5, 3) alpha capped at
    the detector edge; mrad when the detector is calibrated."""
    d = _description(semiangle=20.0, angular_sampling=2.0)
    planned = plan(AnalyzeSettings(), d)
    s = planned.settings
    assert s.preprocess.crop == 24  # round(2 * 10 * 78 / 67.4 / 2) * 2
    assert s.detectors.detector_units == "mrad"
    assert s.detectors.bf == (0.0, 20.0)
    assert s.detectors.adf == (30.0, 60.0)  # edge 31.5 px * 2 mrad/px = 63 > 3 alpha
    assert [st.name for st in planned.stages] == [st.name for st in analysis_stages()]
    px = with_data_defaults(AnalyzeSettings(), _description())
    assert px.detectors.detector_units == "px" and px.detectors.bf == (0.0, 10.0)
    assert px.detectors.adf == (15.0, 30.0)
    given = with_data_defaults(AnalyzeSettings().replace(crop=32, bf=(0, 5)), d)
    assert given.preprocess.crop == 32 and given.detectors.bf == (0.0, 5.0)


def test_every_results_variable_is_in_the_schema(scan):
    results = symbreak.analyze(scan, epochs=1, progress=False)
    for name in results.data_vars:
        if not str(name).startswith(schema.HISTORY_PREFIX):
            var = schema.get(str(name))
            assert results[name].dims == var.dims, name
            assert results[name].attrs.get("units") not in (None, schema.DATA_UNITS), name


@pytest.mark.parametrize("module", ["symmetry_stage", "sites_stage", "explorer_stage", "stages"])
def test_any_stage_module_can_be_imported_first(module):
    """No circular-import failure whichever stage module a user or test imports first, and
    the same stages in every case."""
    import subprocess
    import sys

    code = (f"import symbreak.analysis.{module}\n"
            "from symbreak.analysis.stages import analysis_stages\n"
            "print(sorted(s.name for s in analysis_stages()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert "'site classes'" in out.stdout and "'symmetry'" in out.stdout
