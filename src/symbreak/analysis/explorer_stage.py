"""The 'explorer' analysis stage: compact copies of the preprocessed patterns and of the
rrVAE's reconstructions, for the report's pattern explorer (point at a map, see the
pattern there).

Both are quantised to 8 bits on one common scale (``value = low + q / 255 * (high -
low)``, ``low``/``high`` in the attributes) so that a pattern and its reconstruction are
drawn alike. Scans larger than :data:`MAX_BYTES` keep every ``stride``-th probe position
in y and x (the ``stride`` attribute); the report says so. Importing this module
registers its schema entries; :mod:`symbreak.analysis.plan` puts :data:`STAGE` in the
analysis order.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from . import schema as S
from .context import Context, Stage

EXPLORER_DIMS = ("explorer_y", "explorer_x")
MAX_BYTES = 6 * 2**20  # patterns + reconstructions, 8 bits each, before compression
LEVELS = 255
PATTERN = S.define("explorer_pattern", EXPLORER_DIMS + S.DETECTOR, "1",
                   "preprocessed pattern (the rrVAE's input), 8-bit quantised: "
                   "value = low + q / 255 * (high - low)")
RECONSTRUCTION = S.define("explorer_reconstruction", EXPLORER_DIMS + S.DETECTOR, "1",
                          "rrVAE reconstruction of the preprocessed pattern, quantised as "
                          "explorer_pattern")
NAMES = (PATTERN, RECONSTRUCTION)


def scan_stride(scan_shape: tuple[int, int], pattern_shape: tuple[int, int], arrays: int,
                max_bytes: int = MAX_BYTES) -> int:
    """Smallest step in probe positions that keeps ``arrays`` uint8 pattern stacks within
    ``max_bytes`` (1: every position; at most the longer scan side, which keeps one
    position however large the patterns)."""
    per_position = arrays * int(np.prod(pattern_shape))
    stride = 1
    while (stride < max(scan_shape) and math.ceil(scan_shape[0] / stride)
           * math.ceil(scan_shape[1] / stride) * per_position > max_bytes):
        stride += 1
    return stride


def quantise(arrays: list[np.ndarray], levels: int = LEVELS
             ) -> tuple[list[np.ndarray], float, float]:
    """uint8 copies of ``arrays`` on one common scale from the 0.1 to the 99.9 percentile
    of the first (values outside are clipped); returns (copies, low, high)."""
    finite = arrays[0][np.isfinite(arrays[0])]
    low, high = (float(v) for v in np.percentile(finite, [0.1, 99.9])) if finite.size else (0, 1)
    if not high > low:
        high = low + 1.0
    scale = levels / (high - low)
    out = [np.clip(np.rint((np.nan_to_num(a, nan=low) - low) * scale), 0, levels).astype(np.uint8)
           for a in arrays]
    return out, low, high


def dequantise(q: Any, attrs: dict[str, Any]) -> np.ndarray:
    """Values of an explorer variable from its 8-bit codes and attributes."""
    low, high = float(attrs["low"]), float(attrs["high"])
    return low + np.asarray(q, dtype=float) / LEVELS * (high - low)


def _explorer(ctx: Context) -> xr.Dataset:
    X = ctx.patterns
    if X is None:
        return xr.Dataset()
    model = ctx.model
    stride = scan_stride(X.scan_shape, X.pattern_shape, 1 if model is None else 2)
    patterns = np.asarray(X.array[::stride, ::stride], dtype=np.float32)
    arrays = [patterns] + ([np.asarray(model.reconstruct(patterns), dtype=np.float32)]
                           if model is not None else [])
    codes, low, high = quantise(arrays)
    attrs = {"low": low, "high": high, "stride": stride, "levels": LEVELS}
    (y, unit), (x, _) = list(X.coords().values())[:2]
    out = {PATTERN: S.make(PATTERN, codes[0], **attrs)}
    if model is not None:
        out[RECONSTRUCTION] = S.make(RECONSTRUCTION, codes[1], **attrs)
    coords = {name: xr.Variable(name, np.asarray(v, dtype=float)[::stride], {"units": unit})
              for name, v in zip(EXPLORER_DIMS, (y, x))}
    return xr.Dataset(out, coords=coords)


STAGE = Stage("explorer", _explorer, variables=NAMES, needs=("patterns",), uses=("model",))
