import numpy as np
import pytest
import xarray as xr

import symbreak
from symbreak.classical import (charge_density, com, curl, divergence, electric_field, icom,
                                interaction_constant)
from symbreak.errors import CalibrationError, DataError, SettingsError

from classical_synthetic import atom_potential, shifted_disks


def vector_dataset(vy, vx, step=1.0, unit="px", scan_unit="px"):
    ny, nx = vy.shape
    coords = {"scan_y": ("scan_y", np.arange(ny) * step, {"units": scan_unit}),
              "scan_x": ("scan_x", np.arange(nx) * step, {"units": scan_unit})}
    return xr.Dataset({"com_x": (("scan_y", "scan_x"), vx, {"units": unit}),
                       "com_y": (("scan_y", "scan_x"), vy, {"units": unit})}, coords=coords)


@pytest.mark.parametrize("energy, sigma", [(300e3, 6.526e-4), (200e3, 7.288e-4),
                                           (100e3, 9.244e-4)])
def test_interaction_constant_matches_kirkland(energy, sigma):
    # Kirkland, Advanced Computing in Electron Microscopy, 2nd ed., table of sigma(E)
    assert interaction_constant(energy) == pytest.approx(sigma, rel=2e-3)


def test_icom_periodic_recovers_phase_exactly():
    n, step = 40, 0.5
    y, x = np.indices((n, n)) * step
    size = n * step
    phase = np.sin(2 * np.pi * x / size) * np.cos(4 * np.pi * y / size)
    gx = 2 * np.pi / size * np.cos(2 * np.pi * x / size) * np.cos(4 * np.pi * y / size)
    gy = -4 * np.pi / size * np.sin(2 * np.pi * x / size) * np.sin(4 * np.pi * y / size)
    result = icom(vector_dataset(gy, gx, step), boundary="periodic")
    np.testing.assert_allclose(result.values, phase - phase.mean(), atol=1e-12)


def test_icom_mirror_handles_non_periodic_phase():
    y, x = np.indices((40, 48)) * 0.5
    phase = np.exp(-((x - 6) ** 2 + (y - 12) ** 2) / 8) + 0.05 * x - 0.02 * y
    gy, gx = np.gradient(phase, 0.5)
    mirror = icom(vector_dataset(gy, gx, 0.5), boundary="mirror").values
    periodic = icom(vector_dataset(gy, gx, 0.5), boundary="periodic").values
    span = np.ptp(phase)
    assert np.abs(mirror - (phase - phase.mean())).max() < 0.03 * span
    assert np.abs(periodic - (phase - phase.mean())).max() > 0.2 * span


def test_icom_phase_units_and_sign():
    # COM in 1/Å on a scan in Å: phase = 2π ∫ k·dr, peaked where COM converges
    _, gy, gx = atom_potential((32, 32), [(16.0, 16.0)], width=3.0)
    result = icom(vector_dataset(0.01 * gy, 0.01 * gx, 1.0, "1/Å", "Å"), boundary="periodic")
    assert result.attrs["units"] == "rad"
    assert np.unravel_index(result.values.argmax(), result.shape) == (16, 16)
    expected = 2 * np.pi * 0.01 * _
    np.testing.assert_allclose(result.values - result.values.mean(),
                               expected - expected.mean(), atol=5e-3 * expected.max())


def test_electric_field_inverts_the_phase_object_relation():
    energy, step = 80e3, 0.1
    sigma = interaction_constant(energy)
    # projected potential 20 * gaussian [V·Å]
    _, gy, gx = atom_potential((30, 30), [(15.0, 15.0)], width=4.0)
    grad_y, grad_x = 20.0 * gy / step, 20.0 * gx / step  # [V]
    k_y, k_x = sigma / (2 * np.pi) * grad_y, sigma / (2 * np.pi) * grad_x  # COM [1/Å]
    ds = vector_dataset(k_y, k_x, step, "1/Å", "Å")
    ds.attrs["calibration"] = '{"energy": 80000.0}'
    field = electric_field(ds)
    np.testing.assert_allclose(field.field_x.values, -grad_x, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(field.field_y.values, -grad_y, rtol=1e-10, atol=1e-10)
    assert field.field_x.attrs["units"] == "V"
    thick = electric_field(ds, thickness=5.0)
    np.testing.assert_allclose(thick.field_x.values, -grad_x / 5.0, rtol=1e-10)
    assert thick.field_x.attrs["units"] == "V/Å"
    rho = charge_density(field)
    assert rho.attrs["units"] == "e/Å²"
    assert rho.values[15, 15] > 0  # positive charge where the potential peaks


def test_electric_field_from_mrad_com_and_errors():
    data = shifted_disks(np.zeros((4, 4)), np.linspace(-1, 1, 16).reshape(4, 4))
    ds = symbreak.as_dataset(data, energy=200e3, angular_sampling=0.5, scan_step=0.2)
    mrad = electric_field(com(ds, units="mrad"))
    inv = electric_field(com(ds, units="1/A"))
    np.testing.assert_allclose(mrad.field_x.values, inv.field_x.values, rtol=1e-10)
    with pytest.raises(CalibrationError):
        electric_field(com(ds))  # px: no physical angle
    with pytest.raises(CalibrationError):
        electric_field(com(symbreak.as_dataset(data, angular_sampling=0.5), units="mrad"))
    with pytest.raises(SettingsError):
        electric_field(com(ds, units="mrad"), thickness=-1)
    with pytest.raises(DataError):
        electric_field(xr.Dataset())


def test_curl_and_divergence_of_analytic_fields():
    y, x = np.indices((20, 24), dtype=float) * 0.5
    rotational = vector_dataset(x - 6, -(y - 5), 0.5)  # v = (-(y-5), x-6): curl 2
    np.testing.assert_allclose(curl(rotational).values, 2.0, atol=1e-12)
    np.testing.assert_allclose(divergence(rotational).values, 0.0, atol=1e-12)
    radial = vector_dataset(y, x, 0.5)
    np.testing.assert_allclose(divergence(radial).values, 2.0, atol=1e-12)
    np.testing.assert_allclose(curl(radial).values, 0.0, atol=1e-12)
    with pytest.raises(SettingsError):
        icom(radial, boundary="zero")
