"""Site classes from several descriptor families, sites told from the probe's ring
maxima by the COM divergence, and the radial-profile descriptor, on synthetic crystals
with known answers."""

import numpy as np
import pytest

from symbreak.dataset import Dataset4D
from symbreak.symmetry import sites
from symbreak.symmetry.lattice import Lattice
from symbreak.symmetry.radial import radial_profiles, ring_index

from . import synth

STEP = (0.25, 0.25)


def _classes(rings, turns, electrons, extra=None):
    vectors, basis = synth.graphene_lattice(rotation_deg=8.0)
    x = synth.patterns(vectors, basis, rings, turns, electrons=electrons)
    radial = radial_profiles(Dataset4D(x), (7.5, 7.5), electrons is not None, n_rings=8)
    m = synth.maps(vectors, basis, shape=(24, 24))
    families = {"radial profile": radial, "BF and ADF": np.stack([m["bf"], m["adf"]])}
    families.update(extra(x) if extra else {})
    return sites.site_classes(families, m["adf"], Lattice(vectors), STEP,
                              np.stack([m["com_y"], m["com_x"]]))


@pytest.mark.parametrize("electrons", [None, 5000])
def test_turned_copies_of_one_pattern_are_one_class(electrons):
    # graphene-like: B's pattern is A's turned by 60 degrees; ADF and BF equal too
    r = _classes([4.0, 4.0], [0.0, 60.0], electrons)
    assert len(r.labels) == 2 and r.n_classes == 1
    assert all(t.n_classes == 1 for t in r.tests.values())


def test_a_descriptor_that_turns_with_the_pattern_would_split_them():
    """Why only invariant descriptors are used: one detector pixel on a lobe splits the
    turned copies (and its split is reported as the best, so it must not be offered)."""
    r = _classes([4.0, 4.0], [0.0, 60.0], None, lambda x: {"pixel": x[:, :, 7, 12][None]})
    assert r.family == "pixel" and r.n_classes == 2


@pytest.mark.parametrize("electrons", [None, 5000])
def test_two_species_are_two_classes_by_the_radial_profile(electrons):
    # hBN-like: equal ADF and BF (synthetic maps), different scattering rings
    r = _classes([4.0, 5.5], [0.0, 60.0], electrons)
    assert r.n_classes == 2 and r.family == "radial profile"
    assert r.tests["BF and ADF"].n_classes == 1
    inside, between = r.separation()
    assert between > r.threshold and np.isnan(inside)
    assert "2 classes by the radial profile" in r.statement()


def test_probe_ring_maximum_between_columns_is_not_a_site():
    """The hexagon centre of graphene/hBN is an ADF maximum (the probe's Airy rings of
    six columns overlap there), here a bump of 30 % of the ADF range; the COM divergence has the
    other sign there and leaves it out."""
    vectors, basis = synth.graphene_lattice(rotation_deg=8.0)
    m = synth.maps(vectors, basis, shape=(32, 32), noise=0.002)
    hole = synth.maps(vectors, np.array([[0.0, 0.0]]), shape=(32, 32), sigma=0.3)["adf"]
    adf = m["adf"] + 0.3 * np.ptp(m["adf"]) / np.ptp(hole) * hole
    lattice = Lattice(vectors)
    fit = sites.fit_periodic(adf, lattice, STEP)
    assert len(sites.find_sites(fit)[0]) == 3  # ADF prominence alone: the hole too
    com = np.stack([m["com_y"], m["com_x"]])
    div = sites.fit_periodic(sites.com_divergence(*com, STEP), lattice, STEP)
    found, _ = sites.find_sites(fit, div)
    d = np.abs((found[:, None, :] - basis[None, :, :] + 0.5) % 1 - 0.5).max(axis=-1)
    assert len(found) == 2 and d.min(axis=1).max() < 0.03
    # a COM turned by 180 degrees (sign of the scan rotation unknown): the same sites
    flipped, _ = sites.find_sites(fit, sites.fit_periodic(sites.com_divergence(
        *(-com), STEP), lattice, STEP))
    np.testing.assert_allclose(flipped, found)


def test_ring_index_and_profiles_are_anscombe_ring_sums():
    ring = ring_index((8, 8), (3.5, 3.5), n_rings=4)
    assert ring[3, 3] == 0 and ring[0, 0] == -1  # corners are beyond the full circle
    assert set(np.unique(ring)) == {-1, 0, 1, 2, 3}
    x = np.random.default_rng(1).poisson(5.0, (2, 3, 8, 8)).astype(float)
    out = radial_profiles(Dataset4D(x), (3.5, 3.5), counts=True, n_rings=4)
    assert out.shape == (4, 2, 3)
    expected = 2 * np.sqrt(x[1, 2][ring == 2].sum() + 3 / 8)
    assert out[2, 1, 2] == pytest.approx(expected)
    # turning a pattern by 90 degrees about the centre leaves its profile unchanged
    turned = np.rot90(x, axes=(2, 3)).copy()
    np.testing.assert_allclose(radial_profiles(Dataset4D(turned), (3.5, 3.5), True, 4), out)


def test_fold_keeps_only_the_probe_bandwidth():
    """2 alpha / lambda: 32 mrad at 60 kV (lambda 0.04866 Å) is 1.315 / Å; the fold's
    harmonics stay within it (and within the scan's Nyquist frequency)."""
    band = sites.bandwidth(32.0, 0.048661)
    assert band == pytest.approx(1.3153, abs=1e-3)
    assert sites.bandwidth(None, 0.05) is None and sites.bandwidth(30.0, None) is None
    vectors, basis = synth.graphene_lattice()
    m = synth.maps(vectors, basis, shape=(24, 24))
    lattice = Lattice(vectors)
    full = sites.fit_periodic(m["adf"], lattice, STEP)
    limited = sites.fit_periodic(m["adf"], lattice, STEP, bandwidth=band)
    g = np.linalg.norm(limited.hk @ lattice.reciprocal, axis=1)
    assert g.max() <= band and len(limited.hk) < len(full.hk)
