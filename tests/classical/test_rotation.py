import numpy as np
import pytest

import symbreak
from symbreak.classical import com, divergence, find_rotation, rotation_matrix
from symbreak.errors import DataError

from classical_synthetic import atom_potential, random_atoms, shifted_disks, to_detector


def test_matrix_convention_example():
    # θ = 90°: a deflection towards the top of the scan image (v_y < 0) moves along +kx
    d = rotation_matrix(np.pi / 2) @ np.array([0.0, -1.0])
    np.testing.assert_allclose(d, [1.0, 0.0], atol=1e-15)
    # flip mirrors scan y before rotating
    np.testing.assert_allclose(rotation_matrix(0.0, True) @ [0.0, 1.0], [0.0, -1.0])
    np.testing.assert_allclose(rotation_matrix(0.4, True),
                               rotation_matrix(0.4) @ np.diag([1.0, -1.0]))


@pytest.mark.parametrize("degrees, flip", [(17, False), (17, True), (197, False), (-123, True)])
def test_find_rotation_recovers_rotation_and_flip(degrees, flip):
    _, gy, gx = atom_potential((40, 44), random_atoms(14, 40, seed=3))
    noise = np.random.default_rng(5).normal(0, 0.01 * np.abs(gx).max(), (2, 40, 44))
    dy, dx = to_detector(gy, gx, np.deg2rad(degrees), flip)
    fit = find_rotation(dy + noise[0], dx + noise[1])
    error = (np.rad2deg(fit.rotation) - degrees + 180) % 360 - 180
    assert abs(error) < 0.5
    assert fit.flip is flip
    assert fit.curl_ratio < 0.1
    assert fit.curl.shape == (2, 360) and fit.divergence_skew.shape == (2, 360)


def test_find_rotation_with_known_flip_and_anisotropic_step():
    step = (0.5, 0.2)
    atoms = [(7.0, 5.0), (20.0, 30.0), (12.0, 22.0)]
    _, gy, gx = atom_potential((30, 40), atoms, width=3.0)
    # gradient w.r.t. physical coordinates: d/dy_phys = d/dy_px / step_y
    dy, dx = to_detector(gy / step[0], gx / step[1], np.deg2rad(40), False)
    fit = find_rotation(dy, dx, scan_step=step, flip=False)
    assert np.rad2deg(fit.rotation) == pytest.approx(40, abs=0.5)


def test_divergence_negative_at_atoms():
    # COM points towards the atoms (up the potential gradient)
    atoms = [(10.0, 10.0), (25.0, 30.0)]
    _, gy, gx = atom_potential((36, 40), atoms)
    data = shifted_disks(gy, gx, (32, 32))
    result = com(symbreak.as_dataset(data, scan_step=0.2))
    div = divergence(result)
    assert div.attrs["units"] == "px/Å"
    for ay, ax in atoms:
        assert div.values[int(ay), int(ax)] < -0.5 * abs(div.values).max()
    assert result.com_x.values[10, 6] > 0 and result.com_x.values[10, 14] < 0


def test_com_auto_rotation_end_to_end():
    atoms = random_atoms(8, 24, seed=11)
    _, gy, gx = atom_potential((24, 24), atoms)
    dy, dx = to_detector(gy, gx, np.deg2rad(17), True)
    data = shifted_disks(dy, dx, (32, 32))
    result = com(data, rotation="auto")
    assert np.rad2deg(result.attrs["scan_rotation"]) == pytest.approx(17, abs=0.5)
    assert result.attrs["scan_flip"] is True
    assert result.attrs["rotation_source"].startswith("auto")
    curl = result.rotation_curl.sel(rotation_flip=True)
    best = float(curl.rotation_angle[int(np.argmin(curl.values))])
    assert abs((np.degrees(best) - 17 + 90) % 180 - 90) < 1.0  # the curve's minimum too
    assert float(result.rotation_curl.sel(rotation_flip=False).min()) > 10 * float(curl.min())
    np.testing.assert_allclose(result.com_x.values, gx - gx.mean(), atol=2e-3)
    np.testing.assert_allclose(result.com_y.values, gy - gy.mean(), atol=2e-3)


def test_find_rotation_bad_input():
    with pytest.raises(DataError):
        find_rotation(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(DataError):
        find_rotation(np.zeros((4, 4)), np.zeros((4, 5)))


def test_auto_rotation_warns_on_noise():
    noise = np.random.default_rng(0).poisson(50, (12, 12, 16, 16)).astype(float)
    with pytest.warns(RuntimeWarning, match="unreliable"):
        com(noise, rotation="auto")
