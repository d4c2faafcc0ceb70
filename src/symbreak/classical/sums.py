"""Weighted sums of every pattern in one pass: the compiled kernel that COM and the
virtual detectors share.

:func:`pattern_sums` gives, for each pattern, its sums weighted by a few images (a mask,
the first moments, detector annuli), reading each pixel once in a cache-sized sub-block;
non-finite pixels count as zero, and counts that float32 could round are summed again in
float64 (:func:`kernel_dtype`, :func:`exact_columns`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..arrays import pattern_rows
from ..dataset import Dataset4D

_SUB_BLOCK_BYTES = 8 << 20  # patterns checked (and converted, if needed) at a time
EXACT_FLOAT32 = 2**24  # float32 holds every integer up to this


def moment_weights(shape: tuple[int, int], mask: np.ndarray | None, dtype: Any,
                   padded: bool = False) -> np.ndarray:
    """(3, ky*kx) weights, one row per output: [mask, mask*(kx - x0), mask*(ky - y0)],
    where (y0, x0) is the geometric pattern centre (centred moments keep float32
    precise). ``padded`` adds a zero fourth row (see :func:`pattern_sums`). Built directly
    in ``dtype``: for 2048 x 2048 px patterns it is 64 MiB in float32 (padded), so no
    float64 copy."""
    ky, kx = shape
    w = np.zeros((4 if padded else 3, ky, kx), dtype=dtype)
    w[0] = 1
    w[1] = (np.arange(kx) - (kx - 1) / 2)[None, :]
    w[2] = (np.arange(ky) - (ky - 1) / 2)[:, None]
    if mask is not None:
        w[:3] *= mask
    return w.reshape(w.shape[0], ky * kx)


def pad_outputs(weights: np.ndarray) -> np.ndarray:
    """``weights`` (outputs, pixels) with zero rows added up to a multiple of 4 outputs
    (a copy only if needed)."""
    n = weights.shape[0]
    if n % 4 == 0:
        return weights
    padded = np.zeros((-(-n // 4) * 4, weights.shape[1]), dtype=weights.dtype)
    padded[:n] = weights
    return padded


def pattern_sums(block: np.ndarray, weights: np.ndarray, threshold: float | None = None,
                 columns: int | None = None, exact: int = 0, moments: bool = False
                 ) -> np.ndarray:
    """Kernel: (a, b, ky, kx) patterns -> (a, b, n) sums weighted by each row of
    ``weights`` (n, ky*kx).

    The sums run in a compiled kernel (:mod:`symbreak.engine.kernels`) that reads each
    pixel once, in the weights' type; pixels below ``threshold`` count as zero. Pass
    weights padded to a multiple of 4 rows (:func:`pad_outputs`) and ``columns``, the
    number of real outputs, to avoid a copy per call.
    NaN/inf pixels count as zero: patterns whose sums come out non-finite are summed
    again with those pixels replaced, so clean data pay nothing for the check.
    The first ``exact`` columns hold counts of non-negative integers that must come out
    exact: float32 sums near or above 2^24 are redone in float64 (exact to 2^53), and
    once most patterns need that the rest of the block is summed in float64 directly.
    """
    a, b, ky, kx = block.shape
    n_out = columns or weights.shape[0]
    out = np.empty((a * b, n_out))
    summer = _summer(pad_outputs(weights), threshold, exact if weights.dtype == np.float32 else 0,
                     (ky, kx) if moments else None)
    for start, rows in pattern_rows(block):
        summer.run(rows, out[start:start + len(rows)])
    return out.reshape(a, b, n_out)


def _summer(weights: np.ndarray, threshold: float | None, exact: int,
            moments: tuple[int, int] | None) -> _Summer:
    """A :class:`_Summer` for these (padded) weights, reused by the chunks of one pass."""
    key = (id(weights), threshold, exact, moments)
    cached = _SUMMERS.get(key)
    if cached is None or cached.source is not weights:
        cached = _Summer(weights, threshold, exact, moments)
        _SUMMERS.clear()  # one pass at a time needs one summer; never grows
        _SUMMERS[key] = cached
    return cached


class _Summer:
    """``rows @ weights`` in the compiled kernel, a cache-sized sub-block at a time, with
    the checks of :func:`pattern_sums` (non-finite pixels, exact float32 counts)."""

    def __init__(self, weights: np.ndarray, threshold: float | None, exact: int,
                 moments: tuple[int, int] | None = None) -> None:
        self.source, self.threshold, self.exact = weights, threshold, exact
        self.weights_t = np.ascontiguousarray(weights)
        self.moments = moments  # (ky, kx) when the weights are unmasked moments
        self.coordinates: dict[Any, tuple[np.ndarray, np.ndarray]] = {}  # by weights' type
        self.wide_t: np.ndarray | None = None  # float64 weights, made when first needed
        self.step = max(4, _SUB_BLOCK_BYTES // (weights.shape[1] * weights.dtype.itemsize))

    def run(self, flat: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out`` (patterns, columns) for ``flat`` (patterns, pixels)."""
        n_out = out.shape[1]
        weights_t = self.weights_t
        limit = EXACT_FLOAT32 - flat.shape[1]  # float32 sums of n terms >= (1 - n 2^-24) x true
        for i in range(0, len(flat), self.step):
            rows, part = flat[i:i + self.step], out[i:i + self.step]
            part[:] = self.sums(rows, weights_t)[:, :n_out]
            bad = ~np.isfinite(part).all(axis=1)
            if bad.any():
                part[bad] = self.sums(rows[bad], weights_t, finite=True)[:, :n_out]
            if self.exact and weights_t is self.weights_t:
                redo = (np.abs(part[:, :self.exact]) >= limit).any(axis=1)
                if redo.any():
                    part[redo] = self.sums(rows[redo], self.wide(), finite=True)[:, :n_out]
                    if redo.mean() > 0.5:
                        weights_t = self.wide()

    def pixel_coordinates(self, weights_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(y, x) pixel coordinates, read once from the moment weights of this type."""
        if weights_t.dtype not in self.coordinates:
            kx = self.moments[1]
            self.coordinates[weights_t.dtype] = (np.ascontiguousarray(weights_t[2, ::kx]),
                                                 np.ascontiguousarray(weights_t[1, :kx]))
        return self.coordinates[weights_t.dtype]

    def wide(self) -> np.ndarray:
        if self.wide_t is None:
            self.wide_t = self.weights_t.astype(np.float64)
        return self.wide_t

    def sums(self, rows: np.ndarray, weights_t: np.ndarray, finite: bool = False
             ) -> np.ndarray:
        from ..engine import kernels

        if finite or not kernels.reads_directly(rows):
            rows = rows.astype(weights_t.dtype)  # one sub-block: stays in cache
            if finite:
                rows[~np.isfinite(rows)] = 0
        out = np.empty((len(rows), weights_t.shape[0]), weights_t.dtype)
        if self.moments is not None:
            y, x = self.pixel_coordinates(weights_t)
            return kernels.moment_sums(rows, y, x, out, self.threshold)
        with np.errstate(invalid="ignore", over="ignore"):
            return kernels.weighted_sums(rows, weights_t, out, self.threshold)


_SUMMERS: dict[tuple[int, float | None, int, tuple[int, int] | None], _Summer] = {}


def _largest_sum(data: Dataset4D) -> int:
    info = np.iinfo(data.dtype) if data.dtype.kind in "iu" else None
    largest = 1 if info is None else max(abs(int(info.min)), int(info.max))
    return largest * data.pattern_shape[0] * data.pattern_shape[1]


def kernel_dtype(data: Dataset4D) -> type:
    """The type the kernels sum in: float64 for float64 data and for signed integer data
    whose sums could pass 2^24 (dtype range x pixels), where float32 stops counting
    exactly; float32 otherwise (float16 is upcast; unsigned counts see
    :func:`exact_columns`)."""
    if data.dtype == np.float64:
        return np.float64
    if data.dtype.kind == "i" and _largest_sum(data) > EXACT_FLOAT32:
        return np.float64
    return np.float32


def exact_columns(data: Dataset4D, n_counts: int) -> int:
    """``exact`` for :func:`pattern_sums`: ``n_counts`` for unsigned integer data whose
    sums could pass 2^24 (those patterns are summed again in float64), else 0."""
    if data.dtype.kind in "ub" and _largest_sum(data) > EXACT_FLOAT32:
        return n_counts
    return 0


def moments_kernel(data: Dataset4D, mask: np.ndarray | None, threshold: float | None = None
                   ) -> functools.partial:
    """The kernel giving (intensity, kx moment, ky moment) of every pattern of ``data``."""
    weights = moment_weights(data.pattern_shape, mask, kernel_dtype(data), padded=True)
    return functools.partial(pattern_sums, weights=weights, threshold=threshold, columns=3,
                             exact=exact_columns(data, 1), moments=mask is None)
