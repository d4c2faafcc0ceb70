"""The site-classes stage on hand-built results (no training), and its report part."""

from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from symbreak.analysis import sites_stage as T
from symbreak.analysis.context import Context
from symbreak.reporting import sites as R

from . import synth
from .test_sites import STEP, crystal

SCAN = ("scan_y", "scan_x")
MOTIFS = {0: (1.0, (1.0, 0.2)), 1: (0.5, (0.3, 0.7))}


def _context(results: xr.Dataset, verdict: str = "ok", metadata=None, explained=None):
    fit = SimpleNamespace(verdict=verdict, content_drift_interpolated=0.05,
                          latent_explained=explained)
    data = SimpleNamespace(calibration=SimpleNamespace(scan_step=(STEP, STEP)),
                           metadata=metadata or {})
    return Context(data=data, settings=None, raw_mean=None, work=None, checkpoints=None,
                   outputs=[results], fit=fit)


def _results(adf, z, lattice=None):
    out = xr.Dataset({"adf": (SCAN, adf, {"units": "counts"}),
                      "latent_z": (("latent",) + SCAN, z, {"units": "1"})},
                     coords={"scan_y": np.arange(adf.shape[0]) * STEP,
                             "scan_x": np.arange(adf.shape[1]) * STEP})
    if lattice is not None:
        out["symmetry_lattice"] = (("lattice_vector", "vector_component"), lattice,
                                   {"units": "Å", "source": "data"})
    return out


def test_stage_writes_two_classes_and_the_report_shows_them():
    vectors, basis = synth.rect_lattice(rotation_deg=15.0)
    adf, z = crystal(vectors, basis, [0, 1, 0, 1], MOTIFS, shape=(32, 32), noise=0.02)
    out = T._sites(_context(_results(adf, z, vectors)))
    assert out[T.CLASS_MAP].dims == SCAN and out[T.CLASS_MAP].shape == (32, 32)
    assert out[T.SITE_DISTANCE].attrs["units"] == "noise units"
    assert out[T.SITE_Y].attrs["units"] == "Å"
    labels = out[T.SITE_CLASS].values
    assert labels.tolist() == [0, 0, 1, 1]  # brightest (kind 0) first
    assert out.sizes["class"] == 2
    np.testing.assert_allclose(out[T.CLASS_LATENT].values[1],
                               out[T.SITE_LATENT].values[2:].mean(axis=0))
    # no raw patterns here: the families are the ADF image and the content latents
    assert out["site_family"].values.tolist() == [T.CLASSICAL, T.RRVAE]
    assert out[T.FAMILY_CLASSES].values.tolist() == [2, 2]
    ratios = out[T.FAMILY_RATIO].values
    family = out[T.THRESHOLD].attrs["family"]
    assert family == out["site_family"].values[np.argmax(ratios)] and ratios.min() > 1
    assert f"2 classes by the {family}" in out[T.CLASS_MAP].attrs["statement"]
    results = xr.merge([_results(adf, z, vectors), out])
    page = str(R.sites_html(results, R.html("<img>")))
    assert "2 classes by the" in page and page.count("<tr>") == 1 + 4 + 1 + 2
    assert R.sites_figure(results) is not None


def test_failed_fit_leaves_its_latents_out_and_says_so():
    vectors, basis = synth.rect_lattice()
    adf, z = crystal(vectors, basis, [0, 1, 0, 1], MOTIFS, shape=(24, 24))
    with pytest.warns(UserWarning, match="fit failed: its content latents are left out"):
        out = T._sites(_context(_results(adf, z, vectors), verdict="failed"))
    assert out["site_family"].values.tolist() == [T.CLASSICAL]  # classes from the ADF
    assert out[T.SITE_CLASS].values.tolist() == [0, 0, 1, 1]


def test_latents_the_decoder_ignores_are_left_out_and_it_says_so():
    vectors, basis = synth.rect_lattice()
    adf, z = crystal(vectors, basis, [0, 1, 0, 1], MOTIFS, shape=(24, 24))
    with pytest.warns(UserWarning, match="decoder does not use the rrVAE content latents"):
        out = T._sites(_context(_results(adf, z, vectors), explained=[0.0004, 0.001]))
    assert out["site_family"].values.tolist() == [T.CLASSICAL]
    used = T._sites(_context(_results(adf, z, vectors), explained=[0.0004, 0.3]))
    assert used["site_family"].values.tolist() == [T.CLASSICAL, T.RRVAE]


