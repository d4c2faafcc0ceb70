"""Centre of mass (COM / DPC) of every diffraction pattern, chunk by chunk.

One pass of a compiled kernel (:mod:`symbreak.engine.kernels`) gives the total intensity
and both first moments of every pattern: weighted by three images (the mask, mask * kx
and mask * ky), or, without a mask, from the pixel coordinates alone. The same kernel
serves numpy arrays and memory maps (chunks on local threads) and dask arrays
(``map_blocks``, also on a dask.distributed cluster).

Sign and axes: ``com_x`` is along kx (detector columns, right), ``com_y`` along ky
(detector rows, *down*), both measured from a reference (by default the COM of the mean
pattern) and, once a scan rotation/flip is applied, expressed in the scan frame (see
:mod:`symbreak.classical.rotation`). ``com_angle = arctan2(com_y, com_x)`` [rad].
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr

from ..convert import as_dataset
from ..dataset import Dataset4D
from ..engine import map_patterns, takes_budget
from ..errors import CalibrationError, DataError, SettingsError
from .masks import build_mask, pixel_sampling
from .results import SCAN_DIMS, axis_coords, base_attrs
from .rotation import RotationFit, detector_to_scan, find_rotation
from .settings import COM_REFERENCES as REFERENCES, COM_UNITS as UNITS
from .sums import moments_kernel

UNRELIABLE_CURL_RATIO = 0.5  # residual curl of the best flip / the other's
@takes_budget
def mean_pattern_center(data: Dataset4D, memory_budget: Any = None, progress: bool | None = None
                        ) -> tuple[float, float]:
    """COM (ky, kx) [px, from pixel (0, 0)] of the mean pattern, in one pass (within
    ``memory_budget``, as in :func:`com`)."""
    sums = map_patterns(data, moments_kernel(data, None), 3, progress=progress,
                        desc="beam centre")
    return _mean_com(sums, data.pattern_shape)


def _mean_com(sums: np.ndarray, shape: tuple[int, int]) -> tuple[float, float]:
    good = np.isfinite(sums).all(axis=-1) & (sums[..., 0] > 0)
    if not good.any():
        raise CalibrationError(
            "no pattern has positive intensity (all zero or negative), so the mean pattern "
            "shows no beam to centre on; check the data, or calibrate detector_center (and "
            "for COM use reference='center')")
    total = sums[good].sum(axis=0)
    return (float(total[2] / total[0] + (shape[0] - 1) / 2),
            float(total[1] / total[0] + (shape[1] - 1) / 2))


def _validate(reference: str, units: str, threshold: Any, rotation: Any, flip: Any,
              data: Dataset4D) -> None:
    if reference not in REFERENCES:
        raise SettingsError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if units not in UNITS:
        raise SettingsError(f"units must be one of {UNITS}, got {units!r}")
    pixel_sampling(data.calibration, units)
    if threshold is not None and not np.isfinite(float(threshold)):
        raise SettingsError(f"threshold must be a finite number of counts, got {threshold!r}")
    if rotation is not None and rotation != "auto" and not np.isfinite(_as_float(rotation)):
        raise SettingsError(f"rotation must be None, 'auto' or an angle [rad], got {rotation!r}")
    if flip not in (None, True, False):
        raise SettingsError(f"flip must be None, True or False, got {flip!r}")
    if rotation == "auto" and min(data.scan_shape) < 3:
        raise DataError(
            "rotation='auto' needs a 2-D scan of at least 3 x 3 positions (the curl needs "
            f"derivatives along both scan axes), the scan is {data.scan_shape[0]} x "
            f"{data.scan_shape[1]}; pass rotation=<angle [rad]> and flip=..., or leave "
            "rotation=None to use the calibration")
    if reference == "center" and data.calibration.detector_center is None:
        raise CalibrationError(
            "reference='center' needs the calibrated detector_center (ky, kx) [px]; set it "
            "with as_dataset(data, detector_center=(cy, cx)) or use reference='mean'"
        )


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _warn_bad(empty: np.ndarray, outside: np.ndarray, what: str) -> None:
    n = empty.size
    if empty.any():
        warnings.warn(
            f"{int(empty.sum())} of {n} patterns have zero or negative total intensity (e.g. "
            f"all-zero patterns); their {what} is NaN", RuntimeWarning, stacklevel=3,
        )
    if outside.any():
        warnings.warn(
            f"{int(outside.sum())} of {n} patterns have a {what} outside the detector (negative "
            "pixels outweigh the beam, e.g. over-subtracted dark); it is set to NaN; pass "
            "threshold=0 to ignore negative pixels", RuntimeWarning, stacklevel=3,
        )


def absolute_com(sums: np.ndarray, shape: tuple[int, int]
                 ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    """COM (ky, kx) [px from pixel (0, 0)] from (intensity, kx, ky moment) sums, and the
    patterns where it is undefined: total <= 0 (``empty``) or outside the detector."""
    ky, kx = shape
    with np.errstate(invalid="ignore", divide="ignore"):
        empty = ~np.isfinite(sums).all(axis=-1) | (sums[..., 0] <= 0)
        cy = sums[..., 2] / sums[..., 0] + (ky - 1) / 2
        cx = sums[..., 1] / sums[..., 0] + (kx - 1) / 2
        outside = ~empty & ((cy < -0.5) | (cy > ky - 0.5) | (cx < -0.5) | (cx > kx - 0.5))
    cy[empty | outside] = np.nan
    cx[empty | outside] = np.nan
    return (cy, cx), empty, outside


def _plane_residual(values: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Subtract the least-squares plane a + b*y + c*x (NaN ignored); return coefficients."""
    iy, ix = np.indices(values.shape, dtype=float)
    ok = np.isfinite(values)
    design = np.stack([np.ones(ok.sum()), iy[ok], ix[ok]], axis=1)
    coef, *_ = np.linalg.lstsq(design, values[ok], rcond=None)
    return values - (coef[0] + coef[1] * iy + coef[2] * ix), [float(c) for c in coef]


