"""Two causes of false anomalies on a perfect crystal: the angle latent relative to the
COM angle where the COM vanishes (its direction is undefined), and low-count detector
images under Poisson noise. Null cases stay below the threshold, real defects are found."""

import numpy as np
import pytest
import xarray as xr

from symbreak.analysis.symmetry_stage import shot_noise_counts
from symbreak.symmetry import Lattice, gauss_reduce
from symbreak.symmetry.api import Descriptor, symmetry_breaking
from symbreak.symmetry.reference import wrap
from symbreak.symmetry.score import footprint_weights

from . import synth

STEP = 0.25


def _angle_maps(seed):
    """COM (2, ny, nx) measured with noise, and an rrVAE-like angle latent: the direction
    of the true COM plus its own noise (random where the COM vanishes, on the atoms),
    offset by 2.5 rad."""
    vectors, basis = synth.graphene_lattice()
    m = synth.maps(vectors, basis, shape=(40, 40), step=STEP)
    com = np.stack([m["com_y"], m["com_x"]])
    sd = 0.02 * com.std()
    rng = np.random.default_rng(seed)
    measured = com + sd * rng.standard_normal(com.shape)
    seen = com + sd * rng.standard_normal(com.shape)
    latent = wrap(np.arctan2(seen[0], seen[1]) + 2.5)
    return Lattice(gauss_reduce(vectors)), measured, latent, com


def _angle(latent, measured, with_vector=True):
    return Descriptor("angle", latent, np.arctan2(measured[0], measured[1]),
                      vector=measured if with_vector else None)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_undefined_com_angle_on_the_atoms_is_no_anomaly(seed):
    lattice, measured, latent, com = _angle_maps(seed)
    length = np.hypot(*com)
    assert (length < 0.02 * com.std() * 3).sum() >= 1  # some probes where the angle is noise
    r = symmetry_breaking({"angle": _angle(latent, measured)}, lattice, STEP, families={})
    assert r.anomalies == []
    assert np.nanmax(r.scores["angle"]) < r.threshold
    # without the COM's length the undefined angles are (falsely) anomalies
    old = symmetry_breaking({"angle": _angle(latent, measured, False)}, lattice, STEP,
                            families={})
    assert np.nanmax(old.scores["angle"]) > old.threshold


def test_wrong_angle_where_the_com_is_strong_is_found():
    lattice, measured, latent, com = _angle_maps(0)
    length = np.hypot(*com)
    inner = np.zeros_like(length, bool)
    inner[8:-8, 8:-8] = True
    iy, ix = np.unravel_index(np.argmax(np.where(inner, length, 0)), length.shape)
    latent[iy, ix] = wrap(latent[iy, ix] + 1.0)  # 1 rad off where the COM is strongest
    r = symmetry_breaking({"angle": _angle(latent, measured)}, lattice, STEP, families={})
    assert len(r.anomalies) == 1
    a = r.anomalies[0]
    assert np.hypot(a.y - iy * STEP, a.x - ix * STEP) < 0.5


def _poisson_adf(mean, seed, defect=None):
    vectors, basis = synth.graphene_lattice()
    m = synth.maps(vectors, basis, shape=(40, 40), step=STEP, defect=defect)
    lam = mean * m["adf"] / m["adf"].mean()
    counts = np.random.default_rng(seed).poisson(lam).astype(float)
    return Lattice(gauss_reduce(vectors)), counts, m


@pytest.mark.parametrize("seed", range(5))
def test_poisson_adf_of_one_to_two_electrons_is_no_anomaly(seed):
    lattice, counts, _ = _poisson_adf(1.7, seed)
    assert counts.max() >= 6 and np.mean(counts == 0) > 0.1  # a few electrons per probe
    r = symmetry_breaking({"adf": Descriptor("scalar", counts, counts=True)}, lattice,
                          STEP, families={})
    assert np.percentile(r.scores["adf"], 99) < r.threshold
    assert np.max(r.scores["adf"]) < r.threshold
    assert r.anomalies == []


def test_poisson_adf_scored_as_gaussian_gives_false_anomalies():
    """The failure the counts path fixes: the same maps scored as Gaussian data."""
    found = 0
    for seed in range(10):
        lattice, counts, _ = _poisson_adf(1.7, seed)
        found += len(symmetry_breaking({"adf": Descriptor("scalar", counts)}, lattice,
                                       STEP, families={}).anomalies)
    assert found >= 2  # measured: 6 anomalies in these 10 scans


@pytest.mark.parametrize("seed", range(3))
def test_vacancy_in_a_poisson_adf_is_found(seed):
    """3 electrons per probe on average (at 1.7 the vacancy's score is 4.3-5.2 sigma, at
    the threshold: the ADF alone then cannot tell a vacancy from shot noise)."""
    lattice, counts, m = _poisson_adf(3.0, seed, defect=(5.1, 4.8))
    r = symmetry_breaking({"adf": Descriptor("scalar", counts, counts=True)}, lattice,
                          STEP, families={})
    assert len(r.anomalies) == 1
    a = r.anomalies[0]
    assert np.hypot(a.y - m["defect"][0], a.x - m["defect"][1]) < 1.0


def test_shot_noise_counts_need_integer_values_in_counts():
    counts = xr.DataArray(np.array([[0.0, 3.0], [1.0, 7.0]]), attrs={"units": "counts"})
    assert shot_noise_counts(counts)
    assert not shot_noise_counts(counts * 0.37)  # expected counts of a noise-free simulation
    assert not shot_noise_counts(counts.assign_attrs(units="intensity"))


def test_footprint_is_cut_at_the_scan_edges():
    w, w2 = footprint_weights((20, 20), (1.2, 1.2))
    kernel = np.exp(-0.5 * (np.arange(-5, 6) / 1.2) ** 2)  # scipy's: truncated at 4 sigma
    kernel /= kernel.sum()
    assert np.isclose(w[10, 10], 1.0)
    assert np.isclose(w[0, 0], kernel[5:].sum() ** 2)  # the corner's quarter of the kernel
    assert np.isclose(w2[10, 10], (np.outer(kernel, kernel) ** 2).sum())
    assert np.isclose(w2[0, 0], (np.outer(kernel[5:], kernel[5:]) ** 2).sum())
    # the corner pools fewer positions: c = sum w^2 / (sum w)^2 is larger there
    assert w2[0, 0] / w[0, 0] ** 2 > 2 * w2[10, 10]
