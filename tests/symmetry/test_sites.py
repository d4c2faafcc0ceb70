"""Site classes from folded descriptor maps: synthetic crystals with known classes."""

import numpy as np
import pytest
from scipy import stats

from symbreak.symmetry import sites
from symbreak.symmetry.lattice import Lattice

from . import synth

STEP = 0.25  # Å


def crystal(vectors, basis, kinds, motifs, shape=(40, 40), noise=0.0, seed=0, turn=None):
    """ADF and two content-latent maps of a crystal: site ``i`` of ``basis`` has ADF
    weight and latent motif ``motifs[kinds[i]]`` = (adf weight, (z1, z2) amplitudes);
    the latent motif is anisotropic (three-fold lobes), turned by ``turn[i]`` degrees
    at site i: a rotation-invariant latent sees the same value at the site's centre."""
    ny, nx = shape
    Y, X = np.meshgrid(np.arange(ny) * STEP, np.arange(nx) * STEP, indexing="ij")
    adf = np.zeros(shape)
    z = np.zeros((2,) + shape)
    turn = np.zeros(len(basis)) if turn is None else np.asarray(turn, float)
    n = int(np.ceil(max(ny, nx) * STEP / min(np.linalg.norm(vectors, axis=1)))) + 3
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            for b, kind, t in zip(basis, kinds, turn):
                p = (i + b[0]) * vectors[0] + (j + b[1]) * vectors[1]
                dy, dx = Y - p[0], X - p[1]
                r2 = dy ** 2 + dx ** 2
                if r2.min() > 9:
                    continue
                weight, amplitude = motifs[kind]
                g = np.exp(-r2 / (2 * 0.35 ** 2))
                lobes = 1 + 0.5 * np.cos(3 * (np.arctan2(dy, dx) - np.deg2rad(t))) * r2 / 0.2
                adf += weight * g
                z += np.asarray(amplitude, float)[:, None, None] * g * lobes
    rng = np.random.default_rng(seed)
    z += noise * rng.standard_normal(z.shape)
    adf += 0.01 * noise * rng.standard_normal(adf.shape)
    return adf, z


def _lattice(vectors):
    return Lattice(np.asarray(vectors, float))


def test_rotated_copies_of_one_motif_are_one_class():
    vectors, basis = synth.graphene_lattice(rotation_deg=8.0)
    adf, z = crystal(vectors, basis, [0, 0], {0: (1.0, (1.0, 0.4))}, noise=0.02,
                     turn=[0.0, 60.0])  # B = A turned by 60 degrees, as in graphene
    r = sites.site_classes({"z": z}, adf, _lattice(vectors), (STEP, STEP))
    assert len(r.labels) == 2 and r.n_classes == 1
    # the sites are graphene's two sublattices: 1/3 and 2/3 along the long diagonal
    d = r.fractional[0] - r.fractional[1]
    assert np.abs((d + 0.5) % 1 - 0.5) == pytest.approx([1 / 3, 1 / 3], abs=0.03)
    assert r.distance[0, 1] < r.threshold
    assert set(np.unique(r.class_map)) == {sites.NO_CLASS, 0}


def test_two_motifs_are_two_classes_and_the_map_follows_them():
    vectors, basis = synth.rect_lattice(rotation_deg=15.0)  # ZnS [110]-like dumbbells
    kinds = [0, 1, 0, 1]
    motifs = {0: (1.0, (1.0, 0.2)), 1: (0.5, (0.3, 0.7))}
    adf, z = crystal(vectors, basis, kinds, motifs, shape=(32, 32), noise=0.02)
    lattice = _lattice(vectors)
    r = sites.site_classes({"z": z}, adf, lattice, (STEP, STEP))
    assert len(r.labels) == 4 and r.n_classes == 2
    # the bright sites (first two, brightest first) are one class, the dim ones the other
    assert r.labels[0] == r.labels[1] != r.labels[2] == r.labels[3]
    inside, between = r.separation()
    assert inside < r.threshold < between
    assert between == pytest.approx(r.distance[:2, 2:].max())  # complete linkage
    # every probe within 0.3 Å of a true column carries its kind's class
    Y, X = np.meshgrid(np.arange(32) * STEP, np.arange(32) * STEP, indexing="ij")
    bright_class = r.labels[0]
    for i in range(-6, 7):
        for j in range(-6, 7):
            for b, kind in zip(basis, kinds):
                p = (i + b[0]) * vectors[0] + (j + b[1]) * vectors[1]
                near = np.hypot(Y - p[0], X - p[1]) < 0.3
                expected = bright_class if kind == 0 else 1 - bright_class
                assert np.all(r.class_map[near] == expected)
    np.testing.assert_allclose(r.class_latent()[bright_class], r.latent[:2].mean(axis=0))


