"""Detector geometry: the centre of the undeflected beam and radial masks around it.

Radii are given in detector pixels (``units="px"``), in mrad (needs
``Calibration.angular_sampling``) or in Å^-1 (needs ``Calibration.k_sampling``).
An annulus ``(inner, outer)`` holds the pixels with ``inner <= r < outer``, where ``r``
is the distance of the pixel centre from the detector centre; a disk of radius ``R`` is
the annulus ``(0, R)``. Pixel (0, 0) is top-left, ky runs down and kx right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..calibration import Calibration
from ..errors import CalibrationError, SettingsError
from .settings import RADIUS_UNITS


def pixel_sampling(calibration: Calibration, units: str) -> tuple[float, float]:
    """Size of one detector pixel (ky, kx) in ``units`` ("px", "mrad" or "1/A")."""
    if units == "px":
        return (1.0, 1.0)
    if units == "mrad":
        value, field = calibration.angular_sampling, "angular_sampling"
    elif units in ("1/A", "1/Å"):
        value, field = calibration.k_sampling, "k_sampling"
    else:
        raise SettingsError(f"units must be one of {RADIUS_UNITS}, got {units!r}")
    if value is None:
        raise CalibrationError(
            f"units={units!r} needs the detector calibration {field}, which is unknown; "
            f"pass it (e.g. symbreak.as_dataset(data, {field}=...)) or use units='px'"
        )
    return value


def radial_distance(shape: tuple[int, int], center: tuple[float, float],
                    sampling: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Distance of each pixel centre from ``center`` (ky, kx) [px], scaled by ``sampling``."""
    ky = (np.arange(shape[0]) - center[0]) * sampling[0]
    kx = (np.arange(shape[1]) - center[1]) * sampling[1]
    return np.hypot(ky[:, None], kx[None, :])


def annulus(shape: tuple[int, int], center: tuple[float, float], inner: float, outer: float,
            sampling: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Boolean mask of ``inner <= r < outer`` (radii in the units of ``sampling``)."""
    if not np.isfinite(inner) or np.isnan(outer) or inner < 0 or outer <= inner:
        raise SettingsError(
            f"a detector annulus needs 0 <= inner < outer, got inner={inner!r}, outer={outer!r}"
        )
    r = radial_distance(shape, center, sampling)
    return (r >= inner) & (r < outer)


def build_mask(spec: Any, shape: tuple[int, int], center: tuple[float, float] | None,
               calibration: Calibration, units: str = "px", what: str = "mask") -> np.ndarray | None:
    """Turn a mask specification into a boolean (ky, kx) mask, or None for "all pixels".

    ``spec`` is None, a radius (disk), an ``(inner, outer)`` pair (annulus), or a boolean
    array of the pattern shape. ``center`` is only needed for radii.
    """
    if spec is None:
        return None
    if isinstance(spec, np.ndarray) and spec.ndim == 2:
        if spec.shape != tuple(shape):
            raise SettingsError(
                f"{what} has shape {spec.shape}, but the patterns are {tuple(shape)} (ky, kx)"
            )
        if spec.dtype != bool:
            raise SettingsError(f"{what} array must be boolean, got dtype {spec.dtype}")
        return spec
    if isinstance(spec, (int, float, np.number)) and not isinstance(spec, bool):
        inner, outer = 0.0, float(spec)
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        inner, outer = (float(v) for v in spec)
    else:
        raise SettingsError(
            f"{what} must be a radius, an (inner, outer) pair or a boolean (ky, kx) array, "
            f"got {spec!r}"
        )
    if center is None:
        raise SettingsError(f"a radial {what} needs the detector centre")
    return annulus(shape, center, inner, outer, pixel_sampling(calibration, units))
