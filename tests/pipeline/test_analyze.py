"""End to end: analyze a small synthetic scan, check the saved results against the
schema and against independent computations (scipy COM, scikit-learn PCA, numpy)."""

import base64
import hashlib
import json
import re

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage
from sklearn.decomposition import PCA

import symbreak
from symbreak.analysis.settings import AnalyzeSettings

EPOCHS = 3


@pytest.fixture(scope="module")
def run(scan, tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze") / "run"
    returned = symbreak.analyze(scan, out=out, epochs=EPOCHS, pca_components=4, progress=False)
    return out, returned, xr.open_zarr(out / "results.zarr").load()


def test_schema(run):
    out, _, r = run
    maps = ["bf", "adf", "com_x", "com_y", "com_magnitude", "com_angle", "latent_angle",
            "reconstruction_error"]
    for name in maps:
        assert r[name].dims == ("scan_y", "scan_x"), name
        assert "units" in r[name].attrs, name
    assert r["pca_scores"].dims == ("component", "scan_y", "scan_x")
    assert r["pca_components"].dims == ("component", "ky", "kx")
    assert r["latent_z"].dims == r["latent_z_sd"].dims == ("latent", "scan_y", "scan_x")
    assert r["mean_pattern"].dims == ("ky", "kx")
    assert r.sizes["latent"] == 2 and r.sizes["component"] == 4
    assert r["scan_x"].attrs["units"] == "Å" and r["kx"].attrs["units"] == "mrad"
    np.testing.assert_allclose(r["scan_x"].values, 0.3 * np.arange(9))
    assert r["com_angle"].attrs["units"] == r["latent_angle"].attrs["units"] == "rad"
    angle = r["latent_angle"].values
    assert np.isfinite(angle).all() and (angle > -np.pi - 1e-6).all() and (angle <= np.pi + 1e-6).all()
    assert r["manifold"].shape[:2] == (9, 9)
    assert r.sizes["epoch"] == EPOCHS
    assert {"settings", "versions", "input_file", "input_checksum"} <= set(r.attrs)
    assert json.loads(r.attrs["versions"])["numpy"] == np.__version__
    assert (out / "model").is_dir() and not (out / ".checkpoints").exists()


def test_checksum_is_sha256_of_the_array_bytes(run, scan):
    digest = hashlib.sha256(f"{scan.dtype.str}{scan.shape}".encode())
    for row in scan.array:
        digest.update(np.ascontiguousarray(row).tobytes())
    assert run[2].attrs["input_checksum"] == "sha256:" + digest.hexdigest()


def test_settings_written_back_and_readable(run):
    out, _, r = run
    settings = AnalyzeSettings.from_file(out / "settings.toml")
    assert settings.to_dict() == json.loads(r.attrs["settings"])
    assert settings.vae.epochs == EPOCHS and settings.pca.pca_components == 4
    # derived from the calibration: 9 mrad / 1.5 mrad/px = 6 px radius -> 1.16 x 12 px
    assert settings.preprocess.crop == 14
    assert settings.detectors.bf == (0.0, 9.0) and settings.detectors.detector_units == "mrad"


def test_returned_dataset_equals_saved(run):
    _, returned, saved = run
    xr.testing.assert_allclose(returned[["com_x", "pca_scores", "latent_z"]],
                               saved[["com_x", "pca_scores", "latent_z"]])


def test_com_matches_scipy(run, scan):
    r = run[2]
    patterns = scan.array.astype(float)
    ref = np.array(ndimage.center_of_mass(patterns.mean(axis=(0, 1))))
    com = np.array([[ndimage.center_of_mass(p) for p in row] for row in patterns])
    np.testing.assert_allclose(r["com_y"].values, (com[..., 0] - ref[0]) * 1.5, atol=1e-4)
    np.testing.assert_allclose(r["com_x"].values, (com[..., 1] - ref[1]) * 1.5, atol=1e-4)
    np.testing.assert_allclose(r["com_angle"].values,
                               np.arctan2(r["com_y"].values, r["com_x"].values))


def test_virtual_bright_field_matches_numpy(run, scan):
    k = scan.pattern_shape[0]
    ky, kx = np.mgrid[:k, :k]
    c = (k - 1) / 2
    inside = np.hypot(ky - c, kx - c) * 1.5 < 9.0
    np.testing.assert_allclose(run[2]["bf"].values, scan.array[..., inside].sum(-1), rtol=1e-5)


def test_virtual_dark_field_counts_every_pixel_outside_the_disk(run, scan):
    """DF: from 1.1 x the 9 mrad semi-angle (1.5 mrad/px) out, the corners included."""
    k = scan.pattern_shape[0]
    ky, kx = np.mgrid[:k, :k]
    c = (k - 1) / 2
    outside = np.hypot(ky - c, kx - c) * 1.5 >= 9.9
    assert outside[0, 0] and outside.sum() > 0.5 * k * k
    np.testing.assert_allclose(run[2]["df"].values, scan.array[..., outside].sum(-1), rtol=1e-5)


def preprocessed(scan, crop):
    patterns = scan.array.astype(float)
    cy, cx = ndimage.center_of_mass(patterns.mean(axis=(0, 1)))
    y0, x0 = int(round(cy - (crop - 1) / 2)), int(round(cx - (crop - 1) / 2))
    x = patterns[:, :, y0 : y0 + crop, x0 : x0 + crop]
    mean = x.mean(axis=(0, 1))
    x = x - mean
    return (x - x.min()) / (x.max() - x.min()), mean


def test_mean_pattern_and_pca_match_scikit_learn(run, scan):
    r = run[2]
    x, mean = preprocessed(scan, r.sizes["ky"])
    np.testing.assert_allclose(r["mean_pattern"].values, mean, rtol=1e-5)
    flat = x.reshape(-1, x.shape[2] * x.shape[3])
    pca = PCA(n_components=4).fit(flat)
    np.testing.assert_allclose(r["pca_explained_variance_ratio"].values,
                               pca.explained_variance_ratio_, rtol=1e-3)
    scores = pca.transform(flat).T.reshape(4, *scan.scan_shape)
    comps = pca.components_.reshape(4, *x.shape[2:])
    for i in range(2):  # the leading, well separated components; sign is arbitrary
        sign = np.sign(np.sum(comps[i] * r["pca_components"].values[i]))
        np.testing.assert_allclose(sign * r["pca_components"].values[i], comps[i], atol=2e-4)
        np.testing.assert_allclose(sign * r["pca_scores"].values[i], scores[i], atol=2e-3)


def test_report_has_every_section_with_images(run):
    out = run[0]
    page = symbreak.report(out)
    text = page.read_text()
    sections = re.findall(r'<section id="([^"]+)">(.*?)</section>', text, flags=re.S)
    ids = [s for s, _ in sections]
    assert ids == ["fit-quality", "explore", "patterns", "summary", "mean-pattern",
                   "virtual-images", "com", "pca", "rrvae", "angles", "manifold", "training",
                   "settings"]
    for anchor, body in sections[2:3] + sections[4:-1]:
        images = re.findall(r'src="data:image/png;base64,([^"]+)"', body)
        assert len(images) == 1, anchor
        assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "src=\"http" not in text and "<script src" not in text
    assert sorted(p.name for p in (out / "figures").iterdir()
                  if not p.name.startswith(".")) == sorted(
        ["mean_pattern.png", "virtual_images.png", "com.png", "pca.png", "rrvae.png",
         "manifold.png", "training.png", "angles.png", "chosen_patterns.png"])


def test_explorer_patterns_are_the_preprocessed_patterns_and_reconstructions(run, scan):
    """The explorer's 8-bit copies decode to numpy's preprocessing of the input (within
    half a quantisation step, or clipped at the scale's ends) and to the saved model's
    reconstructions of it."""
    from symbreak.analysis.explorer_stage import dequantise

    out, _, r = run
    stored = r["explorer_pattern"]
    stride = stored.attrs["stride"]
    assert stride == 1 and stored.shape == scan.scan_shape + (r.sizes["ky"],) * 2
    x, _ = preprocessed(scan, r.sizes["ky"])
    low, high = stored.attrs["low"], stored.attrs["high"]
    step = (high - low) / 255
    expected = np.clip(x, low, high)
    np.testing.assert_allclose(dequantise(stored.values, stored.attrs), expected,
                               atol=step / 2 + 1e-6)
    model = symbreak.RotationalVAE.load(out / "model")
    recon = np.clip(model.reconstruct(x.astype(np.float32)), low, high)
    np.testing.assert_allclose(dequantise(r["explorer_reconstruction"].values, stored.attrs),
                               recon, atol=step / 2 + 1e-4)
    np.testing.assert_allclose(r["explorer_x"].values, r["scan_x"].values)


def test_detector_images_carry_the_data_unit(run):
    r = run[2]  # float input without a beam normalisation: "intensity"
    assert r["bf"].attrs["units"] == r["adf"].attrs["units"] == "intensity"
    assert r["mean_pattern"].attrs["units"] == "intensity"
    assert "consistency" in r["history_train_loss"].attrs["long_name"]
    assert r["history_time"].attrs["units"] == "s"
    assert np.all(np.diff(r["history_time"].values) > 0)  # time since the start: grows


def test_com_threshold_reaches_the_com_stage(scan):
    """Dark-subtracted data (negative background): com_threshold=0 gives the COM of the
    patterns with negative pixels set to 0, as scipy finds it."""
    shifted = scan.replace(array=scan.to_numpy() - 5.0)
    result = symbreak.analyze(shifted, com_threshold=0, com_reference="center", epochs=1,
                              pca_components=2, manifold_size=2, progress=False)
    x = np.clip(shifted.to_numpy(), 0, None)
    cy, cx = scan.calibration.detector_center
    sampling = scan.calibration.angular_sampling[1]
    i, j = 3, 4
    com_y, com_x = ndimage.center_of_mass(x[i, j])
    assert result.com_x.values[i, j] == pytest.approx((com_x - cx) * sampling, abs=1e-4)
    assert result.com_y.values[i, j] == pytest.approx((com_y - cy) * sampling, abs=1e-4)
