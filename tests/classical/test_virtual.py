import dask.array as da
import numpy as np
import pytest

import symbreak
from symbreak.classical import default_detectors, virtual_image, virtual_images
from symbreak.errors import CalibrationError, SettingsError

from classical_synthetic import shifted_disks


@pytest.fixture
def counts():
    return np.random.default_rng(2).poisson(20, (6, 5, 24, 28)).astype(np.uint16)


def radius_mrad(shape, center, sampling):
    ky, kx = np.indices(shape, dtype=float)
    return np.hypot((ky - center[0]) * sampling, (kx - center[1]) * sampling)


def test_virtual_images_equal_direct_masked_sums(counts):
    ds = symbreak.as_dataset(counts, angular_sampling=2.0, detector_center=(11.3, 13.6))
    r = radius_mrad(counts.shape[2:], (11.3, 13.6), 2.0)
    detectors = {"bf": (0, 10), "abf": (5, 10), "adf": (10, 24), "rest": (24, np.inf)}
    images = virtual_images(ds, detectors)
    for name, (inner, outer) in detectors.items():
        expected = (counts * ((r >= inner) & (r < outer))).sum(axis=(2, 3))
        np.testing.assert_array_equal(images[name].values, expected)
        assert images[name].attrs["units"] == "counts"
    assert images.attrs["center_source"] == "calibration"
    assert images.bf.values.sum() + images.adf.values.sum() + images.rest.values.sum() == \
        counts.sum()


def test_single_image_px_units_mask_and_dask(counts):
    ds = symbreak.as_dataset(counts, detector_center=(12, 14))
    r = radius_mrad(counts.shape[2:], (12, 14), 1.0)
    image = virtual_image(ds, 3, 8, units="px")
    np.testing.assert_array_equal(image.values, (counts * ((r >= 3) & (r < 8))).sum(axis=(2, 3)))
    mask = np.zeros(counts.shape[2:], bool)
    mask[2:5, 7:20] = True
    masked = virtual_image(counts, mask=mask)
    np.testing.assert_array_equal(masked.values, counts[:, :, 2:5, 7:20].sum(axis=(2, 3)))
    lazy = symbreak.as_dataset(da.from_array(counts, chunks=(2, 2, 24, 28)),
                               detector_center=(12, 14))
    small = virtual_image(lazy, 3, 8, units="px", memory_budget=24 * 28 * 4 * 6 * 3)
    np.testing.assert_array_equal(small.values, image.values)


def test_center_from_mean_pattern():
    data = shifted_disks(np.full((3, 3), 2.0), np.full((3, 3), -1.5), (32, 32), radius=5)
    image = virtual_image(data, 0, 9, units="px")
    assert image.attrs["center_source"] == "mean pattern"
    np.testing.assert_allclose(image.attrs["center_px"], (15.5 + 2.0, 15.5 - 1.5), atol=1e-6)
    np.testing.assert_allclose(image.values, data.sum(axis=(2, 3)), rtol=1e-3)


def test_per_pattern_shifts_follow_the_beam():
    rng = np.random.default_rng(4)
    sy, sx = rng.uniform(-5, 5, (2, 4, 5))
    data = shifted_disks(sy, sx, (40, 40), radius=4)
    ds = symbreak.as_dataset(data, detector_center=(19.5, 19.5))
    fixed = virtual_image(ds, 0, 8, units="px")
    follow = virtual_image(ds, 0, 8, units="px", shifts="com")
    # the disk (radius 4, soft edge) lies inside r < 8 only when the detector follows it
    assert np.abs(follow.values / data.sum(axis=(2, 3)) - 1).max() < 1e-3
    assert (fixed.values / data.sum(axis=(2, 3))).min() < 0.9
    explicit = virtual_image(ds, 0, 8, units="px", shifts=np.stack([sy, sx], -1))
    ky, kx = np.indices((40, 40))
    for idx in np.ndindex(4, 5):
        mask = np.hypot(ky - 19.5 - sy[idx], kx - 19.5 - sx[idx]) < 8
        assert explicit.values[idx] == pytest.approx(data[idx][mask].sum(), rel=1e-12)
    lazy = symbreak.as_dataset(da.from_array(data, chunks=(1, 2, 40, 40)),
                               detector_center=(19.5, 19.5))
    np.testing.assert_allclose(virtual_image(lazy, 0, 8, units="px", shifts="com").values,
                               follow.values, rtol=1e-6)


def test_default_detectors_from_semiangle(counts):
    assert default_detectors(20.0) == {"bf": (0.0, 20.0), "abf": (10.0, 20.0),
                                       "adf": (20.0, 60.0), "haadf": (60.0, np.inf)}
    ds = symbreak.as_dataset(counts, angular_sampling=3.0, semiangle=10.0, detector_center=(12, 14))
    assert set(virtual_images(ds).data_vars) == {"bf", "abf", "adf", "haadf"}
    with pytest.raises(SettingsError, match="semiangle"):
        virtual_images(counts)


@pytest.mark.parametrize("call, error", [
    (lambda d: virtual_image(d, 10, 5, units="px"), SettingsError),
    (lambda d: virtual_image(d, 0, 5), CalibrationError),
    (lambda d: virtual_image(d, 0, 5, units="px", mask=np.ones((24, 28), bool)), SettingsError),
    (lambda d: virtual_image(d, units="px"), SettingsError),
    (lambda d: virtual_image(d, mask=np.ones((3, 3), bool)), SettingsError),
    (lambda d: virtual_image(d, 0, 5, units="px", shifts="beam"), SettingsError),
    (lambda d: virtual_image(d, 0, 5, units="px", shifts=np.zeros((2, 2, 2))), SettingsError),
    (lambda d: virtual_image(d, 0, 5, units="px", center="middle"), SettingsError),
    (lambda d: virtual_images(d, {"m": np.ones((24, 28), bool)}, shifts="com"), SettingsError),
    (lambda d: virtual_images(d, {}), SettingsError),
])
def test_bad_settings(counts, call, error):
    with pytest.raises(error):
        call(counts)
