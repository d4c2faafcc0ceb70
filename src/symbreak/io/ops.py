"""Lazy cropping and detector binning used by ``symbreak convert``."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..dataset import Dataset4D
from ..errors import SettingsError
from .common import lazy_array


def crop(data: Dataset4D, scan: tuple[slice, slice] | None = None,
         detector: tuple[slice, slice] | None = None) -> Dataset4D:
    """Crop scan and/or detector axes (lazy); the detector centre moves with the crop."""
    key = tuple(scan or (slice(None),) * 2) + tuple(detector or (slice(None),) * 2)
    for axis, (s, n) in enumerate(zip(key, data.shape)):
        start, stop, _ = s.indices(n)
        if stop <= start:
            raise SettingsError(f"crop range {s.start}:{s.stop} is empty on axis {axis} of "
                                f"size {n}; choose a range inside 0:{n}")
    return data[key]


def binned_dtype(dtype: np.dtype) -> np.dtype:
    """Sums of counts need more bits: (u)int8/16 -> (u)int32, 32 -> 64; floats kept."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return np.dtype(np.uint32)
    if dtype.kind in "iu":
        return np.dtype(f"{dtype.kind}{max(4, min(8, dtype.itemsize * 2))}")
    return dtype


def _bin_block(block: np.ndarray, factor: int) -> np.ndarray:
    """Sum factor x factor pixels, accumulating in the wider dtype without a widened copy."""
    ny, nx, ky, kx = block.shape
    shaped = block.reshape(ny, nx, ky // factor, factor, kx // factor, factor)
    return shaped.sum(axis=(3, 5), dtype=binned_dtype(block.dtype))


def bin_detector(data: Dataset4D, factor: int) -> Dataset4D:
    """Sum over ``factor`` x ``factor`` detector pixels (edges that do not fill a bin are
    dropped); detector sampling is multiplied by ``factor`` and the centre rescaled."""
    if not isinstance(factor, (int, np.integer)) or factor < 1:
        raise SettingsError(f"bin factor must be a positive integer, got {factor!r}")
    if factor == 1:
        return data
    ky, kx = data.pattern_shape
    if ky < factor or kx < factor:
        raise SettingsError(f"bin factor {factor} is larger than the patterns {ky} x {kx}")
    array = lazy_array(data.array).rechunk({2: -1, 3: -1})
    array = array[:, :, : ky - ky % factor, : kx - kx % factor]
    dtype = binned_dtype(data.dtype)
    binned = array.map_blocks(_bin_block, factor, dtype=dtype,
                              chunks=array.chunks[:2] + ((ky // factor,), (kx // factor,)))
    cal = data.calibration
    changes = {}
    for name in ("angular_sampling", "k_sampling"):
        if getattr(cal, name) is not None:
            changes[name] = tuple(v * factor for v in getattr(cal, name))
    if cal.detector_center is not None:
        changes["detector_center"] = tuple((c - (factor - 1) / 2) / factor
                                           for c in cal.detector_center)
    cal = dataclasses.replace(cal, **changes)
    return data.replace(array=binned, calibration=cal,
                        step={"step": "bin_detector", "factor": int(factor)})