def test_one_cell_periodic_scan_folds_into_the_field_of_view():
    vectors = np.array([[5.0, 0.0], [0.0, 4.0]])
    basis = np.array([[0.25, 0.25], [0.75, 0.75], [0.25, 0.75], [0.75, 0.25]])
    # 20 x 16 steps make one cell; the simulation appends a copy of row and column 0
    adf, z = crystal(vectors, basis, [0, 0, 1, 1], MOTIFS, shape=(21, 17), noise=0.01)
    meta = {"simulation": {"settings": {"scan_region": "cell", "periodic": True}}}
    lattice, period = T.cell_lattice(meta, (21, 17), (STEP, STEP))
    np.testing.assert_allclose(lattice.vectors, vectors)
    assert period == (20, 16)
    out = T._sites(_context(_results(adf, z), metadata=meta))
    assert out[T.SITE_CLASS].values.tolist() == [0, 0, 1, 1]
    m = out[T.CLASS_MAP].values
    np.testing.assert_array_equal(m[-1], m[0])
    np.testing.assert_array_equal(m[:, -1], m[:, 0])


def test_no_lattice_or_no_adf_no_classes():
    adf = np.zeros((8, 8))
    assert len(T._sites(_context(_results(adf, np.zeros((2, 8, 8))))).data_vars) == 0
    assert len(T._sites(_context(xr.Dataset({"bf": (SCAN, adf)}))).data_vars) == 0


def test_one_latent_is_enough():
    vectors = np.array([[5.0, 0.0], [0.0, 4.0]])
    basis = np.array([[0.25, 0.25], [0.75, 0.75], [0.25, 0.75], [0.75, 0.25]])
    adf, z = crystal(vectors, basis, [0, 0, 1, 1], MOTIFS, shape=(20, 16), noise=0.01)
    out = T._sites(_context(_results(adf, z[:1], vectors)))
    assert out[T.SITE_CLASS].values.tolist() == [0, 0, 1, 1]
    assert R.sites_figure(xr.merge([_results(adf, z[:1], vectors), out])) is not None


def test_counts_are_variance_stabilised_and_raw_data_give_the_radial_profile():
    """BF and ADF in counts enter as 2 sqrt(n + 3/8) (a robust scale of a few counts is
    biased); with raw patterns at hand the radial profile is a family too."""
    from symbreak.dataset import Dataset4D

    rng = np.random.default_rng(0)
    bf, adf = rng.poisson(900.0, (6, 6)).astype(float), rng.poisson(3.0, (6, 6)).astype(float)
    results = xr.Dataset({"bf": (SCAN, bf, {"units": "counts"}),
                          "adf": (SCAN, adf, {"units": "counts"})})
    ctx = _context(results)
    found, _ = T.families(ctx, results)
    assert list(found) == [T.CLASSICAL]  # no raw patterns in this context
    np.testing.assert_allclose(found[T.CLASSICAL], 2 * np.sqrt(np.stack([bf, adf]) + 0.375))
    patterns = rng.poisson(2.0, (6, 6, 12, 12)).astype(float)
    ctx.data = Dataset4D(patterns)
    ctx.raw_mean = patterns.mean(axis=(0, 1))
    found, _ = T.families(ctx, results)
    assert list(found) == [T.RADIAL, T.CLASSICAL] and found[T.RADIAL].shape[1:] == (6, 6)


def test_noise_free_profiles_are_compared_at_a_patterns_shot_noise():
    """Noise-free patterns: ring sums as beam fractions x 1e6 electrons, Anscombe
    transformed, with a floor of 1 (that pattern's shot noise) on every ring."""
    from symbreak.dataset import Dataset4D
    from symbreak.symmetry import radial

    rng = np.random.default_rng(2)
    patterns = rng.uniform(0.0, 1e-3, (5, 5, 12, 12))
    results = xr.Dataset({"bf": (SCAN, patterns.sum(axis=(2, 3)), {"units": "1"}),
                          "adf": (SCAN, patterns[..., 0, 0], {"units": "1"})})
    ctx = _context(results)
    ctx.data, ctx.raw_mean = Dataset4D(patterns), patterns.mean(axis=(0, 1))
    found, extra = T.families(ctx, results)
    np.testing.assert_array_equal(extra[T.RADIAL], np.full(radial.N_RINGS, 1.0))
    ring = radial.ring_index((12, 12), T.pp.pattern_center(ctx.raw_mean))
    sums = np.stack([patterns[..., ring == k].sum(-1) for k in range(radial.N_RINGS)])
    scaled = sums / sums.sum(axis=0).mean() * radial.NOISE_FREE_ELECTRONS
    np.testing.assert_allclose(found[T.RADIAL], 2 * np.sqrt(scaled + 0.375))
