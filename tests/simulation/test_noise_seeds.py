"""Seeds, Poisson noise, source size and frozen phonons."""

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

import symbreak
from symbreak.simulation.noise import add_poisson_noise, counts_per_probe

TINY = dict(scan_shape=(2, 3), scan_step=0.3, detector_pixels=32, max_angle=40.0)


def test_same_seed_same_bytes_other_seed_other_noise():
    a = symbreak.simulate("graphene", dose=1e4, seed=1, **TINY).to_numpy()
    b = symbreak.simulate("graphene", dose=1e4, seed=1, **TINY).to_numpy()
    c = symbreak.simulate("graphene", dose=1e4, seed=2, **TINY).to_numpy()
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert np.array_equal(a, np.round(a))  # counts are whole electrons
    # both noisy versions scatter around the same mean: total counts agree within 5 sigma
    assert abs(a.sum() - c.sum()) < 5 * np.sqrt(2 * a.sum())


def test_noise_does_not_depend_on_chunking():
    rng = np.random.default_rng(0)
    clean = rng.random((6, 5, 8, 8)).astype(np.float32) / 64
    one = add_poisson_noise(da.from_array(clean, chunks=(6, 5, 8, 8)), 100.0, (0.5, 0.5), 7)
    many = add_poisson_noise(da.from_array(clean, chunks=(1, 2, 8, 8)), 100.0, (0.5, 0.5), 7)
    assert np.asarray(one).tobytes() == np.asarray(many).tobytes()


def test_poisson_statistics_match_the_dose():
    dose, step = 2e4, (0.2, 0.25)
    electrons = counts_per_probe(dose, step)
    assert electrons == pytest.approx(1000.0)
    clean = np.full((40, 40, 4, 4), 1 / 16, dtype=np.float32)  # 1/16 of the beam per pixel
    noisy = np.asarray(add_poisson_noise(da.from_array(clean, chunks=(10, 10, 4, 4)), dose,
                                         step, seed=3))
    lam = electrons / 16
    assert noisy.mean() == pytest.approx(lam, rel=3 / np.sqrt(noisy.size * lam))
    assert noisy.var() == pytest.approx(lam, rel=0.05)  # Poisson: variance = mean


def test_incoherent_source_is_a_periodic_gaussian_blur_over_the_scan():
    options = dict(scan_region="cell", scan_shape=(4, 6), detector_pixels=32, max_angle=40.0)
    coherent = symbreak.simulate("graphene", **options)
    blurred = symbreak.simulate("graphene", source_size=0.3, **options)
    step = coherent.calibration.scan_step
    sigma = (0.3 / step[0], 0.3 / step[1], 0, 0)
    base = coherent.to_numpy()[:-1, :-1]  # the computed cell, without the appended copies
    expected = ndimage.gaussian_filter(base, sigma, mode="wrap")
    got = blurred.to_numpy()
    np.testing.assert_allclose(got[:-1, :-1], expected, rtol=1e-4, atol=1e-6 * expected.max())
    assert np.array_equal(got[-1], got[0])
    assert not np.allclose(got[:-1, :-1], base, atol=1e-3 * base.max())


def test_region_scan_with_source_size_is_padded_not_wrapped():
    # a 3 x 3 region blurred by 0.2 Å equals the centre of a larger coherent scan blurred
    step = 0.2
    big = symbreak.simulate("graphene", scan_shape=(11, 11), scan_step=step,
                            detector_pixels=32, max_angle=40.0).to_numpy()
    expected = ndimage.gaussian_filter(big, (1.0, 1.0, 0, 0), mode="nearest")[4:7, 4:7]
    got = symbreak.simulate("graphene", scan_shape=(3, 3), scan_step=step, source_size=0.2,
                            detector_pixels=32, max_angle=40.0).to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5 * expected.max())


def test_frozen_phonons_are_seeded():
    options = dict(TINY, phonons=2, phonon_sigma=0.1)
    a = symbreak.simulate("graphene", seed=5, **options).to_numpy()
    b = symbreak.simulate("graphene", seed=5, **options).to_numpy()
    c = symbreak.simulate("graphene", seed=6, **options).to_numpy()
    assert a.tobytes() == b.tobytes()
    assert not np.allclose(a, c, rtol=0, atol=1e-4 * a.max())