def test_noise_only_latents_are_one_class():
    vectors, basis = synth.rect_lattice(rotation_deg=15.0)
    adf, _ = crystal(vectors, basis, [0, 1, 0, 1], {0: (1.0, (0, 0)), 1: (0.5, (0, 0))},
                     shape=(32, 32))
    z = np.random.default_rng(5).standard_normal((3, 32, 32))
    r = sites.site_classes({"z": z}, adf, _lattice(vectors), (STEP, STEP))
    assert len(r.labels) == 4 and r.n_classes == 1


def test_invariance_error_limits_what_can_be_told_apart():
    """Two kinds whose latents differ by less than the model's rotation-invariance
    error are not told apart, however many cells average the noise away."""
    vectors, basis = synth.rect_lattice()
    motifs = {0: (1.0, (1.0, 0.2)), 1: (0.5, (0.8, 0.3))}
    adf, z = crystal(vectors, basis, [0, 1, 0, 1], motifs, shape=(32, 32))
    r = sites.site_classes({"z": z}, adf, _lattice(vectors), (STEP, STEP))
    assert r.n_classes == 2
    # the same sites with a rotation-invariance error of 0.5 on each latent
    blurred = np.sqrt(r.noise ** 2 + 0.5 ** 2)
    distance = sites.site_distances(r.latent, blurred)
    assert distance.max() < r.threshold
    assert sites.cluster(distance, r.threshold).max() == 0


def test_one_cell_periodic_scan():
    """A scan of exactly one cell (the lattice is the field of view) has one sample per
    cell position: the classes still come out."""
    vectors = np.array([[5.0, 0.0], [0.0, 4.0]])
    basis = np.array([[0.25, 0.25], [0.75, 0.75], [0.25, 0.75], [0.75, 0.25]])
    kinds = [0, 0, 1, 1]
    adf, z = crystal(vectors, basis, kinds, {0: (1.0, (1.0, 0.2)), 1: (0.6, (0.4, 0.5))},
                     shape=(20, 16), noise=0.01)
    r = sites.site_classes({"z": z}, adf, _lattice(vectors), (STEP, STEP))
    assert r.n_classes == 2 and r.labels[0] == r.labels[1] != r.labels[2] == r.labels[3]


def test_distance_threshold_is_the_chi_quantile():
    # one latent, two sites: the two-sided normal quantile for 1 %
    assert sites.distance_threshold(2, 1) == pytest.approx(stats.norm.isf(0.005))
    # two latents, four sites (6 pairs): chi-squared with 2 dof is exponential / 2
    assert sites.distance_threshold(4, 2) == pytest.approx(np.sqrt(2 * np.log(600)))


def test_site_distances_and_complete_linkage():
    latent = np.array([[0.0, 0.0], [3.0, 4.0], [0.3, 0.4]])
    sigma = np.full((3, 2), 1 / np.sqrt(2))  # pair variance 1
    d = sites.site_distances(latent, sigma)
    np.testing.assert_allclose(d, [[0, 5, 0.5], [5, 0, 4.5], [0.5, 4.5, 0]])
    np.testing.assert_array_equal(sites.cluster(d, 1.0), [0, 1, 0])
    np.testing.assert_array_equal(sites.cluster(d, 6.0), [0, 0, 0])
    # complete linkage: a chain 0-1-2 with steps below the threshold but ends above it
    chain = np.array([[0, 0.9, 1.8], [0.9, 0, 0.9], [1.8, 0.9, 0]])
    assert sites.cluster(chain, 1.0).max() == 1


def test_prominence_of_two_peaks_on_a_periodic_grid():
    x = np.arange(40)
    line = 3 * np.exp(-(x - 10) ** 2 / 8) + 2 * np.exp(-(x - 30) ** 2 / 8)
    grid = np.tile(line, (5, 1))
    p = sites.prominences(grid)
    # the lower peak's saddle is the higher of the two valleys (the grid wraps)
    saddle = max(line[20], line[0])
    assert p[0, 10] == pytest.approx(3 - line.min(), abs=1e-6)
    assert p[0, 30] == pytest.approx(line[30] - saddle, abs=1e-6)
    assert np.count_nonzero(p[0] > 1e-9) == 2
