"""Hand-over to and from py4DSTEM DataCubes, field by field.

The rotation mapping is checked against py4DSTEM's own formulas (no py4DSTEM needed);
the DataCube tests need py4DSTEM (NumPy < 2), so they run in the field environment
(``tests/test_field_env.py``) and skip elsewhere.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import symbreak
from symbreak import Calibration, Dataset4D
from symbreak.classical.rotation import rotation_matrix
from symbreak.interop.py4dstem import qr_rotflip, scan_rotflip

REQUIRED = bool(os.environ.get("SYMBREAK_REQUIRE_INTEROP"))


def _py4dstem():
    if REQUIRED:  # the field environment: must be there
        import py4DSTEM
        return py4DSTEM
    return pytest.importorskip("py4DSTEM", reason="py4DSTEM (NumPy < 2) is in the field "
                               "environment: make fieldenv")


def _q_to_r(d_rows_cols: np.ndarray, qr_degrees: float, flip: bool) -> np.ndarray:
    """py4DSTEM's detector -> scan map, as in ``BraggVectors`` calibration (rotate=True):
    R(φ) applied to (qx, qy), or to (qy, qx) with QR_flip; (x, y) = (rows, columns)."""
    phi = math.radians(qr_degrees)
    r = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
    return r @ (d_rows_cols[::-1] if flip else d_rows_cols)


@pytest.mark.parametrize("theta", [0.0, 0.3, 1.9, -2.4])
@pytest.mark.parametrize("flip", [False, True])
def test_rotation_and_flip_map_to_py4dstem_convention(theta, flip):
    v_xy = np.array([0.7, -1.3])  # a scan-frame vector (x right, y down)
    d_xy = rotation_matrix(theta, flip) @ v_xy  # symbreak: where the detector sees it
    qr, qr_flip = qr_rotflip(theta, flip)
    v_rows_cols = _q_to_r(d_xy[::-1], qr, qr_flip)
    np.testing.assert_allclose(v_rows_cols, v_xy[::-1], atol=1e-12)
    back = scan_rotflip(qr, qr_flip)
    assert back[1] == flip and math.isclose(math.remainder(back[0] - theta, 2 * math.pi), 0,
                                            abs_tol=1e-12)


CAL = Calibration(energy=300e3, semiangle=21.4, scan_step=(0.25, 0.25),
                  k_sampling=(0.02, 0.02), detector_center=(3.5, 4.0), scan_rotation=0.3,
                  scan_flip=True, sources={"energy": "user", "semiangle": "file",
                                           "scan_step": "file", "k_sampling": "file",
                                           "detector_center": "user",
                                           "scan_rotation": "user", "scan_flip": "user"})


def _data() -> Dataset4D:
    return Dataset4D(array=np.arange(2 * 3 * 8 * 9, dtype=np.uint16).reshape(2, 3, 8, 9),
                     calibration=CAL)


def test_to_py4dstem_sets_every_field():
    _py4dstem()
    cube = symbreak.to_py4dstem(_data())
    c = cube.calibration
    assert (c.get_R_pixel_size(), c.get_R_pixel_units()) == (0.25, "A")
    assert (c.get_Q_pixel_size(), c.get_Q_pixel_units()) == (0.02, "A^-1")
    assert tuple(c.get_origin()) == (3.5, 4.0)  # (qx0, qy0) = (ky, kx) px
    assert c.get_convergence_semiangle_mrad() == 21.4
    assert c.get_QR_flip() is True
    assert c.get_QR_rotation_degrees() == pytest.approx(90 - math.degrees(0.3))
    assert c["energy"] == 300e3
    np.testing.assert_array_equal(cube.data, _data().array)
    assert cube.data.shape == (2, 3, 8, 9)  # py4DSTEM's (Rx, Ry, Qx, Qy) is ours


def test_round_trip_in_memory_and_through_py4dstem_files(tmp_path):
    py4DSTEM = _py4dstem()
    data = _data()
    cube = symbreak.to_py4dstem(data)
    assert symbreak.from_py4dstem(cube).calibration == CAL
    py4DSTEM.save(str(tmp_path / "c.h5"), cube, mode="o")
    read = py4DSTEM.read(str(tmp_path / "c.h5"))
    back = symbreak.as_dataset(read)
    assert back.calibration == CAL
    assert back.calibration.sources["scan_rotation"] == "user"
    np.testing.assert_array_equal(back.to_numpy(), data.array)


def test_anisotropic_values_come_back_from_the_stored_copy():
    _py4dstem()
    cal = CAL.replace(scan_step=(0.25, 0.3), source="file")
    back = symbreak.from_py4dstem(symbreak.to_py4dstem(_data().replace(calibration=cal)))
    assert back.calibration.scan_step == (0.25, 0.3)  # py4DSTEM holds one R pixel size


def test_values_set_in_py4dstem_win():
    _py4dstem()
    cube = symbreak.to_py4dstem(_data())
    c = cube.calibration
    c.set_Q_pixel_size(1.5)
    c.set_Q_pixel_units("mrad")
    c.set_origin((4.0, 4.5))
    c.set_QR_rotflip_degrees((10.0, False))
    cal = symbreak.from_py4dstem(cube).calibration
    assert cal.angular_sampling == (1.5, 1.5) and cal.sources["angular_sampling"] == "file"
    assert cal.detector_center == (4.0, 4.5)
    assert cal.scan_rotation == pytest.approx(math.radians(10)) and cal.scan_flip is False
    assert cal.energy == 300e3 and cal.sources["energy"] == "user"


def test_a_cube_made_in_py4dstem_defaults_stay_unknown():
    py4DSTEM = _py4dstem()
    cube = py4DSTEM.DataCube(data=np.ones((2, 3, 8, 9), dtype=np.float32))
    cal = symbreak.as_dataset(cube).calibration
    assert cal == Calibration()  # pixels and QR_flip=False are defaults, not values
    cube.calibration.set_R_pixel_size(0.05)
    cube.calibration.set_R_pixel_units("nm")
    assert symbreak.as_dataset(cube).calibration.scan_step == pytest.approx((0.5, 0.5))


def test_memory_maps_are_handed_over_without_a_copy(tmp_path):
    _py4dstem()
    np.save(tmp_path / "d.npy", _data().array)
    data = symbreak.load(tmp_path / "d.npy")
    cube = symbreak.to_py4dstem(data)
    assert isinstance(cube.data, np.memmap)
    assert np.shares_memory(cube.data, data.array)
