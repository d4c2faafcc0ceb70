"""The fitted rrVAE on dipole patterns with known angle and content (default recipe)."""

import numpy as np

from vae_synthetic import circular_agreement, circular_offset, dipole_patterns, train_dipoles


def _circular_correlation(a, b):
    """Jammalamadaka-SenGupta circular correlation coefficient."""
    sa = np.sin(a - np.angle(np.mean(np.exp(1j * a))))
    sb = np.sin(b - np.angle(np.mean(np.exp(1j * b))))
    return float(np.sum(sa * sb) / np.sqrt(np.sum(sa ** 2) * np.sum(sb ** 2)))


def test_angle_latent_recovers_true_angle(fitted, dipole_set):
    ds = fitted.transform(dipole_set["X"])
    angle = ds.latent_angle.values
    assert circular_agreement(angle, dipole_set["angle"]) > 0.95
    assert _circular_correlation(angle, dipole_set["angle"]) > 0.95
    assert np.all(angle > -np.pi) and np.all(angle <= np.pi)


def test_content_latent_tracks_content_not_angle(fitted, dipole_set):
    z = fitted.transform(dipole_set["X"]).latent_z.values[0]
    assert abs(np.corrcoef(z, dipole_set["content"])[0, 1]) > 0.9
    for f in (np.cos, np.sin):
        assert abs(np.corrcoef(z, f(dipole_set["angle"]))[0, 1]) < 0.1


def test_rotating_inputs_shifts_angle_and_keeps_content(fitted, dipole_set):
    """Tolerances: angle shift within 0.05 rad; content moves < 0.1 of its spread."""
    base = fitted.transform(dipole_set["X"])
    delta = 1.0
    turned = fitted.transform(dipole_patterns(dipole_set["angle"] + delta, dipole_set["content"]))
    offset = circular_offset(turned.latent_angle.values, base.latent_angle.values)
    assert abs(offset - delta) < 0.05
    assert circular_agreement(turned.latent_angle.values - base.latent_angle.values, delta) > 0.98
    z0, z1 = base.latent_z.values[0], turned.latent_z.values[0]
    assert np.mean(np.abs(z1 - z0)) < 0.1 * np.std(z0)


def test_transform_of_a_scan_gives_maps(fitted, dipole_set):
    X = dipole_set["X"][:600].reshape(20, 30, 32, 32)
    ds = fitted.transform(X)
    assert ds.latent_angle.dims == ("scan_y", "scan_x")
    assert ds.latent_z.dims == ("latent", "scan_y", "scan_x")
    assert ds.latent_angle.attrs["units"] == "rad"
    flat = fitted.transform(dipole_set["X"][:600])
    np.testing.assert_array_equal(ds.latent_angle.values.ravel(), flat.latent_angle.values)
    diff = ds.latent_angle_unwrapped.values - ds.latent_angle.values
    np.testing.assert_allclose(np.cos(diff), 1, atol=1e-9)
    recon = fitted.reconstruct(X)
    assert recon.shape == X.shape
    mse = ((recon - X) ** 2).mean(axis=(2, 3))
    np.testing.assert_allclose(ds.reconstruction_error.values, mse, rtol=1e-4, atol=1e-7)
    assert mse.mean() < 0.1 * X.var()


def test_fitted_decode_manifold_traversal(fitted, dipole_set):
    z = np.array([0.3], dtype=np.float32)
    base = fitted.decode(z)
    np.testing.assert_allclose(fitted.decode(z, angle=np.pi / 2), np.rot90(base, k=-1), atol=1e-5)
    trav = fitted.traversal("angle", n=4)
    np.testing.assert_allclose(trav.values[2], fitted.decode(z * 0, 0.0), atol=1e-6)
    lat = fitted.traversal(0, n=5)
    assert lat.shape == (5, 32, 32) and lat.value.values[0] == -2.0
    assert fitted.history_[-1]["val_loss"] >= fitted.best_validation_loss_


def test_translation_latents_follow_shifts():
    """Shift latents = k * true shift + R(angle) c0: the rVAE may pick a rotation centre c0
    off the disk centre (a true degeneracy), so the angle-locked part is regressed out."""
    rng = np.random.default_rng(11)
    n = 700
    angle = rng.uniform(-np.pi, np.pi, n)
    shift = rng.uniform(-2.5, 2.5, (n, 2))
    X = dipole_patterns(angle, np.full(n, 0.5), shift=shift)
    from symbreak import RotationalVAE

    model = RotationalVAE(latent_dim=1, translation=True, epochs=25, random_state=0).fit(X)
    latent = model.transform(X).latent_shift
    assert latent.dims == ("shift", "pattern") and latent.attrs["units"] == "px"
    design = np.column_stack([shift, np.cos(angle), np.sin(angle), np.ones(n)])
    for i, axis in enumerate(("y", "x")):
        values = latent.sel(shift=axis).values
        coef, *_ = np.linalg.lstsq(design, values, rcond=None)
        r2 = 1 - np.var(values - design @ coef) / np.var(values)
        assert r2 > 0.95, (axis, r2)
        assert 0.6 < coef[i] < 1.2 and abs(coef[1 - i]) < 0.1, (axis, coef)
    # moving every input by (2, -1) px moves the shift latents the same way
    still = dipole_patterns(angle, np.full(n, 0.5))
    moved = dipole_patterns(angle, np.full(n, 0.5), shift=np.tile([[2.0, -1.0]], (n, 1)))
    change = (model.transform(moved).latent_shift - model.transform(still).latent_shift
              ).mean("pattern").values
    cosine = change @ [2.0, -1.0] / np.linalg.norm(change) / np.sqrt(5)
    assert cosine > 0.98 and 0.6 < np.linalg.norm(change) / np.sqrt(5) < 1.4, change


def test_cpu_fit_is_deterministic():
    a, X = train_dipoles(latent_dim=1, epochs=2, n=200, random_state=5)
    b, _ = train_dipoles(latent_dim=1, epochs=2, n=200, random_state=5)
    assert [h["val_loss"] for h in a.history_] == [h["val_loss"] for h in b.history_]
    for (k, v), (_, w) in zip(a.model_.state_dict().items(), b.model_.state_dict().items()):
        assert np.array_equal(v.numpy(), w.numpy()), k
    c, _ = train_dipoles(latent_dim=1, epochs=2, n=200, random_state=6)
    assert c.history_[-1]["val_loss"] != a.history_[-1]["val_loss"]


def test_dataset4d_and_dask_inputs(fitted, dipole_set):
    import dask.array as da

    from symbreak import Calibration, Dataset4D

    X = dipole_set["X"][:600].reshape(20, 30, 32, 32)
    data = Dataset4D(array=da.from_array(X, chunks=(5, 30, 32, 32)),
                     calibration=Calibration(scan_step=(0.2, 0.25)))
    ds = fitted.transform(data)
    np.testing.assert_allclose(ds.scan_x.values[:3], [0.0, 0.25, 0.5])
    assert ds.scan_y.attrs["units"] == "Å"
    np.testing.assert_array_equal(ds.latent_z.values, fitted.transform(X).latent_z.values)
