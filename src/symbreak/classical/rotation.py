"""Scan rotation and flip between the scan grid and the detector, and finding them.

Convention (the same as :mod:`symbreak.calibration`)
------------------------------------------------------
Both frames are images with pixel (0, 0) top-left, x to the right and y *down*.
``scan_rotation`` θ is the angle from the scan x axis to the detector kx axis, counted
counter-clockwise *as displayed* (on screen, with y down). ``scan_flip`` mirrors the
scan y axis before rotating. A deflection ``v = (v_x, v_y)`` in scan coordinates is seen
on the detector as ``d = R(θ) F v`` with, in (x, y) component order,

    R(θ) = [[cos θ, -sin θ], [sin θ, cos θ]],   F = diag(1, -1) if flip else identity,

so ``d_x = cos θ v_x - sin θ v_y``. Correcting a measured COM field applies the inverse,
``v = F R(-θ) d``. Example: θ = 90° means that a deflection towards the top of the scan
image (``v_y < 0``) moves the pattern along +kx.

The correct (θ, flip) makes the COM field of a thin specimen curl free, because it is the
gradient of the projected potential. Minimum curl fixes θ up to 180°; the remaining sign
is chosen so that the COM points *towards* the atoms (for positively charged nuclei the
beam is attracted): the divergence of the corrected COM field is then strongly negative
at atom sites and weakly positive between them, i.e. its skewness is negative.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import DataError, SettingsError


def rotation_matrix(rotation: float, flip: bool = False) -> np.ndarray:
    """The matrix ``R(θ) F`` taking a scan-frame vector (x, y) to the detector frame."""
    c, s = np.cos(rotation), np.sin(rotation)
    f = np.diag([1.0, -1.0]) if flip else np.eye(2)
    return np.array([[c, -s], [s, c]]) @ f


def detector_to_scan(com_y: np.ndarray, com_x: np.ndarray, rotation: float,
                     flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Express a detector-frame vector field in the scan frame: ``v = F R(-θ) d``.

    Parameters
    ----------
    com_y, com_x
        Detector-frame components (ky, kx) [any unit].
    rotation
        Scan rotation θ [rad]; see the module docstring.
    flip
        Scan flip.

    Returns
    -------
    (v_y, v_x)
        Scan-frame components, same unit.
    """
    inv = np.linalg.inv(rotation_matrix(rotation, flip))
    v_x = inv[0, 0] * com_x + inv[0, 1] * com_y
    v_y = inv[1, 0] * com_x + inv[1, 1] * com_y
    return v_y, v_x


@dataclasses.dataclass(frozen=True)
class RotationFit:
    """Result of :func:`find_rotation`.

    Attributes
    ----------
    rotation
        Scan rotation θ [rad] in [0, 2π).
    flip
        Scan flip.
    angles
        Angles [rad] at which the curves are sampled.
    curl
        Mean squared curl of the corrected field per angle, for flip False / True, shape
        (2, n_angles), relative to the mean squared field gradient.
    divergence_skew
        Skewness of the divergence of the corrected field per angle, shape (2, n_angles).
    curl_ratio
        Residual relative curl at the solution divided by that of the other flip (< 1
        means the flip is well determined; near 1 means it is not).
    """

    rotation: float
    flip: bool
    angles: np.ndarray
    curl: np.ndarray
    divergence_skew: np.ndarray
    curl_ratio: float


def _gradients(field: np.ndarray, step: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(d/dy, d/dx) by central differences, y along axis 0 (down)."""
    gy, gx = np.gradient(field, step[0], step[1])
    return gy, gx


def _linear_parts(com_y: np.ndarray, com_x: np.ndarray, step: tuple[float, float], flip: bool):
    """curl = c P + s Q and div = c U + s W for the field corrected by θ (c=cos, s=sin)."""
    f = -1.0 if flip else 1.0
    dyA, dxA = _gradients(com_x, step)  # A = d_x
    dyB, dxB = _gradients(com_y, step)  # B = d_y
    curl_p, curl_q = f * dxB - dyA, -f * dxA - dyB
    div_u, div_w = dxA + f * dyB, dxB - f * dyA
    return curl_p, curl_q, div_u, div_w


def _skew(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    centred = values - values.mean()
    sd = np.sqrt(np.mean(centred**2))
    return float(np.mean(centred**3) / sd**3) if sd > 0 else 0.0


def find_rotation(com_y: np.ndarray, com_x: np.ndarray, *,
                  scan_step: tuple[float, float] = (1.0, 1.0), flip: bool | None = None,
                  n_angles: int = 360) -> RotationFit:
    """Find the scan rotation and flip that make the COM field curl free.

    For each flip the mean squared curl of the corrected field is a quadratic form in
    (cos θ, sin θ), so its minimum is found exactly as the eigenvector of a 2x2 matrix;
    the curves on ``n_angles`` angles are returned for plotting. The 180° ambiguity is
    resolved by requiring a negative skewness of the divergence (COM points towards the
    atoms; see the module docstring).

    Parameters
    ----------
    com_y, com_x
        COM field measured on the detector (ky, kx components), shape (scan_y, scan_x),
        relative to the undeflected beam [any unit]. NaN positions are ignored.
    scan_step
        Scan step (y, x) [Å or px]; matters when the step is not square.
    flip
        Known flip, or None to try both.
    n_angles
        Number of angles in [0, 2π) for the returned curves.

    Returns
    -------
    RotationFit
    """
    com_y = np.asarray(com_y, dtype=float)
    com_x = np.asarray(com_x, dtype=float)
    if com_y.shape != com_x.shape or com_y.ndim != 2 or min(com_y.shape) < 3:
        raise DataError(
            "find_rotation needs two COM maps of the same shape (scan_y, scan_x), each at "
            f"least 3 x 3, got {com_y.shape} and {com_x.shape}"
        )
    if flip not in (None, True, False):
        raise SettingsError(f"flip must be None, True or False, got {flip!r}")
    angles = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    trig = np.stack([np.cos(angles), np.sin(angles)])
    grad_scale = None
    curves, skews, solutions = np.full((2, n_angles), np.nan), np.full((2, n_angles), np.nan), {}
    for i, fl in enumerate((False, True)):
        p, q, u, w = _linear_parts(com_y, com_x, scan_step, fl)
        ok = np.isfinite(p) & np.isfinite(q) & np.isfinite(u) & np.isfinite(w)
        if ok.sum() < 4:
            raise DataError("find_rotation: fewer than 4 positions with a finite COM gradient")
        p, q, u, w = p[ok], q[ok], u[ok], w[ok]
        if grad_scale is None:
            grad_scale = np.mean(p**2 + q**2 + u**2 + w**2) / 2 or 1.0
        m = np.array([[np.mean(p * p), np.mean(p * q)], [np.mean(p * q), np.mean(q * q)]])
        curves[i] = np.einsum("ia,ij,ja->a", trig, m, trig) / grad_scale
        skews[i] = [_skew(c * u + s * w) for c, s in trig.T]
        evals, evecs = np.linalg.eigh(m)
        c, s = evecs[:, 0]
        if _skew(c * u + s * w) > 0:
            c, s = -c, -s
        solutions[fl] = (float(np.arctan2(s, c) % (2 * np.pi)), float(evals[0]) / grad_scale)
    if flip is None:
        flip = solutions[True][1] < solutions[False][1]
    other = solutions[not flip][1]
    ratio = max(solutions[flip][1], 0.0) / other if other > 0 else 1.0
    return RotationFit(rotation=solutions[flip][0], flip=bool(flip), angles=angles,
                       curl=curves, divergence_skew=skews, curl_ratio=float(ratio))
