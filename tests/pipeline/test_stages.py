"""The analysis as planned stages: a new map is one stage module, its schema entries and
its place in the stage list, and it reaches results.zarr and the report without touching
anything else; the plan refuses stages whose needs no earlier stage makes."""

import json

import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.analysis import Stage, schema
from symbreak.analysis import stages as builtin
from symbreak.analysis.plan import STAGES, DataDescription, check_order, plan, with_data_defaults
from symbreak.calibration import Calibration
from symbreak.errors import SettingsError
from symbreak.analysis.settings import AnalyzeSettings

TOY = "toy_total_intensity"


@pytest.fixture
def toy_stages():
    """The default stage list with a stage that maps the total intensity of every pattern
    after the COM (an independent truth: numpy's sum over the detector axes), as a new
    stage module would add it: a schema entry, a Stage, its place in the list."""
    schema.register(schema.Variable(TOY, schema.SCAN, "counts", "total intensity per pattern",
                                    "Toy maps"))

    def run(ctx):
        total = np.asarray(ctx.data.to_numpy(), dtype=np.float64).sum(axis=(2, 3))
        return xr.Dataset({TOY: schema.make(TOY, total)})

    toy = Stage("toy", run, variables=(TOY,))
    at = STAGES.index(builtin.COM) + 1
    yield STAGES[:at] + (toy,) + STAGES[at:]
    schema.unregister(TOY)


def test_toy_stage_reaches_results_and_report(scan, tmp_path, toy_stages):
    results = symbreak.analyze(scan, out=tmp_path / "out", epochs=1, progress=False,
                               stages=toy_stages)
    expected = np.asarray(scan.to_numpy(), dtype=np.float64).sum(axis=(2, 3))
    saved = xr.open_zarr(tmp_path / "out" / "results.zarr")
    np.testing.assert_allclose(saved[TOY].values, expected, rtol=1e-12)
    assert saved[TOY].attrs == {"units": "counts", "long_name": "total intensity per pattern"}
    ran = list(json.loads(results.attrs["timings"]))
    assert ran.index("toy") == ran.index("COM") + 1
    page = symbreak.report(tmp_path / "out").read_text()
    # a scan map: wrapped for the pattern explorer (its cross-hair overlay)
    assert '<section id="toy-maps"><h2>Toy maps</h2><figure><div class="sb-map"><img' in page
    assert (tmp_path / "out" / "figures" / "toy-maps.png").stat().st_size > 1000


def test_a_stage_reads_the_products_it_needs(scan):
    """A stage that needs the preprocessed patterns gets them from the context, and the
    default analysis is unchanged by it."""
    def run(ctx):
        mean = np.asarray(ctx.patterns.to_numpy()).mean(axis=(2, 3))
        return xr.Dataset({TOY: schema.make(TOY, mean)})

    schema.register(schema.Variable(TOY, schema.SCAN, "1", "mean preprocessed intensity"))
    try:
        toy = Stage("toy", run, variables=(TOY,), needs=("patterns",))
        results = symbreak.analyze(scan, epochs=1, progress=False,
                                   stages=STAGES[:3] + (toy,))
    finally:
        schema.unregister(TOY)
    assert list(json.loads(results.attrs["timings"]))[-5:] == [
        "virtual images", "COM", "preprocessing", "toy", "checksum (wait)"]
    assert "latent_z" not in results and "pca_scores" not in results
    # the preprocessed patterns are cropped, subtracted and normalised: not the raw ones
    assert results[TOY].shape == scan.scan_shape
    assert not np.allclose(results[TOY].values,
                           np.asarray(scan.to_numpy(), float).mean(axis=(2, 3)))