def _reference(sums: np.ndarray, com_abs: tuple[np.ndarray, np.ndarray], reference: str,
               data: Dataset4D) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    if reference == "mean":
        ref = _mean_com(sums, data.pattern_shape)
        return (com_abs[0] - ref[0], com_abs[1] - ref[1]), {"reference_center_px": list(ref)}
    if reference == "center":
        ref = data.calibration.detector_center
        return (com_abs[0] - ref[0], com_abs[1] - ref[1]), {"reference_center_px": list(ref)}
    ry, cy = _plane_residual(com_abs[0])
    rx, cx = _plane_residual(com_abs[1])
    return (ry, rx), {"descan_plane_y_px": cy, "descan_plane_x_px": cx}


def _resolve_rotation(rotation: Any, flip: Any, data: Dataset4D, com_y: np.ndarray,
                      com_x: np.ndarray) -> tuple[float, bool, str, RotationFit | None]:
    cal = data.calibration
    if rotation == "auto":
        step = cal.scan_step or (1.0, 1.0)
        fit = find_rotation(com_y, com_x, scan_step=step, flip=flip)
        if flip is None and fit.curl_ratio > UNRELIABLE_CURL_RATIO:
            warnings.warn(
                f"the scan flip found by minimum curl is unreliable (curl ratio "
                f"{fit.curl_ratio:.2f}: both flips leave similar curl, e.g. a noise-dominated "
                "COM field); pass rotation=... and flip=... if you know them",
                RuntimeWarning, stacklevel=3,
            )
        how = f"auto (minimum curl, curl ratio {fit.curl_ratio:.3g})"
        return fit.rotation, fit.flip, how, fit
    if rotation is not None:
        return float(rotation), bool(flip), "user", None
    if cal.scan_rotation is not None or cal.scan_flip is not None:
        return (cal.scan_rotation or 0.0, bool(cal.scan_flip) if flip is None else flip,
                "calibration", None)
    return 0.0, bool(flip), "none" if not flip else "user", None


