"""Preparing patterns for PCA and the rrVAE: crop, bin, resize, subtract the mean,
PCA-denoise, min-max normalise (the paper's recipe by default).

Every step works on the lazy (dask) array chunk by chunk, updates the calibration of
the detector axes, and appends a provenance entry. :func:`preprocess` chains them; the
step functions are public for pipelines that need the intermediate results.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import dask.array as da
import numpy as np
from scipy import ndimage

from ..arrays import pattern_rows
from ..calibration import Calibration
from ..classical.decompose import pca_denoise
from ..convert import as_dataset
from ..dataset import Dataset4D
from ..engine import sum_over_chunks
from ..errors import DataError, SettingsError
from ..progress import DaskProgress
from ..sanitize import replace_nonfinite
from .settings import CROP_PER_DISK_DIAMETER, PreprocessSettings

FLOAT = np.float32
PREPROCESS_STEP = "preprocess"  # the provenance entry that marks preprocessed data


def _pattern_sum(block: np.ndarray) -> np.ndarray:
    """Sum (ky, kx) of a block's patterns in float64 (compiled, reading each pixel
    once: no float64 copy of the block); NaN/inf pixels count as 0, found only when the
    sum is not finite."""
    from ..engine import kernels

    a, b, ky, kx = block.shape
    total = np.zeros(ky * kx)
    for _, rows in pattern_rows(block):
        if kernels.reads_directly(rows):
            kernels.add_patterns(rows, total)
        else:
            total += rows.sum(axis=0, dtype=np.float64)
    if block.dtype.kind == "f" and not np.isfinite(total).all():
        total = np.where(np.isfinite(block), block, 0).sum(axis=(0, 1), dtype=np.float64)
        total = total.reshape(-1)
    return total.reshape(ky, kx)


def mean_pattern(data: Dataset4D, progress: bool | None = None) -> np.ndarray:
    """Mean diffraction pattern (ky, kx) [counts], summed chunk by chunk in float64;
    NaN/inf pixels count as 0."""
    total = sum_over_chunks(data, _pattern_sum, progress=progress, desc="mean pattern")
    return total / (data.shape[0] * data.shape[1])


def pattern_center(pattern: np.ndarray) -> tuple[float, float]:
    """Centre of mass (ky, kx) [px] of one pattern (negative values clipped to zero)."""
    weights = np.clip(np.asarray(pattern, dtype=np.float64), 0, None)
    if not weights.sum() > 0:
        raise DataError("the mean pattern has no positive intensity; cannot find its centre")
    cy, cx = ndimage.center_of_mass(weights)
    return float(cy), float(cx)


def disk_radius(pattern: np.ndarray, calibration: Calibration | None = None) -> float:
    """Radius [px] of the bright-field disk: from the semi-angle and the detector
    sampling when both are known, else from the area above half the maximum."""
    cal = calibration or Calibration()
    if cal.semiangle is not None and cal.angular_sampling is not None:
        return cal.semiangle / float(np.mean(cal.angular_sampling))
    pattern = np.asarray(pattern, dtype=np.float64)
    area = np.count_nonzero(pattern > 0.5 * pattern.max())
    return math.sqrt(area / math.pi)


def default_crop(pattern: np.ndarray, calibration: Calibration) -> int:
    """The paper's crop scaled to this disk: 1.16 x disk diameter, even, <= pattern."""
    return crop_for_disk(disk_radius(pattern, calibration), pattern.shape)


def crop_for_disk(radius: float, pattern_shape: tuple[int, ...]) -> int:
    """Crop side [px] for a bright-field disk of ``radius`` [px]: 1.16 x its diameter
    (the paper's 78 px for a 67 px disk), even, at most the pattern size."""
    side = int(round(2 * radius * CROP_PER_DISK_DIAMETER / 2)) * 2
    return int(max(2, min(side, *pattern_shape)))


