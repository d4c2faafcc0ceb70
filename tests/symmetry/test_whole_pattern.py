"""Whole-pattern channels (symbreak.symmetry.patterns) and their symmetry score, against
synthetic Poisson scans whose truth is known in closed form."""

import numpy as np
import pytest

from symbreak.dataset import Dataset4D
from symbreak.symmetry import patterns as P
from symbreak.symmetry.api import Descriptor, symmetry_breaking
from symbreak.symmetry.lattice import lattice_from_setting

SCAN, K, STEP, A = 24, 16, 0.25, 1.0  # probes, detector px, scan step [Å], lattice [Å]
SITE = (3.0, 3.0)  # [Å] the perturbed site (a lattice point)


def quadrupole_scan(defect: float, seed: int) -> np.ndarray:
    """Poisson patterns (SCAN, SCAN, K, K) of a square crystal (period A): a bright disk
    whose brightness is lattice-periodic and a ring whose intensity is redistributed as
    ``1 + m cos 2 theta``, ``m`` lattice-periodic plus ``defect`` x a Gaussian (0.3 Å) at
    SITE. ``cos 2 theta`` sums to 0 over the ring's square-symmetric pixels and is even
    under inversion: no annular detector sum and no centre of mass sees ``m``."""
    y, x = np.meshgrid(np.arange(SCAN) * STEP, np.arange(SCAN) * STEP, indexing="ij")
    bump = np.exp(-((y - SITE[0]) ** 2 + (x - SITE[1]) ** 2) / (2 * 0.3 ** 2))
    m = 0.3 * np.cos(2 * np.pi * x / A) * np.cos(2 * np.pi * y / A) + defect * bump
    disk_level = 200 * (1 + 0.2 * np.cos(2 * np.pi * y / A))
    ky, kx = np.mgrid[:K, :K] - (K - 1) / 2
    r, theta = np.hypot(ky, kx), np.arctan2(ky, kx)
    disk, ring = (r < 3).astype(float), ((r > 5) & (r < 7)).astype(float)
    expected = (disk_level[..., None, None] * disk
                + 80 * ring * (1 + m[..., None, None] * np.cos(2 * theta)))
    return np.random.default_rng(seed).poisson(expected).astype(np.float64)


def classical(data: np.ndarray) -> dict[str, Descriptor]:
    """BF (r < 3 px), ADF (4 < r < 8 px) and COM of the patterns."""
    ky, kx = np.mgrid[:K, :K] - (K - 1) / 2
    r = np.hypot(ky, kx)
    total = data.sum(axis=(2, 3))
    com = np.stack([(data * ky).sum(axis=(2, 3)) / total, (data * kx).sum(axis=(2, 3)) / total])
    return {"bf": Descriptor("scalar", (data * (r < 3)).sum(axis=(2, 3)), counts=True),
            "adf": Descriptor("scalar", (data * ((r > 4) & (r < 8))).sum(axis=(2, 3)),
                              counts=True),
            "com": Descriptor("vector", com)}