@takes_budget
def com(data: Any, *, mask: Any = None, mask_units: str = "px", threshold: float | None = None,
        reference: str = "mean", units: str = "px", rotation: float | str | None = None,
        flip: bool | None = None, memory_budget: Any = None, progress: bool | None = None
        ) -> xr.Dataset:
    """Centre of mass of every diffraction pattern.

    Parameters
    ----------
    data
        Anything :func:`symbreak.as_dataset` accepts, shape (scan_y, scan_x, ky, kx).
    mask
        None (all pixels), a disk radius, an ``(inner, outer)`` annulus (``inner <= r <
        outer``) around the detector centre (calibrated, else the COM of the mean
        pattern), or a boolean (ky, kx) array.
    mask_units
        Units of the mask radii: "px", "mrad" or "1/A".
    threshold
        Pixels below this intensity [counts] are ignored (``threshold=0`` ignores the
        negative pixels of dark-subtracted data, which otherwise count with their sign).
    reference
        Where the COM is measured from: "mean" (COM of the mean pattern, the paper's
        choice), "center" (``Calibration.detector_center``) or "plane" (a least-squares
        plane fitted to the COM over the scan is removed: descan).
    units
        Output units: "px", "mrad" (needs ``angular_sampling``) or "1/A" (``k_sampling``).
    rotation
        Scan rotation [rad] to correct (see :mod:`symbreak.classical.rotation`); None uses
        the calibration (or none), "auto" finds it by minimum curl.
    flip
        Scan flip; None uses the calibration (or, with "auto", finds it).
    memory_budget
        Bytes (or "4GB", or a fraction of available memory) the computation may use.
    progress
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    xarray.Dataset
        ``com_x``, ``com_y``, ``com_magnitude`` [units], ``com_angle`` [rad] and
        ``intensity`` (summed counts in the mask) on (scan_y, scan_x); attrs record the
        reference, rotation, flip and how they were found. NaN/inf pixels count as 0.
        The COM of a pattern with zero or negative total intensity (an all-zero pattern),
        or one that falls outside the detector (negative pixels outweighing the beam), is
        NaN (with one warning; ``n_bad_patterns`` in attrs); its ``intensity`` stays.
    """
    ds = as_dataset(data)
    _validate(reference, units, threshold, rotation, flip, ds)
    center = ds.calibration.detector_center
    center_source = "calibration"
    if mask is not None and not isinstance(mask, np.ndarray) and center is None:
        center = mean_pattern_center(ds, progress=progress)
        center_source = "mean pattern"
    mask_arr = build_mask(mask, ds.pattern_shape, center, ds.calibration, mask_units)
    kernel = moments_kernel(ds, mask_arr, None if threshold is None else float(threshold))
    sums = map_patterns(ds, kernel, 3, progress=progress, desc="COM")
    com_abs, empty, outside = absolute_com(sums, ds.pattern_shape)
    bad = empty | outside
    _warn_bad(empty, outside, "COM")
    (com_y, com_x), ref_attrs = _reference(sums, com_abs, reference, ds)
    sampling = pixel_sampling(ds.calibration, units)
    com_y, com_x = com_y * sampling[0], com_x * sampling[1]
    angle, flipped, how, fit = _resolve_rotation(rotation, flip, ds, com_y, com_x)
    com_y, com_x = detector_to_scan(com_y, com_x, angle, flipped)
    unit = "1/Å" if units == "1/A" else units
    settings = {"mask": mask, "mask_units": mask_units, "threshold": threshold,
                "reference": reference, "units": units, "rotation": rotation, "flip": flip}
    attrs = base_attrs(ds, settings)
    attrs.update(ref_attrs, reference=reference, scan_rotation=angle, scan_flip=flipped,
                 rotation_source=how, mask_center_px=list(center) if center is not None else [],
                 mask_center_source=center_source if mask is not None else "",
                 n_bad_patterns=int(bad.sum()))
    result = _com_dataset(ds, com_y, com_x, sums[..., 0], unit, attrs)
    return result if fit is None else result.merge(_rotation_curves(fit))


def _rotation_curves(fit: RotationFit) -> xr.Dataset:
    """The curl and divergence-skewness curves of an automatic rotation fit."""
    coords = {"rotation_angle": ("rotation_angle", fit.angles, {"units": "rad"}),
              "rotation_flip": ("rotation_flip", np.array([False, True]), {"units": ""})}
    dims = ("rotation_flip", "rotation_angle")
    return xr.Dataset({
        "rotation_curl": (dims, fit.curl, {"units": "1", "long_name":
                                           "mean squared curl / mean squared gradient"}),
        "rotation_divergence_skew": (dims, fit.divergence_skew, {"units": "1"}),
    }, coords=coords)


def _com_dataset(ds: Dataset4D, com_y: np.ndarray, com_x: np.ndarray, total: np.ndarray,
                 unit: str, attrs: dict[str, Any]) -> xr.Dataset:
    coords = axis_coords(ds, SCAN_DIMS)
    variables = {
        "com_x": (SCAN_DIMS, com_x, {"units": unit, "long_name": "COM along scan x"}),
        "com_y": (SCAN_DIMS, com_y, {"units": unit, "long_name": "COM along scan y (down)"}),
        "com_magnitude": (SCAN_DIMS, np.hypot(com_x, com_y), {"units": unit}),
        "com_angle": (SCAN_DIMS, np.arctan2(com_y, com_x),
                      {"units": "rad", "long_name": "arctan2(com_y, com_x)"}),
        "intensity": (SCAN_DIMS, total, {"units": "counts", "long_name": "intensity in mask"}),
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)
