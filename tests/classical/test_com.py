import warnings

import dask.array as da
import numpy as np
import pytest
from scipy import ndimage

import symbreak
from symbreak.classical import com, detector_to_scan
from symbreak.errors import CalibrationError, DataError, SettingsError

from classical_synthetic import shifted_disks, soft_disk


def scipy_com(data, mask=None):
    out = np.empty(data.shape[:2] + (2,))
    for idx in np.ndindex(data.shape[:2]):
        pattern = data[idx] if mask is None else data[idx] * mask
        out[idx] = ndimage.center_of_mass(pattern.astype(float))
    return out


@pytest.fixture
def random_data():
    return np.random.default_rng(0).random((5, 6, 17, 23))


def test_com_equals_scipy_float64(random_data):
    ds = symbreak.as_dataset(random_data, detector_center=(0, 0))
    result = com(ds, reference="center")
    expected = scipy_com(random_data)
    np.testing.assert_allclose(result.com_y.values, expected[..., 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.com_x.values, expected[..., 1], rtol=0, atol=1e-12)


def test_com_equals_scipy_uint16_counts():
    data = np.random.default_rng(1).poisson(200, (4, 4, 64, 64)).astype(np.uint16)
    result = com(symbreak.as_dataset(data, detector_center=(0, 0)), reference="center")
    expected = scipy_com(data)
    # float32 kernel on counts: centred moments keep ~1e-5 px
    np.testing.assert_allclose(result.com_y.values, expected[..., 0], atol=2e-5)
    np.testing.assert_allclose(result.com_x.values, expected[..., 1], atol=2e-5)


def test_mean_reference_is_com_of_mean_pattern(random_data):
    result = com(random_data)
    ref = ndimage.center_of_mass(random_data.mean(axis=(0, 1)))
    np.testing.assert_allclose(result.attrs["reference_center_px"], ref, atol=1e-12)
    np.testing.assert_allclose(result.com_x.values, scipy_com(random_data)[..., 1] - ref[1],
                               atol=1e-12)


def test_subpixel_shift_of_analytic_disk():
    pattern = soft_disk((48, 48), (23.5 + 0.37, 23.5 - 1.21), radius=9)
    data = pattern[None, None]
    result = com(symbreak.as_dataset(data, detector_center=(23.5, 23.5)), reference="center")
    assert result.com_y.item() == pytest.approx(0.37, abs=1e-6)
    assert result.com_x.item() == pytest.approx(-1.21, abs=1e-6)
    assert result.com_angle.item() == pytest.approx(np.arctan2(0.37, -1.21), abs=1e-6)
    assert result.com_magnitude.item() == pytest.approx(np.hypot(0.37, 1.21), abs=1e-6)


def test_disk_and_annulus_masks_match_scipy_masked(random_data):
    ds = symbreak.as_dataset(random_data, detector_center=(8.0, 11.0))
    ky, kx = np.indices(random_data.shape[2:])
    r = np.hypot(ky - 8.0, kx - 11.0)
    for spec, mask in ((6, r < 6), ((3, 7.5), (r >= 3) & (r < 7.5))):
        result = com(ds, mask=spec, reference="center")
        expected = scipy_com(random_data, mask)
        np.testing.assert_allclose(result.com_x.values, expected[..., 1] - 11.0, atol=1e-12)
        np.testing.assert_allclose(result.com_y.values, expected[..., 0] - 8.0, atol=1e-12)
    bool_mask = random_data[0, 0] > 0.5
    result = com(ds, mask=bool_mask, reference="center")
    np.testing.assert_allclose(result.com_y.values,
                               scipy_com(random_data, bool_mask)[..., 0] - 8.0, atol=1e-12)


def test_mask_radius_in_mrad_and_threshold(random_data):
    ds = symbreak.as_dataset(random_data, detector_center=(8.0, 11.0), angular_sampling=0.5)
    ky, kx = np.indices(random_data.shape[2:])
    mask = np.hypot(ky - 8.0, kx - 11.0) * 0.5 < 3.0
    result = com(ds, mask=3.0, mask_units="mrad", reference="center")
    expected = scipy_com(random_data, mask)
    np.testing.assert_allclose(result.com_y.values, expected[..., 0] - 8.0, atol=1e-12)
    thresholded = np.where(random_data >= 0.4, random_data, 0)
    result = com(ds, threshold=0.4, reference="center")
    np.testing.assert_allclose(result.com_x.values, scipy_com(thresholded)[..., 1] - 11.0,
                               atol=1e-12)


def test_units_mrad_and_inverse_angstrom(random_data):
    px = com(random_data)
    ds = symbreak.as_dataset(random_data, energy=60e3, angular_sampling=(0.4, 0.5))
    mrad = com(ds, units="mrad")
    np.testing.assert_allclose(mrad.com_y.values, px.com_y.values * 0.4, atol=1e-12)
    np.testing.assert_allclose(mrad.com_x.values, px.com_x.values * 0.5, atol=1e-12)
    assert mrad.com_x.attrs["units"] == "mrad"
    inv = com(ds, units="1/A")
    lam = symbreak.electron_wavelength(60e3)
    np.testing.assert_allclose(inv.com_x.values, mrad.com_x.values * 1e-3 / lam, rtol=1e-12)
    assert inv.com_x.attrs["units"] == "1/Å"
    assert inv.scan_y.attrs["units"] == "px"


def test_plane_reference_removes_linear_descan():
    ny, nx = 6, 7
    y, x = np.indices((ny, nx), dtype=float)
    descan_y, descan_x = 0.2 * y - 0.1 * x + 0.5, 0.05 * y + 0.15 * x - 0.3
    data = shifted_disks(descan_y, descan_x, (32, 32))
    result = com(data, reference="plane")
    np.testing.assert_allclose(result.com_y.values, 0, atol=1e-6)
    np.testing.assert_allclose(result.com_x.values, 0, atol=1e-6)
    np.testing.assert_allclose(result.attrs["descan_plane_x_px"][1:], [0.05, 0.15], atol=1e-6)
    assert abs(com(data).com_x.values).max() > 0.5  # the mean reference keeps it


def test_in_memory_equals_dask_and_memmap(random_data, tmp_path):
    data = (random_data * 1000).astype(np.uint16)
    expected = com(data, mask=(2, 8), threshold=100)
    lazy = da.from_array(data, chunks=(2, 3, 17, 23))
    path = tmp_path / "d.npy"
    np.save(path, data)
    mapped = np.load(path, mmap_mode="r")
    for other in (lazy, mapped):
        # a tiny budget forces many chunks
        result = com(other, mask=(2, 8), threshold=100, memory_budget=4 * 17 * 23 * 4 * 6)
        for name in ("com_x", "com_y", "intensity"):
            np.testing.assert_allclose(result[name].values, expected[name].values, rtol=1e-6,
                                       atol=1e-9)


def test_zero_and_nan_patterns_give_nan_and_one_warning(random_data):
    data = random_data.copy()
    data[1, 2] = 0
    data[3, 4] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = com(data)
    caught = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(caught) == 1 and "2 of 30 patterns" in str(caught[0].message)
    assert np.isnan(result.com_x.values[1, 2]) and np.isnan(result.com_y.values[3, 4])
    assert np.isfinite(result.com_x.values).sum() == 28
    with pytest.warns(RuntimeWarning, match="2 of 30"):  # zero counts as bad too
        clean = com(np.where(np.isnan(data), 0, data))
    # the mean reference ignores the bad patterns, so the good ones are unchanged
    np.testing.assert_allclose(result.com_x.values, clean.com_x.values, atol=1e-12)


def test_known_rotation_and_calibration_rotation(random_data):
    base = com(random_data)
    vy, vx = detector_to_scan(base.com_y.values, base.com_x.values, 0.3, True)
    rotated = com(random_data, rotation=0.3, flip=True)
    np.testing.assert_allclose(rotated.com_x.values, vx, atol=1e-12)
    np.testing.assert_allclose(rotated.com_y.values, vy, atol=1e-12)
    assert rotated.attrs["rotation_source"] == "user" and rotated.attrs["scan_flip"]
    calibrated = com(symbreak.as_dataset(random_data, scan_rotation=0.3, scan_flip=True))
    np.testing.assert_allclose(calibrated.com_x.values, vx, atol=1e-12)
    assert calibrated.attrs["rotation_source"] == "calibration"


@pytest.mark.parametrize("kwargs, error", [
    ({"reference": "median"}, SettingsError),
    ({"units": "nm"}, SettingsError),
    ({"units": "mrad"}, CalibrationError),
    ({"reference": "center"}, CalibrationError),
    ({"rotation": "guess"}, SettingsError),
    ({"flip": "yes"}, SettingsError),
    ({"mask": np.ones((3, 3), bool)}, SettingsError),
    ({"mask": "big"}, SettingsError),
    ({"mask": (5, 2)}, SettingsError),
])
def test_bad_settings_raise_named_errors(random_data, kwargs, error):
    with pytest.raises(error):
        com(random_data, **kwargs)


def test_bad_data_raises():
    with pytest.raises(DataError, match="4-D"):
        com(np.zeros((4, 5, 6)))