def scores(data: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    found = P.pattern_channels(Dataset4D(data), counts=True)
    descriptors = classical(data)
    descriptors["whole_pattern"] = Descriptor("channels", found.channels, noise_sd=found.noise_sd)
    lattice = lattice_from_setting([0.0, A, A, 0.0])
    result = symmetry_breaking(descriptors, lattice, STEP)
    return result.scores, result.threshold


def test_whole_pattern_finds_a_change_no_detector_sum_sees():
    s, limit = scores(quadrupole_scan(defect=0.15, seed=1))
    site = (int(SITE[0] / STEP), int(SITE[1] / STEP))
    assert s["whole_pattern"][site] > 2 * limit
    for name in ("bf", "adf", "com", "classical"):
        assert s[name][site] < limit, name
    assert s["combined"][site] > limit


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_no_whole_pattern_anomaly_in_a_perfect_poisson_crystal(seed):
    s, limit = scores(quadrupole_scan(defect=0.0, seed=seed))
    assert np.nanmax(s["whole_pattern"]) < limit
    assert np.nanmax(s["combined"]) < limit


def rank3_scan(noise: bool, seed: int = 0) -> np.ndarray:
    """Patterns (SCAN, SCAN, K, K) whose square-root scale ``2 sqrt(x)`` is a flat 2
    sqrt(50) plus three smooth patterns with independent random amplitudes (variance
    ~ 300 per component, far above the edge of ~3 of unit noise): rank 3 exactly in the
    stabilised space; Poisson counts when ``noise``."""
    rng = np.random.default_rng(seed)
    ky, kx = np.mgrid[:K, :K] / K
    basis = np.stack([np.cos(np.pi * ky), np.cos(np.pi * kx), np.cos(np.pi * (ky + kx))])
    amplitude = rng.standard_normal((SCAN, SCAN, 3)) * 1.5
    root = 2 * np.sqrt(50) + np.einsum("yxc,cij->yxij", amplitude, basis)
    expected = (root / 2) ** 2
    return rng.poisson(expected).astype(np.float64) if noise else expected


@pytest.mark.parametrize("seed", [0, 1])
def test_pure_poisson_noise_keeps_the_minimum(seed):
    noise = np.random.default_rng(seed).poisson(20.0, (SCAN, SCAN, K, K))
    found = P.pattern_channels(Dataset4D(noise), counts=True)
    assert found.channels.shape == (P.MIN_COMPONENTS, SCAN, SCAN)
    assert found.eigenvalues[0] < found.edge  # not even one above the noise


def test_rank3_signal_keeps_three_components():
    found = P.pattern_channels(Dataset4D(rank3_scan(noise=True)), counts=True)
    assert found.channels.shape[0] == 3
    np.testing.assert_allclose(found.noise_sd, 1.0, atol=0.01)  # ~50 counts a pixel
    assert found.eigenvalues[2] > 10 * found.edge > 10 * found.eigenvalues[3]


def test_noise_free_rank3_keeps_three_with_the_floor():
    found = P.pattern_channels(Dataset4D(rank3_scan(noise=False)), counts=False)
    assert found.channels.shape[0] == 3
    assert found.noise_variance == pytest.approx(P.NOISE_FREE_FLOOR * found.eigenvalues[0])


@pytest.mark.parametrize("mean", [5.0, 20.0, 300.0])
def test_anscombe_makes_poisson_variance_one(mean):
    counts = np.random.default_rng(0).poisson(mean, 200_000).astype(float)
    assert np.var(P.stabilised(counts, counts=True)) == pytest.approx(1.0, abs=0.02)


def test_marchenko_pastur_edge_closed_form():
    # sigma^2 (1 + sqrt(p/m))^2 for m = 399 patterns of p = 100 pixels, plus the margin
    edge = P.marchenko_pastur_edge(2.0, 400, 100)
    bulk = 2.0 * (1 + np.sqrt(100 / 399)) ** 2
    assert bulk < edge < 1.05 * bulk
    # per-pixel variances, all equal: the generalised edge is the same number
    assert P.marchenko_pastur_edge(np.full(100, 2.0), 400, 100) == pytest.approx(edge, rel=1e-6)


@pytest.mark.parametrize("mean", [0.1, 0.7, 2.0, 8.0])
def test_anscombe_moments_match_sampling(mean):
    sample = P.stabilised(np.random.default_rng(1).poisson(mean, 400_000).astype(float), True)
    expected_mean, expected_var = P.anscombe_moments(np.array([mean]))
    assert expected_mean[0] == pytest.approx(sample.mean(), abs=0.005)
    assert expected_var[0] == pytest.approx(sample.var(), abs=0.01)
    np.testing.assert_allclose(P.counting_noise(expected_mean), expected_var, rtol=1e-3)


def test_dim_pixels_lower_the_edge_to_what_pure_noise_reaches():
    """Pure Poisson noise on a pattern of bright (50 counts) and dim (0.5 counts) pixels:
    the dim pixels' Anscombe variance is ~0.45, so the largest noise eigenvalue is well
    below the unit-variance edge, and the counting-noise edge follows it down while
    staying above it."""
    level = np.where(np.arange(K * K).reshape(K, K) % 4 == 0, 50.0, 0.5)
    for seed in (0, 1, 2):
        noise = np.random.default_rng(seed).poisson(level, (SCAN, SCAN, K, K))
        found = P.pattern_channels(Dataset4D(noise), counts=True)
        unit_edge = P.marchenko_pastur_edge(1.0, SCAN * SCAN, K * K)
        assert found.eigenvalues[0] < found.edge < 0.85 * unit_edge
        assert found.edge < 1.15 * found.eigenvalues[0]
        # each channel's shot-noise sd lies between the dim and the bright pixels' sd
        dim = np.sqrt(P.anscombe_moments(np.array([0.5]))[1][0])
        assert np.all((found.noise_sd > dim) & (found.noise_sd < 0.99))


def test_binning_sums_counts_to_at_most_64_px():
    assert P.binning((128, 130)) == (2, 3)
    assert P.binning((16, 64)) == (1, 1)
    # no more pixels than patterns: 576 patterns -> at most 24 px a side
    assert P.binning((64, 64), 576) == (3, 3)
    assert P.binning((64, 64), 256 * 256) == (1, 1)
    data = np.random.default_rng(0).poisson(3.0, (2, 3, 130, 128))
    out = np.asarray(P.binned(Dataset4D(data).to_dask(), P.binning((130, 128))))
    assert out.shape == (2, 3, 43, 64)
    np.testing.assert_array_equal(out, data[:, :, :129].reshape(2, 3, 43, 3, 64, 2)
                                  .sum(axis=(3, 5)))


def test_noise_level_of_data_without_a_noise_model_is_estimated():
    # Gaussian noise of variance 4 on the square-root scale, not counts: sigma^2 ~ 4
    root = 2 * np.sqrt(rank3_scan(noise=False))
    noisy = root + 2.0 * np.random.default_rng(5).standard_normal(root.shape)
    found = P.pattern_channels(Dataset4D((noisy / 2) ** 2), counts=False)
    assert found.channels.shape[0] == 3
    assert found.noise_variance == pytest.approx(4.0, rel=0.1)
