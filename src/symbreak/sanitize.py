"""The input policy: what every stage does with awkward values and shapes.

:func:`check_input` reads the data once, chunk by chunk, and counts what needs a
decision; it returns the data set with a lazy (dask) fix applied where the policy
changes values, and the counts under ``metadata["input_checks"]`` (JSON-able):

- NaN / ±inf pixels are replaced by 0 (counted; one warning names how many pixels in
  how many patterns, and the first positions).
- Negative values are kept (legal after dark subtraction); counted and reported.
- Saturated pixels (the integer dtype's maximum, or ``saturation``) are kept; counted.
- All-zero patterns are kept; their COM is NaN and their virtual images are 0.
- float16 is upcast to float32; integer data stay integer (the kernels sum them in
  float64 when float32 could round the sums, see :func:`symbreak.classical.sums.kernel_dtype`).

``stage`` adds the size checks of that stage: "analyze" needs at least 2 patterns of
at least 2 x 2 pixels and some non-zero intensity; "decompose" needs at least 2 patterns;
"com", "virtual" and "preprocess" take any shape. docs/edge_cases.md has the full table.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import dask.array as da
import numpy as np

from .convert import as_dataset
from .dataset import Dataset4D
from .engine import map_patterns, takes_budget
from .errors import DataError, InputWarning, SettingsError  # noqa: F401 (InputWarning: public here)

STAGES = ("analyze", "decompose", "com", "virtual", "preprocess")
MIN_PATTERNS = {"analyze": 2, "decompose": 2}
MIN_PATTERN_SIDE = {"analyze": 2}
MAX_POSITIONS = 10  # pattern positions listed per finding
# per-pattern statistics computed by the kernel, in this order
STATS = ("nonfinite", "negative", "saturated", "zero", "min", "max")
# what symbreak.io.load records of zarr chunks missing from the store (io/guards/chunks.py)
MISSING_CHUNK_KEYS = ("missing_chunks", "chunks_expected", "first_missing_chunk",
                      "missing_read_as")


def pattern_stats(block: np.ndarray, saturation: float | None) -> np.ndarray:
    """Kernel: (a, b, ky, kx) patterns -> (a, b, 6) STATS per pattern: counts of NaN/inf,
    negative and saturated pixels, 1 for an all-zero pattern, finite min and max.

    Two passes (min, max) for clean data; the counting passes run only on the patterns
    whose min/max show something to count."""
    a, b = block.shape[:2]
    flat = block.reshape(a * b, -1)
    out = np.zeros((a * b, len(STATS)))
    low, high = flat.min(axis=1), flat.max(axis=1)  # NaN or ±inf here flags the pattern
    out[:, 4], out[:, 5] = low, high
    if block.dtype.kind == "f":
        for i in np.flatnonzero(~(np.isfinite(low) & np.isfinite(high))):
            finite = np.isfinite(flat[i])
            out[i, 0] = finite.size - np.count_nonzero(finite)
            values = flat[i][finite]
            out[i, 4:] = (values.min(), values.max()) if values.size else (0.0, 0.0)
    for i in np.flatnonzero(out[:, 4] < 0):  # -inf is counted as non-finite, not negative
        out[i, 1] = np.count_nonzero(flat[i] < 0) - (out[i, 0] and np.isneginf(flat[i]).sum())
    if saturation is not None:
        for i in np.flatnonzero(out[:, 5] >= saturation):
            out[i, 2] = np.count_nonzero(flat[i] >= saturation) - (
                out[i, 0] and np.isposinf(flat[i]).sum())
    out[:, 3] = (out[:, 4] == 0) & (out[:, 5] == 0)
    return out.reshape(a, b, len(STATS))


def saturation_value(dtype: np.dtype, saturation: float | None = None) -> float | None:
    """The value counted as saturated: ``saturation``, else the integer dtype's maximum."""
    if saturation is not None:
        value = float(saturation)
        if not np.isfinite(value):
            raise SettingsError(f"saturation must be a finite count, got {saturation!r}")
        return value
    if dtype.kind in "iu":
        return float(np.iinfo(dtype).max)
    return None


