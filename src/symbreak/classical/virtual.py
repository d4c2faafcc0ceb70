"""Virtual detectors: bright field, ABF, ADF, HAADF or any mask, several in one pass.

Without per-pattern shifts every detector is a column of a (ky*kx, n_detectors) weight
matrix and one BLAS product per chunk gives all images at once (the COM kernel). With
shifts (the detector follows the beam, e.g. under descan) the annuli are rebuilt per
pattern around ``center + shift``. Annuli hold ``inner <= r < outer``; see
:mod:`symbreak.classical.masks` for units.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..arrays import pattern_rows
from ..convert import as_dataset
from ..dataset import Dataset4D
from ..engine import map_patterns, takes_budget
from ..errors import SettingsError
from .com import mean_pattern_center
from .sums import exact_columns, kernel_dtype, moments_kernel, pattern_sums
from .masks import build_mask, pixel_sampling
from .settings import SHIFTS
from .results import SCAN_DIMS, axis_coords, base_attrs


def default_detectors(semiangle: float | None) -> dict[str, tuple[float, float]]:
    """BF (0, α), ABF (α/2, α), ADF (α, 3α), HAADF (3α, ∞) [mrad] for semiangle α [mrad]."""
    if semiangle is None:
        raise SettingsError(
            "default detectors need the convergence semiangle; calibrate it or pass "
            "detectors={'bf': (0, 20), 'adf': (40, 120)} [mrad]"
        )
    a = float(semiangle)
    return {"bf": (0.0, a), "abf": (a / 2, a), "adf": (a, 3 * a), "haadf": (3 * a, np.inf)}


def _resolve_center(ds: Dataset4D, center: Any, progress: Any
                    ) -> tuple[tuple[float, float], str]:
    if center is not None:
        try:
            cy, cx = (float(v) for v in center)
        except (TypeError, ValueError):
            raise SettingsError(f"center must be (ky, kx) [px], got {center!r}") from None
        return (cy, cx), "user"
    if ds.calibration.detector_center is not None:
        return ds.calibration.detector_center, "calibration"
    return mean_pattern_center(ds, progress=progress), "mean pattern"


def _resolve_shifts(ds: Dataset4D, shifts: Any, center: tuple[float, float],
                    progress: Any) -> np.ndarray | None:
    """Per-pattern (dy, dx) [px] of the detector centre, or None."""
    if shifts is None:
        return None
    if isinstance(shifts, str):
        if shifts not in SHIFTS:
            raise SettingsError(f"shifts must be None, one of {SHIFTS} or an array, got "
                                f"{shifts!r}")
        sums = map_patterns(ds, moments_kernel(ds, None), 3, progress=progress,
                            desc="beam shifts")
        ky, kx = ds.pattern_shape
        with np.errstate(invalid="ignore", divide="ignore"):
            dy = sums[..., 2] / sums[..., 0] + (ky - 1) / 2 - center[0]
            dx = sums[..., 1] / sums[..., 0] + (kx - 1) / 2 - center[1]
        return np.nan_to_num(np.stack([dy, dx], axis=-1))
    shifts = np.asarray(shifts, dtype=float)
    if shifts.shape != ds.scan_shape + (2,) or not np.isfinite(shifts).all():
        raise SettingsError(
            f"shifts must be a finite array (scan_y, scan_x, 2) = {ds.scan_shape + (2,)} of "
            f"(dy, dx) [px], got shape {shifts.shape}"
        )
    return shifts


def shifted_ring_sums(block: np.ndarray, shifts: np.ndarray, center: tuple[float, float],
                      rings: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """Kernel: sums of each pattern over annuli ``rings`` (n_det, 2) centred at
    ``center + shift`` of that pattern; radii in the units of ``sampling``. Compiled
    (:func:`symbreak.engine.kernels.ring_sums`); NaN/inf pixels count as 0."""
    from ..engine import kernels

    a, b, ky, kx = block.shape
    out = np.empty((a * b, len(rings)))
    shifts = np.ascontiguousarray(shifts, dtype=np.float64).reshape(a * b, 2)
    rings = np.ascontiguousarray(rings, dtype=np.float64)
    for start, rows in pattern_rows(block):
        if not kernels.reads_directly(rows):
            rows = rows.astype(np.float64)
        stop = start + len(rows)
        kernels.ring_sums(rows, shifts[start:stop], (ky, kx), center, rings, sampling,
                          out[start:stop])
    return out.reshape(a, b, len(rings))


@takes_budget
def virtual_images(data: Any, detectors: Mapping[str, Any] | None = None, *,
                   units: str = "mrad", center: Any = None, shifts: Any = None,
                   memory_budget: Any = None, progress: bool | None = None) -> xr.Dataset:
    """Several virtual detector images in one pass over the data.

    Parameters
    ----------
    data
        Anything :func:`symbreak.as_dataset` accepts.
    detectors
        Name -> ``(inner, outer)`` radii in ``units`` or a boolean (ky, kx) mask. Default:
        :func:`default_detectors` from the calibrated semiangle.
    units
        Units of the radii: "mrad", "px" or "1/A".
    center
        Detector centre (ky, kx) [px]; default the calibrated one, else the COM of the
        mean pattern (one extra pass).
    shifts
        None, "com" (the detector follows each pattern's COM) or an array
        (scan_y, scan_x, 2) of (dy, dx) [px]; radial detectors only.
    memory_budget, progress
        As in :func:`symbreak.com`.

    Returns
    -------
    xarray.Dataset
        One (scan_y, scan_x) image [counts] per detector.
    """
    ds = as_dataset(data)
    if detectors is None:
        detectors = default_detectors(ds.calibration.semiangle)
    if not isinstance(detectors, Mapping) or not detectors:
        raise SettingsError(f"detectors must be a non-empty dict name -> (inner, outer), got "
                            f"{detectors!r}")
    radial = {k: v for k, v in detectors.items() if not isinstance(v, np.ndarray)}
    sampling = pixel_sampling(ds.calibration, units) if radial else (1.0, 1.0)
    if shifts is not None and len(radial) < len(detectors):
        raise SettingsError("per-pattern shifts work with radial detectors only, not masks")
    for name, spec in detectors.items():
        build_mask(spec, ds.pattern_shape, (0.0, 0.0), ds.calibration, units, f"detector {name!r}")
    center, center_source = ((0.0, 0.0), "") if not radial else _resolve_center(
        ds, center, progress)
    shift_arr = _resolve_shifts(ds, shifts, center, progress)
    names = list(detectors)
    if shift_arr is None:
        masks = [build_mask(detectors[n], ds.pattern_shape, center, ds.calibration, units)
                 for n in names]
        weights = np.zeros((-(-len(masks) // 4) * 4, masks[0].size), dtype=kernel_dtype(ds))
        for i, m in enumerate(masks):
            weights[i] = m.reshape(-1)
        kernel = functools.partial(pattern_sums, weights=weights, columns=len(masks),
                                   exact=exact_columns(ds, len(masks)))
    else:
        rings = np.array([[float(v) for v in detectors[n]] for n in names])
        kernel = functools.partial(shifted_ring_sums, center=center, rings=rings,
                                   sampling=sampling)
    sums = map_patterns(ds, kernel, len(names), extra=shift_arr, progress=progress,
                        desc="virtual images")
    return _images_dataset(ds, names, detectors, sums, units, center, center_source, shifts)


def _images_dataset(ds: Dataset4D, names: list[str], detectors: Mapping[str, Any],
                    sums: np.ndarray, units: str, center: tuple[float, float],
                    center_source: str, shifts: Any) -> xr.Dataset:
    variables = {}
    for i, name in enumerate(names):
        spec = detectors[name]
        attrs = {"units": "counts", "detector": "mask" if isinstance(spec, np.ndarray)
                 else f"{spec[0]} <= r < {spec[1]} {units}"}
        variables[name] = (SCAN_DIMS, sums[..., i], attrs)
    settings = {"detectors": {n: ("mask" if isinstance(s, np.ndarray) else list(s))
                              for n, s in detectors.items()},
                "units": units, "shifts": shifts if isinstance(shifts, str) or shifts is None
                else "array"}
    attrs = base_attrs(ds, settings)
    attrs.update(center_px=[float(c) for c in center], center_source=center_source)
    return xr.Dataset(variables, coords=axis_coords(ds, SCAN_DIMS), attrs=attrs)


@takes_budget
def virtual_image(data: Any, inner: float | None = None, outer: float | None = None, *,
                  units: str = "mrad", center: Any = None, shifts: Any = None,
                  mask: np.ndarray | None = None, memory_budget: Any = None,
                  progress: bool | None = None) -> xr.DataArray:
    """One virtual detector image: the annulus ``inner <= r < outer`` [units] around the
    detector centre, or a boolean (ky, kx) ``mask``. See :func:`virtual_images`."""
    if mask is not None:
        if inner is not None or outer is not None:
            raise SettingsError("give either inner/outer radii or a mask, not both")
        spec: Any = np.asarray(mask)
    elif inner is None or outer is None:
        raise SettingsError("virtual_image needs inner and outer radii, or mask=...")
    else:
        spec = (inner, outer)
    images = virtual_images(data, {"virtual": spec}, units=units, center=center, shifts=shifts,
                            progress=progress)
    return images["virtual"].assign_attrs(images.attrs)
