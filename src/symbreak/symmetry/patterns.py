"""Whole-pattern descriptor: the few directions in pattern space in which patterns vary.

BF, ADF and the COM are each one weighted sum of pixels; a light substitution (N for C
in graphene) moves intensity between parts of the pattern that these sums do not tell
apart. Comparing whole patterns pixel by pixel keeps that information but sums thousands
of noise-only pixels, which drowns it. This module keeps the patterns' information and
drops the noise-only directions, in two streamed passes over the data:

1. bin the detector by summing counts (integer factors, at most :data:`MAX_SIDE` px a
   side and at most sqrt(number of patterns) px a side, so that there are no more pixels
   than patterns; edge pixels left over by the factor are dropped): sums of counts are
   counts, so the Poisson statistics stay;
2. variance-stabilise: counts by the Anscombe transform ``2 sqrt(n + 3/8)`` (Poisson
   noise of mean >~ 1 becomes unit-variance Gaussian; of lower means, less than 1);
   noise-free (non-integer) data by ``2 sqrt(x)``, the same square-root scale without a
   noise of its own;
3. covariance PCA of the transformed patterns over the scan
   (:mod:`symbreak.classical.covariance_pca`, one pass in chunks within the memory
   budget);
4. keep the components whose eigenvalue exceeds the Marchenko-Pastur edge of the noise,
   ``sigma^2 (1 + sqrt(p / n))^2`` for ``n`` patterns of ``p`` binned pixels, the largest
   eigenvalue pure noise of variance ``sigma^2`` per pixel reaches (plus its 1 %
   finite-sample margin, :func:`marchenko_pastur_edge`). Counts: the noise model is
   the counting statistics, ``sigma^2`` per pixel the exact Anscombe variance of the
   pixel's mean count (1 for bright pixels, less for pixels of a few electrons or
   fewer: :func:`counting_noise`), with the edge of the generalised Marchenko-Pastur
   law for unequal variances. Data that are not counts have no noise model, so
   ``sigma^2`` is estimated as the variance per pixel left over after the components
   above the edge (:func:`estimated_noise`), floored at ``NOISE_FREE_FLOOR`` x the
   largest eigenvalue (noise-free data: components with less than that fraction of the
   leading variance are round-off). The count is clipped to
   [:data:`MIN_COMPONENTS`, :data:`MAX_COMPONENTS`];
5. project: the channels (K, scan_y, scan_x) are the scores of the transformed patterns
   on the kept components, in Anscombe units (the shot noise of counts has sd at most 1
   in each: :attr:`PatternChannels.noise_sd`).

The symmetry stage compares each channel with its lattice-equivalent positions
(:mod:`symbreak.symmetry.reference`), so that a pattern is compared with its
lattice-equivalent reference in the directions where patterns actually differ.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import dask.array as da
import numpy as np
from scipy import optimize, stats

from ..classical import covariance_pca as cp
from ..dataset import Dataset4D
from ..engine import as_chunked
from ..errors import DataError

MAX_SIDE = 64  # [px] largest binned detector side
MIN_COMPONENTS, MAX_COMPONENTS = 2, 32  # kept components
NOISE_FREE_FLOOR = 1e-4  # noise variance of noise-free data, x the largest eigenvalue
TRACY_WIDOM_99 = 2.02  # 99th percentile of the Tracy-Widom law (real data, beta = 1)


@dataclasses.dataclass(frozen=True)
class PatternChannels:
    """The whole-pattern descriptor of a scan.

    Attributes
    ----------
    channels
        (K, scan_y, scan_x) scores on the kept components [Anscombe units: the shot
        noise of counts has sd 1 in each].
    eigenvalues
        (MAX_COMPONENTS or fewer,) leading eigenvalues of the transformed patterns'
        covariance, largest first [Anscombe units squared].
    edge
        Marchenko-Pastur edge the kept eigenvalues exceed [Anscombe units squared].
    noise_variance
        Mean ``sigma^2`` per pixel of the edge [Anscombe units squared]: the counting
        noise (:func:`counting_noise`) for counts, else estimated
        (:func:`estimated_noise`).
    noise_sd
        (K,) shot-noise sd of each channel, ``sqrt(sum_j u_j^2 v_j)`` for the component
        ``u`` and the counting noise ``v`` per pixel (at most 1) [Anscombe units]; None
        for data that are not counts.
    binning
        (fy, fx) detector pixels summed into one.
    counts
        Whether the data were treated as counts (Poisson noise).
    """

    channels: np.ndarray
    eigenvalues: np.ndarray
    edge: float
    noise_variance: float
    noise_sd: np.ndarray | None
    binning: tuple[int, int]
    counts: bool


def binning(pattern_shape: tuple[int, int], n_patterns: int | None = None,
            max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The smallest integer factors (fy, fx) that bin a pattern to at most ``max_side``
    px a side and, given ``n_patterns``, to at most sqrt(n_patterns) px a side (no more
    pixels than patterns: the noise edge stays within 4 sigma^2, so weak components can
    rise above it)."""
    side = max_side if n_patterns is None else max(4, min(max_side, int(np.sqrt(n_patterns))))
    return tuple(max(1, -(-int(k) // side)) for k in pattern_shape)  # type: ignore


def binned(x: da.Array, factors: tuple[int, int]) -> da.Array:
    """Patterns (scan_y, scan_x, ky, kx) with ``factors`` (fy, fx) pixels summed into one
    (float64; the pixels left over at the high edges are dropped)."""
    x = x.astype(np.float64)
    if factors == (1, 1):
        return x
    if x.chunks[2][0] < x.shape[2] or x.chunks[3][0] < x.shape[3]:
        x = x.rechunk({2: -1, 3: -1})
    return da.coarsen(np.sum, x, {2: factors[0], 3: factors[1]}, trim_excess=True)


def stabilised(x: Any, counts: bool) -> Any:
    """Anscombe ``2 sqrt(x + 3/8)`` of counts, ``2 sqrt(x)`` of noise-free data
    (negative values clipped at 0); works on numpy and dask arrays."""
    clipped = np.maximum(x, 0.0)
    return 2.0 * np.sqrt(clipped + 0.375) if counts else 2.0 * np.sqrt(clipped)


def anscombe_moments(mean_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and variance of ``2 sqrt(N + 3/8)`` for N ~ Poisson(``mean_counts``)
    (summed over N; the variance is 1 within 0.2 % above 10 counts, 0.72 at 1 count, ->
    0 at 0 counts)."""
    lam = np.minimum(np.asarray(mean_counts, float), 200.0)
    k = np.arange(400.0).reshape((-1,) + (1,) * lam.ndim)
    weights = stats.poisson.pmf(k, lam)
    a = 2.0 * np.sqrt(k + 0.375)
    mean = (weights * a).sum(axis=0)
    return mean, np.maximum((weights * a * a).sum(axis=0) - mean ** 2, 0.0)


def counting_noise(anscombe_mean: np.ndarray) -> np.ndarray:
    """Shot-noise variance per pixel of Anscombe-transformed counts whose mean over the
    scan is ``anscombe_mean``: the Poisson mean with that Anscombe mean
    (:func:`anscombe_moments`, inverted), then its Anscombe variance (1 for bright
    pixels, less for pixels of a few electrons or fewer)."""
    grid = np.concatenate([[0.0], np.geomspace(1e-3, 200.0, 300)])
    means, variances = anscombe_moments(grid)
    lam = np.interp(np.asarray(anscombe_mean, float), means, grid)
    return np.interp(lam, grid, variances)


def marchenko_pastur_edge(noise_variance: float | np.ndarray, n_patterns: int,
                          n_pixels: int) -> float:
    """Largest eigenvalue that the sample covariance of ``n_patterns`` samples of
    ``n_pixels`` independent noise values reaches, plus the 1 % Tracy-Widom margin of a
    finite sample (Johnstone 2001: ``TRACY_WIDOM_99 (sqrt m + sqrt p)(1/sqrt m +
    1/sqrt p)^(1/3) / m`` in units of the variance, under 3 % of the edge for hundreds
    of patterns), so that pure noise keeps no component 99 times in 100.

    ``noise_variance``: one variance ``sigma^2`` for every pixel (edge ``sigma^2 (1 +
    sqrt(p / m))^2``, m = n - 1), or one per pixel (p,): then the edge of the
    generalised Marchenko-Pastur law, the minimum over -1/max(v) < t < 0 of ``-1/t +
    (p/m) mean(v / (1 + v t))`` (Silverstein & Choi 1995), which is the formula above
    for equal variances."""
    m, p = max(n_patterns - 1, 1), max(n_pixels, 1)
    root = np.sqrt(m) + np.sqrt(p)
    relative = 1 + TRACY_WIDOM_99 * root * (1 / np.sqrt(m) + 1 / np.sqrt(p)) ** (1 / 3) / root ** 2
    v = np.asarray(noise_variance, float)
    if v.ndim == 0:
        return float(v * root ** 2 / m * relative)
    top = float(v.max())
    if top <= 0:
        return 0.0
    edge = optimize.minimize_scalar(lambda t: -1 / t + p / m * np.mean(v / (1 + v * t)),
                                    bounds=(-1 / top * (1 - 1e-9), -1e-12 / top),
                                    method="bounded", options={"xatol": 1e-10 / top})
    return float(edge.fun * relative)


def estimated_noise(eigenvalues: np.ndarray, trace: float, n_patterns: int,
                    n_pixels: int) -> float:
    """Noise variance per pixel of data without a noise model: the variance left over
    after the components above the edge, per pixel (``(trace - sum of those
    eigenvalues) / p``, iterated to a fixed point), at least NOISE_FREE_FLOOR x the
    largest eigenvalue (the round-off level of noise-free data)."""
    values = np.asarray(eigenvalues, float)
    floor = NOISE_FREE_FLOOR * max(float(values[0]), np.finfo(float).tiny)
    noise = max(trace / n_pixels, floor)
    for _ in range(20):
        edge = marchenko_pastur_edge(noise, n_patterns, n_pixels)
        noise = max((trace - values[values > edge].sum()) / n_pixels, floor)
    return float(noise)


def kept_components(eigenvalues: np.ndarray, edge: float) -> int:
    """How many eigenvalues exceed ``edge``, clipped to [MIN_COMPONENTS, MAX_COMPONENTS]
    (and to the number of eigenvalues)."""
    above = int(np.sum(np.asarray(eigenvalues) > edge))
    return int(min(np.clip(above, MIN_COMPONENTS, MAX_COMPONENTS), len(eigenvalues)))


def pattern_channels(data: Dataset4D, counts: bool, progress: Any = None) -> PatternChannels:
    """The whole-pattern descriptor of ``data`` (see the module docstring).

    Parameters
    ----------
    data
        Raw patterns (not normalised: the statistics are those of the counts).
    counts
        True when the values are electron counts with their Poisson noise.

    Raises
    ------
    DataError
        When the binned patterns' covariance does not fit the memory budget, or the data
        are not finite.
    """
    factors = binning(data.pattern_shape, int(np.prod(data.scan_shape)))
    x = stabilised(binned(as_chunked(data), factors), counts)
    flat = cp.flat_patterns(x)
    n, p = flat.shape
    if not cp.fits(p):
        raise DataError(f"the covariance of {p}-pixel binned patterns does not fit the memory "
                        "budget; run analyze with a larger --memory-budget")
    cov, mean = cp.covariance(flat, progress, desc="whole-pattern covariance")
    top = min(MAX_COMPONENTS, p, max(n - 1, 1))
    values, components = cp.leading_components(cov, top)
    noise = (counting_noise(mean) if counts
             else estimated_noise(values, float(np.trace(cov)), n, p))
    edge = marchenko_pastur_edge(noise, n, p)
    k = kept_components(values, edge)
    scores = cp.project(flat, mean, components[:k], progress, desc="whole-pattern scores")
    channels = scores.T.reshape((k,) + tuple(data.scan_shape))
    channel_sd = np.sqrt(components[:k] ** 2 @ noise) if counts else None
    return PatternChannels(channels, values, edge, float(np.mean(noise)), channel_sd, factors,
                           counts)