def crop_window(center: tuple[float, float], size: int, shape: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner (y0, x0) [px] of a ``size`` square centred on ``center`` and
    shifted as needed to stay inside a pattern of ``shape``."""
    origin = []
    for c, n in zip(center, shape):
        start = int(round(c - (size - 1) / 2))
        origin.append(min(max(start, 0), n - size))
    return origin[0], origin[1]


def crop(data: Dataset4D, size: int, center: tuple[float, float]) -> Dataset4D:
    """Cut a ``size`` x ``size`` window [px] around ``center`` (ky, kx) [px] from every pattern."""
    if size > min(data.pattern_shape):
        raise DataError(f"crop {size} px is larger than the patterns {data.pattern_shape} px")
    y0, x0 = crop_window(center, size, data.pattern_shape)
    out = data[:, :, y0 : y0 + size, x0 : x0 + size]
    return out.replace(step={"step": "crop", "size": size, "origin": [y0, x0],
                             "center": [round(center[0], 3), round(center[1], 3)]})


def _scale_detector(cal: Calibration, factor: float, center: tuple[float, float] | None) -> Calibration:
    """Calibration after resampling the detector by ``factor`` (new px = factor old px)."""
    values: dict[str, Any] = {}
    if cal.angular_sampling is not None:
        values["angular_sampling"] = tuple(a * factor for a in cal.angular_sampling)
    elif cal.k_sampling is not None:
        values["k_sampling"] = tuple(k * factor for k in cal.k_sampling)
    if center is not None:
        values["detector_center"] = center
    return cal.replace(source="derived", **values) if values else cal


def bin_patterns(data: Dataset4D, factor: int) -> Dataset4D:
    """Average ``factor`` x ``factor`` detector pixels (excess rows/columns trimmed)."""
    if factor == 1:
        return data
    array = da.coarsen(np.mean, data.to_dask().astype(FLOAT), {2: factor, 3: factor},
                       trim_excess=True)
    cal = data.calibration
    center = None
    if cal.detector_center is not None:
        center = tuple((c - (factor - 1) / 2) / factor for c in cal.detector_center)
    return data.replace(array=array, calibration=_scale_detector(cal, factor, center),
                        step={"step": "bin", "factor": factor})


def _zoom_block(block: np.ndarray, factors: tuple[float, float]) -> np.ndarray:
    return ndimage.zoom(block, (1, 1, *factors), order=3, grid_mode=True, mode="nearest")


def resize_patterns(data: Dataset4D, size: int) -> Dataset4D:
    """Resample every pattern to ``size`` x ``size`` px with cubic splines (bicubic)."""
    ky, kx = data.pattern_shape
    if (ky, kx) == (size, size):
        return data
    factors = (size / ky, size / kx)
    array = data.to_dask().astype(FLOAT).rechunk({2: -1, 3: -1})
    chunks = array.chunks[:2] + ((size,), (size,))
    array = array.map_blocks(_zoom_block, factors, chunks=chunks, dtype=FLOAT)
    cal = data.calibration
    center = None
    if cal.detector_center is not None:
        center = tuple((c + 0.5) * f - 0.5 for c, f in zip(cal.detector_center, factors))
    if cal.angular_sampling is not None or cal.k_sampling is not None:
        if not math.isclose(factors[0], factors[1]):
            raise DataError(f"resize to a square needs square patterns, got {(ky, kx)} px")
    return data.replace(array=array, calibration=_scale_detector(cal, 1 / factors[0], center),
                        step={"step": "resize", "size": size, "from": [ky, kx], "order": 3})


def subtract_mean(data: Dataset4D, mean: np.ndarray) -> Dataset4D:
    """Subtract the mean pattern ``mean`` (ky, kx) from every pattern."""
    mean = np.asarray(mean, dtype=FLOAT)
    if mean.shape != data.pattern_shape:
        raise DataError(f"mean pattern {mean.shape} does not match patterns {data.pattern_shape}")
    array = data.to_dask().astype(FLOAT) - mean
    return data.replace(array=array, step={"step": "subtract_mean"})


def normalize(data: Dataset4D, progress: bool | None = None) -> Dataset4D:
    """Min-max normalise the whole stack to [0, 1] (one global minimum and maximum)."""
    array = data.to_dask().astype(FLOAT)
    with DaskProgress("normalise", progress):
        low, high = (float(v) for v in da.compute(array.min(), array.max()))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise DataError(f"the patterns contain NaN or inf (min {low}, max {high}); replace them "
                        "first with symbreak.sanitize.check_input (analyze does)")
    if not high > low:
        raise DataError(f"all values equal ({low:g}), e.g. identical patterns after subtracting "
                        "the mean: min-max normalisation is undefined and nothing varies")
    array = (array - FLOAT(low)) / FLOAT(high - low)
    return data.replace(array=array, step={"step": "normalize", "min": low, "max": high})


def denoise(data: Dataset4D, n_components: int, keep: int,
            progress: bool | None = None) -> Dataset4D:
    """PCA denoising (:func:`symbreak.classical.pca_denoise`): keep the first ``keep`` of
    ``n_components`` components."""
    return pca_denoise(data, n_components=n_components, keep=keep, progress=progress)


def geometry(data: Dataset4D, settings: PreprocessSettings, mean: np.ndarray | None = None,
             progress: bool | None = None) -> Dataset4D:
    """Crop around the COM of the mean pattern, bin and resize (no intensity changes but
    NaN/inf pixels, which become 0)."""
    settings.check_pattern_shape(data.pattern_shape)
    data = replace_nonfinite(data)
    if mean is None:
        mean = mean_pattern(data, progress)
    size = settings.crop if settings.crop is not None else default_crop(mean, data.calibration)
    out = crop(data, size, pattern_center(mean))
    out = bin_patterns(out, settings.bin)
    if settings.resize is not None:
        out = resize_patterns(out, settings.resize)
    return out


def preprocess(data: Any, settings: PreprocessSettings | None = None, *,
               progress: bool | None = None, **options: Any) -> Dataset4D:
    """Prepare 4D-STEM patterns for PCA and the rrVAE.

    Crop to ``crop`` px around the centre of mass of the mean pattern, bin, resize,
    subtract the mean pattern, PCA-denoise (optional), min-max normalise to [0, 1].
    NaN/inf pixels are replaced by 0 first; negative values are kept (min-max
    normalisation maps the global minimum to 0).

    Parameters
    ----------
    data
        Dataset4D, numpy/dask array (scan_y, scan_x, ky, kx) or anything ``as_dataset`` takes.
    settings
        A :class:`PreprocessSettings`; keywords (``crop=78``) override its fields.

    Returns
    -------
    Dataset4D
        Lazy float32 patterns with updated detector calibration and provenance.
    """
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(PreprocessSettings)})
    if unknown:
        raise SettingsError(f"unknown preprocessing option(s) {unknown}; known: "
                            f"{[f.name for f in dataclasses.fields(PreprocessSettings)]}")
    settings = dataclasses.replace(settings or PreprocessSettings(), **options)
    data = as_dataset(data)
    settings.check_pattern_shape(data.pattern_shape)
    out = geometry(data, settings, progress=progress)
    if settings.subtract_mean:
        out = subtract_mean(out, mean_pattern(out, progress))
    if settings.denoise:
        out = denoise(out, settings.denoise_components, settings.denoise_keep, progress)
    if settings.normalize:
        out = normalize(out, progress)
    crop_size = next(e["size"] for e in reversed(out.provenance) if e.get("step") == "crop")
    applied = dataclasses.replace(settings, crop=int(crop_size))  # 'auto' resolved
    return out.replace(step={"step": PREPROCESS_STEP, "settings": dataclasses.asdict(applied)})


def preprocessing_of(data: Dataset4D) -> dict | None:
    """The settings :func:`preprocess` used on ``data`` (from its provenance, so also for a
    file written by ``symbreak preprocess``); None when the data were not preprocessed."""
    for entry in reversed(data.provenance):
        if entry.get("step") == PREPROCESS_STEP:
            return dict(entry.get("settings") or {})
    return None
