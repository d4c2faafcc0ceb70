"""The ideal observer: the physical limit of telling a defect from the perfect crystal.

The limit is set by shot noise alone. From a noise-free simulation the expected counts
of every detector pixel at a dose are known, with the defect (``a``) and without it
(``b``: what the perfect crystal gives at the same position in its cell). The ideal
observer sees the counts ``n_pk`` of every pixel ``k`` of every probe ``p`` near the
defect and computes the Poisson log-likelihood ratio

    LLR = sum_pk n_pk log(a_pk / b_pk) - (a_pk - b_pk)

(by Neyman-Pearson no statistic of the same counts tells the two apart better). Its
significance d' [σ] is the distance between its means under the two hypotheses in
units of its sd under the perfect crystal (H0):

    exact:    d' = sum (a - b) log(a / b) / sqrt(sum b log(a / b)^2)
    Gaussian: d'^2 = sum (a - b)^2 / b        (the limit a -> b of the exact form)

Counts scale with the dose D, so d' grows as sqrt(D). Pooling independent probes adds
their d'^2 (Gaussian form). The pooled d' of the probes within ``DEFECT_RADIUS`` of a
defect is the defect's ideal significance; a map's score at the defect [σ] over it is
the map's dose efficiency (its square: the fraction of the dose the map puts to use).

Dark pixels: where the perfect crystal sends no electrons (b = 0) one count proves the
defect (d' infinite), and a fitted reference can dip to or below zero in dark pixels.
Each pattern's reference is therefore raised to a floor of ``FLOOR`` x its mean pixel
count, and so is ``a`` (where both lie below the floor they are equal and add nothing:
abTEM's far dark field holds ~1e-4 counts per pixel that would otherwise each add
``floor`` to d'^2), which makes such pixels count finitely (a
lower bound on what they add) and keeps d' exactly proportional to sqrt(D); with
``floor=0`` pixels with b <= 0 are left out instead.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataError, SettingsError

DEFECT_RADIUS = 1.5  # [Å] probes pooled around a defect or a site
FLOOR = 1e-3  # reference counts floor, as a fraction of the pattern's mean pixel count


def electrons_per_probe(dose: float, scan_step: Sequence[float]) -> float:
    """Incident electrons per probe position: dose [e/Å²] x scan step area dy dx [Å²]."""
    if not (np.isfinite(dose) and dose > 0):
        raise SettingsError(f"dose={dose!r} must be a positive number of electrons per "
                            "Å², e.g. 1e5")
    dy, dx = (float(s) for s in scan_step)
    if not (dy > 0 and dx > 0):
        raise SettingsError(f"scan step {tuple(scan_step)} Å must be positive, e.g. "
                            "(0.25, 0.25)")
    return float(dose) * dy * dx


def expected_counts(patterns: ArrayLike, dose: float, scan_step: Sequence[float]
                    ) -> np.ndarray:
    """Expected electron counts per pixel of noise-free patterns at a dose.

    Parameters
    ----------
    patterns
        (..., ky, kx) beam-normalised intensities, as ``symbreak.simulate`` stores them
        without a dose: each pattern sums to the fraction of the incident beam that the
        detector records (1 for a detector that catches every electron). Small negative
        values (interpolation ringing) are set to 0.
    dose
        Electron dose [e/Å²].
    scan_step
        (dy, dx) [Å]: each probe position gets dose x dy x dx electrons.

    Returns
    -------
    np.ndarray
        (..., ky, kx) float64 expected counts [electrons per pixel]: N x patterns with
        N = dose x dy x dx, the mean of the Poisson counts ``simulate(dose=...)`` draws.
    """
    values = np.asarray(patterns, dtype=float)
    if not np.all(np.isfinite(values)):
        raise DataError("the noise-free patterns hold NaN or infinite values; give the "
                        "finite intensities of a simulation without a dose")
    return electrons_per_probe(dose, scan_step) * np.clip(values, 0.0, None)


def _floored(values: np.ndarray, floor: float, reference: np.ndarray) -> np.ndarray:
    """``values`` raised to ``floor`` x the mean pixel of each ``reference`` pattern."""
    mean = np.clip(reference, 0.0, None).mean(axis=(-2, -1), keepdims=True)
    return np.maximum(values, floor * mean)


def pixel_terms(a: ArrayLike, b: ArrayLike, *, floor: float = FLOOR, exact: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the LLR's mean shift (H1 minus H0) and its variance under H0 [counts].

    Parameters
    ----------
    a, b
        (..., ky, kx) expected counts with the defect (H1) and of the perfect crystal (H0).
    floor
        Reference floor as a fraction of each pattern's mean pixel count of ``b`` (see
        the module's notes); 0 leaves pixels with b <= 0 out.
    exact
        The exact Poisson LLR (shift ``(a - b) log(a/b)``, variance ``b log(a/b)^2``)
        instead of its Gaussian limit (both ``(a - b)^2 / b``).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim < 2:
        raise DataError(f"patterns with and without the defect differ in shape: {a.shape} "
                        f"vs {b.shape}; give (..., ky, kx) expected counts of one shape")
    if not (np.isfinite(floor) and floor >= 0):
        raise SettingsError(f"floor={floor!r} must be >= 0, e.g. {FLOOR}")
    b_eff = _floored(b, floor, b)
    a_eff = _floored(np.clip(a, 0.0, None), floor, b)  # a = b stays a = b below the floor
    used = b_eff > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if exact:
            used &= a_eff > 0
            log_ratio = np.log(np.where(used, a_eff, 1.0) / np.where(used, b_eff, 1.0))
            return (np.where(used, (a_eff - b_eff) * log_ratio, 0.0),
                    np.where(used, b_eff * log_ratio ** 2, 0.0))
        d2 = np.where(used, (a_eff - b_eff) ** 2 / np.where(used, b_eff, 1.0), 0.0)
    return d2, d2


def significance(a: ArrayLike, b: ArrayLike, *, floor: float = FLOOR, exact: bool = False,
                 pool: bool = True) -> float | np.ndarray:
    """The ideal observer's significance d' [σ] of telling counts ``a`` from ``b``.

    Parameters
    ----------
    a, b
        (..., ky, kx) expected counts [electrons per pixel] with the defect and of the
        perfect crystal, pattern for pattern (see :func:`expected_counts`).
    floor, exact
        See :func:`pixel_terms`.
    pool
        One d' for all patterns together (default), else one per pattern (...,).

    Returns
    -------
    float or np.ndarray
        ``sum shift / sqrt(sum variance)`` over the pooled pixels: Gaussian
        ``sqrt(sum (a - b)^2 / b)``; 0 where the patterns are the same.
    """
    shift, variance = pixel_terms(a, b, floor=floor, exact=exact)
    axes = None if pool else (-2, -1)
    num, var = shift.sum(axis=axes), variance.sum(axis=axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    return float(d) if pool else d


def within(probes: ArrayLike, centre: ArrayLike, radius: float,
           period: Sequence[float] | None = None) -> np.ndarray:
    """Which probes (n, 2) (y, x) [Å] lie within ``radius`` [Å] of ``centre`` (y, x) [Å];
    with ``period`` (y, x) [Å] (a periodic supercell) by the minimum image."""
    delta = np.asarray(probes, float).reshape(-1, 2) - np.asarray(centre, float)
    if period is not None:
        p = np.asarray(period, float)
        delta -= p * np.round(delta / p)
    return np.hypot(delta[:, 0], delta[:, 1]) <= radius


def defect_significance(a: ArrayLike, b: ArrayLike, probes: ArrayLike, defects: ArrayLike,
                        *, radius: float = DEFECT_RADIUS,
                        period: Sequence[float] | None = None, floor: float = FLOOR,
                        exact: bool = False) -> np.ndarray:
    """The ideal significance [σ] of each defect: d' pooled over the probes within
    ``radius`` of it.

    Parameters
    ----------
    a, b
        (ny, nx, ky, kx) or (n, ky, kx) expected counts of the defect scan and of the
        perfect crystal at the same positions (given, or :func:`~symbreak.metrics.
        ideal_reference.reference_counts` of the defect scan).
    probes
        (ny, nx, 2) or (n, 2) probe positions (y, x) [Å] in the frame of ``defects``.
    defects
        (m, 2) defect positions (y, x) [Å].
    radius
        Pooling radius [Å] (default 1.5 Å).
    period
        (y, x) supercell size [Å] for minimum-image distances (None: plain distances).
    floor, exact
        See :func:`pixel_terms`.

    Returns
    -------
    np.ndarray
        (m,) pooled d' [σ]; NaN for a defect with no probe within ``radius``.
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a, b = a.reshape((-1,) + a.shape[-2:]), b.reshape((-1,) + b.shape[-2:])
    probes = np.asarray(probes, float).reshape(-1, 2)
    if len(probes) != len(a):
        raise DataError(f"{len(probes)} probe positions for {len(a)} patterns; give one "
                        "(y, x) position per pattern")
    out = []
    for centre in np.asarray(defects, float).reshape(-1, 2):
        near = within(probes, centre, radius, period)
        out.append(significance(a[near], b[near], floor=floor, exact=exact)
                   if near.any() else np.nan)
    return np.asarray(out, float)


def dose_efficiency(map_sigma: ArrayLike, ideal_sigma: ArrayLike) -> np.ndarray:
    """A map's dose efficiency: its score at the defect [σ] / the ideal significance [σ].

    1 means the map tells the defect apart as well as the ideal observer of every pixel
    at that dose; its square is the fraction of the dose the map puts to use (a map of
    efficiency 0.5 needs 4 x the dose to reach the ideal's significance). NaN where the
    ideal significance is 0 or not finite.
    """
    m = np.asarray(map_sigma, float)
    i = np.asarray(ideal_sigma, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(i) & (i > 0), m / i, np.nan)
