"""Maps derived from a COM result: projected electric field, divergence, curl, iCOM.

Physics (thin specimen, phase-object approximation). The beam picks up the phase
``φ = σ V_p`` where ``V_p = ∫ V dz`` [V·Å] is the projected potential and
``σ = 2π m e λ / h²`` [rad / (V·Å)] the relativistic interaction constant. The COM of the
diffraction pattern is the mean transverse wave vector ``<k> = ∇φ / 2π`` [1/Å]
(Ehrenfest), so ``<k> = -(σ / 2π) E_p`` with the projected field
``E_p = -∇V_p = ∫ E dz`` [V]. Equivalently the deflection angle is
``θ = λ <k> = -e E_p / (p v)``. The COM points up the potential, i.e. towards the atoms,
and ``div E_p = ρ_p / ε0`` gives the projected charge density ``ρ_p`` [e/Å²]; in the same
(y down) scan frame the COM divergence is negative at the nuclei.
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr
from scipy import constants

from ..calibration import Calibration
from ..errors import CalibrationError, DataError, SettingsError
from .results import SCAN_DIMS, scan_spacing

_H, _E, _M0, _C = constants.h, constants.e, constants.m_e, constants.c
EPSILON0 = constants.epsilon_0  # F/m


def interaction_constant(energy: float) -> float:
    """Relativistic interaction constant σ = 2π m e λ / h² [rad / (V·Å)] at ``energy`` [eV]."""
    lam = Calibration(energy=energy).wavelength * 1e-10
    mass = _M0 * (1 + _E * energy / (_M0 * _C**2))
    return 2 * math.pi * mass * _E * lam / _H**2 * 1e-10


def _com_parts(com: xr.Dataset) -> tuple[np.ndarray, np.ndarray, str]:
    if not isinstance(com, xr.Dataset) or "com_x" not in com or "com_y" not in com:
        raise DataError("expected the xarray.Dataset returned by symbreak.com (com_x, com_y)")
    return com["com_y"].values, com["com_x"].values, com["com_x"].attrs.get("units", "px")


def _to_inverse_angstrom(values: np.ndarray, unit: str, energy: float | None) -> np.ndarray:
    if unit == "1/Å":
        return values
    if unit == "mrad":
        return values * 1e-3 / Calibration(energy=energy).wavelength
    raise CalibrationError(
        f"the electric field needs the COM in mrad or 1/Å, got {unit!r}; compute it with "
        "symbreak.com(data, units='1/A') on calibrated data (k_sampling or angular_sampling)"
    )


def electric_field(com: xr.Dataset, *, energy: float | None = None,
                   thickness: float | None = None) -> xr.Dataset:
    """Projected electric field from a COM result (thin-specimen approximation).

    Parameters
    ----------
    com
        Result of :func:`symbreak.com` with units "1/A" or "mrad".
    energy
        Beam energy [eV]; default from the calibration stored in ``com``.
    thickness
        Specimen thickness [Å]. Without it the projected field ``∫ E dz`` [V] is
        returned; with it the mean field ``∫ E dz / t`` [V/Å].

    Returns
    -------
    xarray.Dataset
        ``field_x``, ``field_y``, ``field_magnitude`` on (scan_y, scan_x).
    """
    com_y, com_x, unit = _com_parts(com)
    if energy is None:
        energy = _stored_energy(com)
    if thickness is not None and not (thickness > 0):
        raise SettingsError(f"thickness must be positive [Å], got {thickness!r}")
    ky = _to_inverse_angstrom(com_y, unit, energy)
    kx = _to_inverse_angstrom(com_x, unit, energy)
    scale = -2 * math.pi / interaction_constant(energy) / (thickness or 1.0)
    out_unit = "V" if thickness is None else "V/Å"
    fy, fx = scale * ky, scale * kx
    attrs = {"units": out_unit}
    return xr.Dataset(
        {"field_x": (SCAN_DIMS, fx, attrs), "field_y": (SCAN_DIMS, fy, attrs),
         "field_magnitude": (SCAN_DIMS, np.hypot(fx, fy), attrs)},
        coords={d: com[d] for d in SCAN_DIMS},
        attrs={**com.attrs, "energy_eV": float(energy), "thickness_A": thickness or 0.0,
               "field": "projected (integrated over z)" if thickness is None else "mean over t"},
    )


def _stored_energy(obj: xr.Dataset) -> float:
    energy = json.loads(obj.attrs.get("calibration", "{}")).get("energy")
    if energy is None:
        raise CalibrationError(
            "the beam energy is unknown; pass energy=... [eV] or calibrate the data first"
        )
    return float(energy)


def _vector(obj: xr.Dataset) -> tuple[np.ndarray, np.ndarray, str]:
    for y, x in (("com_y", "com_x"), ("field_y", "field_x")):
        if isinstance(obj, xr.Dataset) and y in obj and x in obj:
            return obj[y].values, obj[x].values, obj[x].attrs.get("units", "")
    raise DataError("expected a result of symbreak.com or electric_field (com_* or field_*)")


def _check_2d(values: np.ndarray, what: str) -> None:
    """Central differences need at least 2 scan positions along both axes."""
    if min(values.shape) < 2:
        ny, nx = values.shape
        raise DataError(
            f"the {what} needs at least 2 scan positions along both axes, the scan is {ny} x "
            f"{nx}; for a line scan take the derivative along the line, e.g. "
            "np.gradient(com['com_x'].values, axis=1)"
        )


def divergence(vector: xr.Dataset) -> xr.DataArray:
    """Divergence ∂v_x/∂x + ∂v_y/∂y over the scan (central differences, y down); NaN
    next to positions whose COM is NaN (e.g. all-zero patterns).

    For an electric field in V (projected) the result is in V/Å; ``charge_density``
    converts it to e/Å². Negative at atoms for a COM field (see module docstring).
    """
    vy, vx, unit = _vector(vector)
    _check_2d(vy, "divergence")
    (sy, sx), sunit = scan_spacing(vector)
    div = np.gradient(vx, sx, axis=1) + np.gradient(vy, sy, axis=0)
    return xr.DataArray(div, dims=SCAN_DIMS, coords={d: vector[d] for d in SCAN_DIMS},
                        name="divergence", attrs={"units": f"{unit}/{sunit}"})


def curl(vector: xr.Dataset) -> xr.DataArray:
    """z component of the curl, ∂v_y/∂x - ∂v_x/∂y (y down); ~0 for a well-calibrated
    scan rotation, so it is a quality check."""
    vy, vx, unit = _vector(vector)
    _check_2d(vy, "curl")
    (sy, sx), sunit = scan_spacing(vector)
    c = np.gradient(vy, sx, axis=1) - np.gradient(vx, sy, axis=0)
    return xr.DataArray(c, dims=SCAN_DIMS, coords={d: vector[d] for d in SCAN_DIMS},
                        name="curl", attrs={"units": f"{unit}/{sunit}"})


def charge_density(field: xr.Dataset) -> xr.DataArray:
    """Projected charge density ρ_p = ε0 div E_p [e/Å²] from a projected field in V."""
    if "field_x" not in field or field["field_x"].attrs.get("units") != "V":
        raise DataError("charge_density needs electric_field(com) without thickness (units V)")
    div = divergence(field)
    if div.attrs["units"] != "V/Å":
        raise CalibrationError("charge_density needs the scan step in Å (calibrate scan_step)")
    rho = div * (EPSILON0 * 1e-10 / _E)  # V/Å * C/(V·Å) -> C/Å² -> e/Å²
    return rho.rename("charge_density").assign_attrs(units="e/Å²")


def icom(vector: xr.Dataset, *, boundary: str = "mirror") -> xr.DataArray:
    """Integrated COM: the scalar whose gradient best fits the vector field (Fourier).

    Solves ∇φ = v in the least-squares sense with FFTs; the k = 0 term (a constant) is
    set so that φ has zero mean; NaN COM values (undefined patterns) count as 0. Works
    on line scans (1 x N, N x 1). ``boundary="periodic"`` assumes a periodic scan;
    ``"mirror"`` extends the field by even reflection of φ (no wrap-around jumps).
    For a COM in 1/Å on a scan in Å the result is the phase 2π ∫ <k>·dr [rad] (iDPC).
    """
    if boundary not in ("mirror", "periodic"):
        raise SettingsError(f"boundary must be 'mirror' or 'periodic', got {boundary!r}")
    vy, vx, unit = _vector(vector)
    (sy, sx), sunit = scan_spacing(vector)
    ny, nx = vy.shape
    vy, vx = np.nan_to_num(vy), np.nan_to_num(vx)
    if boundary == "mirror":
        vx = np.concatenate([vx, -vx[:, ::-1]], axis=1)
        vx = np.concatenate([vx, vx[::-1]], axis=0)
        vy = np.concatenate([vy, vy[:, ::-1]], axis=1)
        vy = np.concatenate([vy, -vy[::-1]], axis=0)
    qy = np.fft.fftfreq(vy.shape[0], sy)[:, None]
    qx = np.fft.fftfreq(vy.shape[1], sx)[None, :]
    q2 = qx**2 + qy**2
    q2[0, 0] = 1.0
    phi_q = (qx * np.fft.fft2(vx) + qy * np.fft.fft2(vy)) / (2j * np.pi * q2)
    phi_q[0, 0] = 0.0
    phi = np.fft.ifft2(phi_q).real[:ny, :nx]
    phi -= phi.mean()
    if unit == "1/Å" and sunit == "Å":
        phi, out_unit = 2 * np.pi * phi, "rad"
    else:
        out_unit = f"{unit}·{sunit}"
    return xr.DataArray(phi, dims=SCAN_DIMS, coords={d: vector[d] for d in SCAN_DIMS},
                        name="icom", attrs={"units": out_unit, "boundary": boundary})