def test_a_need_not_made_earlier_is_refused(scan, tmp_path):
    """The plan is checked when it is built: a stage whose need comes from no earlier
    stage is refused in one line naming the stage and the missing product, before any
    output is written."""
    explorer = next(s for s in STAGES if s.name == "explorer")
    without_preprocessing = [s for s in STAGES if s.name not in ("preprocessing", "PCA",
                                                                 "rrVAE")]
    with pytest.raises(SettingsError, match=r"^stage 'explorer' needs 'patterns', which no "
                                            r"earlier stage produces; [^\n]*$"):
        check_order(without_preprocessing)
    with pytest.raises(SettingsError, match="stage 'explorer' needs 'patterns'"):
        symbreak.analyze(scan, out=tmp_path / "out", epochs=1, progress=False,
                         stages=without_preprocessing)
    assert not (tmp_path / "out").exists()
    too_early = [explorer] + [s for s in STAGES if s is not explorer]
    with pytest.raises(SettingsError, match="stage 'explorer' reads 'patterns', which stage "
                                            "'preprocessing' makes after it"):
        plan(AnalyzeSettings(), _description(), too_early)
    site_classes = next(s for s in STAGES if s.name == "site classes")
    with pytest.raises(SettingsError, match="stage 'site classes' reads 'symmetry_lattice', "
                                            "which stage 'symmetry' makes after it"):
        check_order([s for s in STAGES if s is not site_classes][:-2] + [site_classes]
                    + list(STAGES[-3:-1]))
    # what a stage only uses may be missing: the explorer draws patterns without a model
    assert check_order(STAGES[:3] + (explorer,))[-1] is explorer


def test_a_stage_list_is_refused_when_it_is_not_one():
    with pytest.raises(SettingsError, match="two stages are named 'COM'"):
        check_order(STAGES + (builtin.COM,))
    with pytest.raises(SettingsError, match="holds 'COM', not a Stage"):
        check_order(("COM",))
    with pytest.raises(SettingsError, match=r"produces \['modle'\], which are not context "
                                            "products"):
        Stage("x", lambda ctx: xr.Dataset(), produces=("modle",))
    with pytest.raises(SettingsError, match="already in the schema"):
        schema.register(schema.Variable(schema.BF, schema.SCAN, "1", "not the BF image"))


def test_undeclared_variable_or_product_is_refused(scan):
    def sneaky(ctx):
        return xr.Dataset({schema.BF: schema.make(schema.BF, np.zeros(ctx.data.scan_shape),
                                                  units="counts"),
                           "other": (schema.SCAN, np.zeros(ctx.data.scan_shape))})

    with pytest.raises(SettingsError, match=r"stage 'sneaky' returned undeclared .*'other'"):
        symbreak.analyze(scan, epochs=1, progress=False,
                         stages=[Stage("sneaky", sneaky, variables=(schema.BF,))])

    def setter(ctx):
        ctx.model = object()
        return xr.Dataset()

    with pytest.raises(SettingsError, match=r"stage 'setter' set undeclared products "
                                            r"\['model'\]; add them to its `produces`"):
        symbreak.analyze(scan, epochs=1, progress=False, stages=[Stage("setter", setter)])


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
    assert planned.stages == STAGES
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


def test_the_analysis_order():
    """The one stage list: the classical maps first, the rrVAE after the patterns it fits,
    the symmetry stages after every map they compare, the ground truth last."""
    assert [s.name for s in STAGES] == ["virtual images", "COM", "preprocessing", "PCA",
                                        "rrVAE", "explorer", "whole-pattern channels",
                                        "symmetry", "site classes", "ground truth"]
    assert check_order(STAGES) == STAGES


@pytest.mark.slow  # a fresh interpreter each, 5 s apiece; tests/test_layout.py finds
@pytest.mark.parametrize("module", [  # import circles statically in the default suite
    "plan", "symmetry_stage", "sites_stage", "explorer_stage", "pattern_stage", "stages",
    "context"])
def test_any_stage_module_can_be_imported_first(module):
    """No circular-import failure whichever stage module a user or test imports first, and
    the same stage list in every case."""
    import subprocess
    import sys

    code = (f"import symbreak.analysis.{module}\n"
            "from symbreak.analysis.plan import STAGES\n"
            "print([s.name for s in STAGES])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert ("'rrVAE', 'explorer', 'whole-pattern channels', 'symmetry', 'site classes', "
            "'ground truth']") in out.stdout
