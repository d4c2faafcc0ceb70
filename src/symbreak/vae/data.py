"""Coerce user input to a stack of float32 patterns and remember the scan shape."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import torch
import xarray as xr

from ..dataset import Dataset4D
from ..errors import DataError


def as_patterns(data: Any) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Patterns (n, ky, kx) float32 and the scan shape (None for a 3-D stack).

    Accepts a :class:`Dataset4D`, a 4-D (scan_y, scan_x, ky, kx) or 3-D (n, ky, kx) numpy,
    dask, xarray or torch array. The result is in memory (preprocessed patterns are small).
    """
    if isinstance(data, Dataset4D):
        data = data.array
    if isinstance(data, xr.DataArray):
        data = data.data
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    if not hasattr(data, "ndim") or not hasattr(data, "shape"):
        raise DataError(f"expected patterns as an array, got {type(data).__name__}; pass a "
                        "4-D (scan_y, scan_x, ky, kx) or 3-D (n, ky, kx) array or a Dataset4D")
    if data.ndim not in (3, 4):
        raise DataError(f"expected a 4-D (scan_y, scan_x, ky, kx) or 3-D (n, ky, kx) array, "
                        f"got shape {tuple(data.shape)}")
    if isinstance(data, da.Array):
        data = data.compute()
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise DataError(f"patterns have dtype {array.dtype}; a real number type is needed")
    scan_shape = tuple(int(n) for n in array.shape[:2]) if array.ndim == 4 else None
    patterns = np.ascontiguousarray(array.reshape(-1, *array.shape[-2:]), dtype=np.float32)
    if not patterns.flags.writeable:  # a read-only memory map: torch needs its own copy
        patterns = patterns.copy()
    if patterns.shape[0] == 0 or min(patterns.shape[1:]) < 2:
        raise DataError(f"need at least one pattern of at least 2 x 2 pixels, got shape "
                        f"{tuple(array.shape)}")
    if not np.isfinite(patterns).all():
        bad = int(np.count_nonzero(~np.isfinite(patterns)))
        raise DataError(f"the patterns contain {bad} NaN or infinite values; replace them "
                        "(e.g. np.nan_to_num) before training")
    return patterns, scan_shape


def check_unit_interval(patterns: np.ndarray, likelihood: str) -> None:
    """Bernoulli likelihoods need intensities in [0, 1]."""
    lo, hi = float(patterns.min()), float(patterns.max())
    if lo < 0 or hi > 1:
        raise DataError(f"likelihood={likelihood!r} needs intensities in [0, 1], got "
                        f"[{lo:.4g}, {hi:.4g}]; min-max normalise the patterns or use "
                        "likelihood='gaussian'")
