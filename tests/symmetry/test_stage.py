"""The symmetry stage inside analyze: results.zarr and the report section."""

import json

import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.calibration import Calibration
from symbreak.dataset import Dataset4D

from . import synth

K = 20  # detector pixels
STEP = 0.25  # Å


def lattice_scan(seed: int = 0) -> tuple[Dataset4D, np.ndarray]:
    """Patterns of a graphene-like crystal with a vacancy: a bright-field disk shifted by
    the analytic COM field and dimmed by the column, plus a dark-field ring; Poisson
    counts. Returns the data and the vacancy's (y, x) [Å]."""
    vectors, basis = synth.graphene_lattice(rotation_deg=11.0)
    m = synth.maps(vectors, basis, shape=(36, 36), step=STEP, defect=(4.5, 4.5))
    ky, kx = np.mgrid[:K, :K].astype(float)
    c = (K - 1) / 2
    shift = 1.5 / np.abs(np.stack([m["com_y"], m["com_x"]])).max()
    out = np.empty((36, 36, K, K), np.float32)
    for i in range(36):
        for j in range(36):
            r = np.hypot(ky - c - shift * m["com_y"][i, j], kx - c - shift * m["com_x"][i, j])
            disk = 1 / (1 + np.exp((r - 5) * 2))
            ring = (np.hypot(ky - c, kx - c) > 7) & (np.hypot(ky - c, kx - c) < 9.5)
            out[i, j] = 200 * disk * m["bf"][i, j] + 20 * ring * m["adf"][i, j]
    out = np.random.default_rng(seed).poisson(out).astype(np.float32)
    cal = Calibration(energy=60e3, semiangle=10.0, angular_sampling=1.0, scan_step=STEP,
                      detector_center=(c, c))
    return Dataset4D(out, cal), m["defect"]


@pytest.mark.filterwarnings("ignore")
def test_symmetry_stage_reaches_results_and_report(tmp_path):
    data, defect = lattice_scan()
    symbreak.analyze(data, out=tmp_path / "out", epochs=1, progress=False)
    saved = xr.open_zarr(tmp_path / "out" / "results.zarr").load()
    assert saved["symmetry_score"].attrs["units"] == "sigma"
    maps = set(saved["symmetry_score"].coords["symmetry_map"].values)
    assert maps >= {"bf", "adf", "df", "com", "classical", "whole_pattern", "pattern", "combined"}
    families = json.loads(saved["symmetry_score"].attrs.get("symmetry_families")
                          or saved.attrs["symmetry_families"])
    assert families["pattern"] == ["whole_pattern"] and families["classical"] == ["bf", "adf", "df", "com", "com_divergence"]
    channels = saved["pattern_channels"]  # float data without a unit: not taken as counts
    assert channels.dims == ("pattern_channel", "scan_y", "scan_x")
    assert not channels.attrs["counts"] and 2 <= channels.sizes["pattern_channel"] <= 32
    # one epoch cannot fit the rrVAE: its maps are no evidence and stay out of the scores
    assert json.loads(saved.attrs["rrvae_fit"])["verdict"] == "failed"
    assert not maps & {"rrvae_content", "rrvae_angle_vs_com", "reconstruction_error", "rrvae"}
    assert "site_class" not in saved  # nor are site classes computed from its latents
    lengths = np.linalg.norm(saved["symmetry_lattice"].values, axis=1)
    np.testing.assert_allclose(lengths, synth.GRAPHENE_A, rtol=0.01)
    classical = saved["symmetry_score"].sel(symmetry_map="classical").values
    iy, ix = np.unravel_index(np.argmax(classical), classical.shape)
    assert np.hypot(iy * STEP - defect[0], ix * STEP - defect[1]) < 1.0
    assert saved["symmetry_anomaly_pattern"].shape[1:] == (K, K)
    page = symbreak.report(tmp_path / "out").read_text()
    start = page.index('<section id="where-is-the-symmetry-broken">')
    assert start < page.index('<section id="mean-pattern">')  # at the top
    assert "<img" in page[start:page.index("</section>", start)]
    assert "Site classes not computed: the rrVAE fit failed" in page


def test_periodic_one_cell_scan_is_a_control():
    from symbreak.analysis.symmetry_stage import periodic_scan
    assert periodic_scan({"simulation": {"settings": {"scan_region": "cell"}}})
    assert not periodic_scan({"simulation": {"settings": {"scan_region": None}}})
    assert not periodic_scan({})


def test_scan_without_a_lattice_skips_the_stage_with_the_reason():
    data, _ = lattice_scan()
    flat = data.replace(array=np.repeat(np.asarray(data.to_numpy())[:1, :1], 36, 0)
                        .repeat(36, 1) + np.random.default_rng(3).poisson(
                            5, (36, 36, K, K)).astype(np.float32))
    with pytest.warns(UserWarning, match="symmetry stage skipped.*--lattice"):
        results = symbreak.analyze(flat, epochs=1, progress=False)
    assert "symmetry_score" not in results


@pytest.mark.filterwarnings("ignore")
def test_lattice_setting_reaches_the_stage():
    """--lattice / lattice=: the given vectors [Å] are used (reduced to the shortest
    basis), not the ones found from the maps."""
    data, _ = lattice_scan()
    vectors, _ = synth.graphene_lattice(rotation_deg=11.0)
    given = tuple(np.asarray(vectors, dtype=float).ravel() * 1.005)
    results = symbreak.analyze(data, epochs=1, progress=False, lattice=given)
    lengths = np.linalg.norm(results["symmetry_lattice"].values, axis=1)
    np.testing.assert_allclose(lengths, synth.GRAPHENE_A * 1.005, rtol=1e-9)
    with pytest.raises(symbreak.SymbreakError, match="lattice"):
        symbreak.analyze(data, epochs=1, progress=False, lattice=(1.0, 2.0, 3.0))


def test_rrvae_descriptors_count_only_when_the_fit_is_not_failed():
    from types import SimpleNamespace

    from symbreak.analysis.symmetry_stage import _trusted
    from symbreak.symmetry.api import Descriptor

    found = {k: Descriptor("scalar", np.zeros((4, 4))) for k in
             ("bf", "adf", "rrvae_content", "rrvae_angle_vs_com", "reconstruction_error")}
    for verdict in ("ok", "doubtful"):
        assert _trusted(found, SimpleNamespace(verdict=verdict)) == found
    assert _trusted(found, None) == found
    with pytest.warns(UserWarning, match="rrVAE fit failed"):
        kept = _trusted(found, SimpleNamespace(verdict="failed"))
    assert set(kept) == {"bf", "adf"}


def test_symmetry_stage_within_the_memory_budget():
    """The periodic fits' design matrices are sized before they are built: a lattice whose
    fits exceed the budget skips the stage with the size and the fix, never an OOM."""
    from symbreak.analysis.symmetry_stage import check_memory
    from symbreak.engine import budget_scope
    from symbreak.errors import DataError
    from symbreak.symmetry import lattice_from_setting
    from symbreak.symmetry.reference import design_bytes

    lattice = lattice_from_setting((0.0, 8.0, 8.0, 0.0))  # 8 Å square cell
    need = design_bytes(lattice, (320, 320), (0.2, 0.2))
    assert need > 320 * 320 * 8 * 100  # many harmonics at 0.2 Å steps
    with budget_scope("64MB"), pytest.raises(DataError, match=r"MiB, more than the memory "
                                                              r"budget.*--memory-budget"):
        check_memory(lattice, 320, 320, (0.2, 0.2))
    with budget_scope("64MB"):
        check_memory(lattice, 16, 16, (0.2, 0.2))  # small scans fit
