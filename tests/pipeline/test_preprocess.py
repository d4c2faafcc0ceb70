"""Preprocessing against hand computations with numpy and scipy."""

import numpy as np
import pytest
from scipy import ndimage

from symbreak.calibration import Calibration
from symbreak.dataset import Dataset4D
from symbreak.errors import SettingsError
from symbreak import preprocess as pp
from symbreak.preprocess.settings import PreprocessSettings


def disk_stack(shape=(3, 4, 32, 32), center=(13.0, 18.0), radius=6.0, seed=0):
    rng = np.random.default_rng(seed)
    ky, kx = np.mgrid[: shape[2], : shape[3]]
    disk = ((ky - center[0]) ** 2 + (kx - center[1]) ** 2 <= radius**2).astype(float)
    return (disk * 100 + rng.poisson(5, size=shape)).astype(np.float32)


def test_crop_is_centred_on_com_of_mean_pattern():
    array = disk_stack()
    data = Dataset4D(array, Calibration(detector_center=(13, 18)))
    out = pp.preprocess(data, crop=10, subtract_mean=False, normalize=False)
    cy, cx = ndimage.center_of_mass(array.mean(axis=(0, 1)))
    y0, x0 = int(round(cy - 4.5)), int(round(cx - 4.5))
    np.testing.assert_allclose(out.to_numpy(), array[:, :, y0 : y0 + 10, x0 : x0 + 10])
    assert out.calibration.detector_center == (13 - y0, 18 - x0)
    assert [p["step"] for p in out.provenance][-2:] == ["crop", "preprocess"]
    assert pp.preprocessing_of(out)["crop"] == 10


def test_crop_window_is_shifted_inside_the_pattern():
    assert pp.crop_window((1.0, 30.0), 8, (32, 32)) == (0, 24)
    assert pp.crop_window((16.0, 16.0), 8, (32, 32)) == (12, 12)


def test_full_recipe_matches_numpy():
    array = disk_stack()
    out = pp.preprocess(array, crop=12).to_numpy()
    cy, cx = ndimage.center_of_mass(array.astype(float).mean(axis=(0, 1)))
    y0, x0 = int(round(cy - 5.5)), int(round(cx - 5.5))
    ref = array[:, :, y0 : y0 + 12, x0 : x0 + 12].astype(float)
    ref = ref - ref.mean(axis=(0, 1))
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    np.testing.assert_allclose(out, ref, atol=2e-6)
    assert out.min() == 0 and out.max() == pytest.approx(1.0)


def test_binning_averages_blocks_and_scales_sampling():
    array = disk_stack(shape=(2, 2, 16, 16))
    data = Dataset4D(array, Calibration(energy=60e3, angular_sampling=0.5))
    out = pp.bin_patterns(data, 2)
    ref = array.reshape(2, 2, 8, 2, 8, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(out.to_numpy(), ref, rtol=1e-6)
    assert out.calibration.angular_sampling == (1.0, 1.0)
    assert out.calibration.k_sampling[0] == pytest.approx(1e-3 / out.calibration.wavelength)


def test_resize_keeps_a_linear_ramp_linear():
    ky, kx = np.mgrid[:16, :16].astype(np.float32)
    ramp = 2 * ky + 3 * kx
    data = Dataset4D(np.broadcast_to(ramp, (2, 2, 16, 16)).copy(), Calibration(angular_sampling=1.0))
    out = pp.resize_patterns(data, 32).to_numpy()[0, 0]
    # new pixel centres sit at (i + 0.5) / 2 - 0.5 in old pixels
    y = (np.arange(32) + 0.5) / 2 - 0.5
    expected = 2 * y[:, None] + 3 * y[None, :]
    np.testing.assert_allclose(out[10:-10, 10:-10], expected[10:-10, 10:-10], atol=2e-3)
    assert out.shape == (32, 32)
    assert pp.resize_patterns(data, 32).calibration.angular_sampling == (0.5, 0.5)


def test_default_crop_from_calibration_is_paper_ratio():
    # 32 mrad semi-angle at 0.95 mrad/px -> 67.4 px disk -> the paper's 78 px
    cal = Calibration(semiangle=32.0, angular_sampling=32 / 33.7)
    assert pp.default_crop(np.ones((256, 256)), cal) == 78
    assert pp.default_crop(np.ones((40, 40)), cal) == 40


@pytest.mark.parametrize(
    "options, match",
    [({"crop": -4}, "crop"), ({"crop": 64}, "larger than the patterns"), ({"bin": 0}, "bin"),
     ({"denoise_keep": 30}, "denoise_keep"), ({"crops": 3}, "unknown")],
)
def test_bad_settings_are_rejected(options, match):
    with pytest.raises(SettingsError, match=match):
        pp.preprocess(disk_stack(), **options)


def test_settings_validate_on_construction():
    with pytest.raises(SettingsError, match="crop"):
        PreprocessSettings(crop=0)


def test_pca_denoising_matches_scikit_learn():
    from sklearn.decomposition import PCA

    array = disk_stack(shape=(6, 7, 24, 24))
    out = pp.preprocess(array, crop=12, denoise=True, denoise_components=5, denoise_keep=2,
                        normalize=False).to_numpy()
    cy, cx = ndimage.center_of_mass(array.astype(float).mean(axis=(0, 1)))
    y0, x0 = int(round(cy - 5.5)), int(round(cx - 5.5))
    x = array[:, :, y0 : y0 + 12, x0 : x0 + 12].astype(float)
    flat = (x - x.mean(axis=(0, 1))).reshape(42, -1)
    pca = PCA(n_components=5).fit(flat)
    basis = pca.components_[:2]
    ref = pca.mean_ + (flat - pca.mean_) @ basis.T @ basis
    np.testing.assert_allclose(out.reshape(42, -1), ref, atol=1e-3)
    assert out.shape == (6, 7, 12, 12)