def _positions(mask: np.ndarray) -> list[list[int]]:
    return [[int(y), int(x)] for y, x in np.argwhere(mask)[:MAX_POSITIONS]]


def summarize(stats: np.ndarray, data: Dataset4D, saturation: float | None) -> dict[str, Any]:
    """The JSON-able ``input_checks`` record from per-pattern ``stats`` (scan_y, scan_x, 6)."""
    s = {name: stats[..., i] for i, name in enumerate(STATS)}
    zero = s["zero"] > 0
    finite_min = s["min"][np.isfinite(s["min"])]
    finite_max = s["max"][np.isfinite(s["max"])]
    return {
        "dtype": str(data.dtype),
        "scan_shape": list(data.scan_shape),
        "pattern_shape": list(data.pattern_shape),
        "n_patterns": int(zero.size),
        "nonfinite_pixels": int(s["nonfinite"].sum()),
        "nonfinite_patterns": int((s["nonfinite"] > 0).sum()),
        "nonfinite_positions": _positions(s["nonfinite"] > 0),
        "nonfinite_replaced_by": 0.0,
        "negative_pixels": int(s["negative"].sum()),
        "negative_patterns": int((s["negative"] > 0).sum()),
        "saturation_value": saturation,
        "saturated_pixels": int(s["saturated"].sum()),
        "saturated_patterns": int((s["saturated"] > 0).sum()),
        "zero_patterns": int(zero.sum()),
        "zero_positions": _positions(zero),
        "min_value": float(finite_min.min()) if finite_min.size else None,
        "max_value": float(finite_max.max()) if finite_max.size else None,
        "upcast": "float16 -> float32" if data.dtype == np.float16 else None,
    }


def _keep_earlier(checks: dict[str, Any], earlier: Any) -> dict[str, Any]:
    """On data checked before, keep what the earlier check replaced (and so cannot be
    seen again): the record always describes the original input."""
    if isinstance(earlier, dict) and not checks["nonfinite_pixels"]:
        for key in ("dtype", "upcast", "nonfinite_pixels", "nonfinite_patterns",
                    "nonfinite_positions"):
            if key in earlier:
                checks[key] = earlier[key]
    if isinstance(earlier, dict):  # zarr chunks missing from the store the data came from
        checks.update({k: earlier[k] for k in MISSING_CHUNK_KEYS if k in earlier})
    return checks


def check_shape(data: Dataset4D, stage: str = "analyze") -> None:
    """Refuse scans and patterns too small for ``stage`` (no data read; module docstring)."""
    ny, nx = data.scan_shape
    need = MIN_PATTERNS.get(stage, 1)
    if ny * nx < need:
        why = ("PCA and the rrVAE are fitted across patterns" if stage == "analyze"
               else "PCA finds the variation between patterns")
        raise DataError(
            f"{stage} needs at least {need} patterns ({why}), the scan is {ny} x {nx}; use "
            "symbreak.com / symbreak.virtual_image for a single pattern"
        )
    side = MIN_PATTERN_SIDE.get(stage, 1)
    if min(data.pattern_shape) < side:
        ky, kx = data.pattern_shape
        raise DataError(
            f"{stage} needs patterns of at least {side} x {side} px, got {ky} x {kx}; "
            "use symbreak.com / symbreak.virtual_image for line or single-pixel detectors"
        )


def _warn(checks: dict[str, Any]) -> None:
    n = checks["n_patterns"]
    if checks["nonfinite_pixels"]:
        warnings.warn(
            f"{checks['nonfinite_pixels']} NaN/inf pixels in {checks['nonfinite_patterns']} of "
            f"{n} patterns (first at scan positions {checks['nonfinite_positions'][:3]}) were "
            "replaced by 0", InputWarning, stacklevel=3)
    if checks["zero_patterns"]:
        warnings.warn(
            f"{checks['zero_patterns']} of {n} patterns are all zero (first at "
            f"{checks['zero_positions'][:3]}); their COM is NaN and their virtual images 0",
            InputWarning, stacklevel=3)
    if checks["saturated_pixels"]:
        warnings.warn(
            f"{checks['saturated_pixels']} pixel(s) in {checks['saturated_patterns']} of {n} "
            f"patterns are saturated (value {checks['saturation_value']:g}); intensities there "
            "are underestimated and the COM biased", InputWarning, stacklevel=3)


def replace_nonfinite(data: Dataset4D) -> Dataset4D:
    """The data with NaN/inf pixels replaced by 0, lazily; integer data are returned as
    they are. No provenance step: :func:`check_input` counts and records them."""
    if data.dtype.kind != "f":
        return data
    array = data.to_dask()
    return data.replace(array=da.where(da.isfinite(array), array, array.dtype.type(0)))


def _apply(data: Dataset4D, checks: dict[str, Any]) -> Dataset4D:
    """The data with non-finite pixels replaced (lazily) and float16 upcast."""
    changed = []
    if checks["nonfinite_pixels"]:
        data = replace_nonfinite(data)
        changed.append("nonfinite -> 0")
    array = data.array
    if data.dtype == np.float16:
        array = data.to_dask().astype(np.float32)
        changed.append("float16 -> float32")
    metadata = {**dict(data.metadata), "input_checks": checks}
    step = {"step": "check_input", "changed": changed,
            **{k: checks[k] for k in ("nonfinite_pixels", "negative_pixels", "saturated_pixels",
                                      "zero_patterns")}}
    return data.replace(array=array, metadata=metadata, step=step)


@takes_budget
def check_input(data: Any, *, stage: str = "analyze", saturation: float | None = None,
                memory_budget: Any = None, progress: bool | None = None) -> Dataset4D:
    """Check a data set against the input policy and apply it lazily.

    Parameters
    ----------
    data
        Anything :func:`symbreak.as_dataset` accepts, shape (scan_y, scan_x, ky, kx).
    stage
        The stage the data are for: "analyze", "decompose", "com", "virtual" or
        "preprocess"; sets the minimum scan and pattern sizes (module docstring).
    saturation
        Counts at or above this value are reported as saturated [counts]; default the
        integer dtype's maximum (none for float data).
    memory_budget, progress
        As in :func:`symbreak.com`; the data are read once, chunk by chunk.

    Returns
    -------
    Dataset4D
        The same data with NaN/inf replaced by 0 and float16 upcast to float32 (lazily,
        only when needed), ``metadata["input_checks"]`` holding the counts and a
        ``check_input`` provenance step.

    Raises
    ------
    DataError
        The shape is too small for ``stage``, or (for "analyze") every pattern is zero.
    """
    if stage not in STAGES:
        raise SettingsError(f"stage must be one of {STAGES}, got {stage!r}")
    ds = as_dataset(data)
    check_shape(ds, stage)
    sat = saturation_value(ds.dtype, saturation)
    kernel = functools.partial(pattern_stats, saturation=sat)
    stats = map_patterns(ds, kernel, len(STATS), progress=progress, desc="input checks")
    checks = summarize(stats, ds, sat)
    if stage == "analyze" and checks["zero_patterns"] == checks["n_patterns"]:
        raise DataError(f"all {checks['n_patterns']} patterns are zero (after replacing NaN/inf); "
                        "there is nothing to analyse: check the file and the dataset= choice")
    _warn(checks)
    out = _apply(ds, checks)
    record = _keep_earlier(dict(checks), ds.metadata.get("input_checks"))
    return out.replace(metadata={**dict(out.metadata), "input_checks": record})
