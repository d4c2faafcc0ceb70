"""The perfect crystal's expected patterns for the ideal observer
(:mod:`symbreak.metrics.ideal`), and the ideal significance of telling two sites apart.

The reference of a noise-free defect scan is its lattice-periodic part: every detector
pixel, as a map over the scan, is fitted with the lattice-periodic Fourier series of
:mod:`symbreak.symmetry.periodic` (harmonics up to the scan's Nyquist frequency, at most
a third as many parameters as positions), leaving out the probes near a defect. All
pixels share the design matrix, so this is one least-squares solve with the pixels as
right-hand sides. The fit is linear: give intensities and get intensities, give expected
counts and get expected counts.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import DataError
from ..symmetry import periodic
from ..symmetry.folding import evaluate, scan_positions
from ..symmetry.lattice import Lattice
from .ideal import DEFECT_RADIUS, FLOOR, significance, within

EXCLUDE_MARGIN = 3.0  # [Å] probes this close to a defect are left out of the reference


@dataclasses.dataclass(frozen=True)
class PeriodicPatterns:
    """Lattice-periodic patterns, defined at any position.

    Attributes
    ----------
    lattice
        The lattice the series is periodic on.
    hk
        (m, 2) harmonics.
    coef
        (1 + 2 m, ky * kx) coefficients, one column per detector pixel.
    detector_shape
        (ky, kx).
    origin
        (y, x) [Å] of the first probe of the fitted scan, in the frame :meth:`at` takes.
    """

    lattice: Lattice
    hk: np.ndarray
    coef: np.ndarray
    detector_shape: tuple[int, int]
    origin: tuple[float, float] = (0.0, 0.0)

    def at(self, y: ArrayLike, x: ArrayLike) -> np.ndarray:
        """(n, ky, kx) patterns at positions y, x [Å] (flattened), in the units fitted."""
        y = np.ravel(np.asarray(y, float)) - self.origin[0]
        x = np.ravel(np.asarray(x, float)) - self.origin[1]
        flat = evaluate(self.lattice, self.hk, self.coef, y, x)
        return flat.reshape((-1,) + tuple(self.detector_shape))


def periodic_patterns(patterns: ArrayLike, lattice: Lattice, step: Sequence[float],
                      exclude: ArrayLike | None = None,
                      origin: Sequence[float] = (0.0, 0.0),
                      terms: int | None = None) -> PeriodicPatterns:
    """Least-squares lattice-periodic fit of every pixel of a scan's patterns.

    Parameters
    ----------
    patterns
        (ny, nx, ky, kx) noise-free intensities or expected counts.
    lattice
        The crystal's lattice (the truth's, or the symmetry stage's
        ``symmetry_lattice``), in the scan frame (y, x) [Å].
    step
        Scan step (dy, dx) [Å].
    exclude
        (ny, nx) True for probes left out of the fit (near a defect).
    origin
        (y, x) [Å] of the first probe in the frame positions will be given in.
    terms
        Most harmonics (default: a third as many parameters as probes kept, which keeps
        a fit that leaves probes out well determined; a scan of exactly one periodic
        cell can take every harmonic up to its Nyquist frequency).
    """
    values = np.asarray(patterns, float)
    if values.ndim != 4:
        raise DataError(f"patterns of shape {values.shape}: give a scan of patterns "
                        "(scan_y, scan_x, ky, kx)")
    ny, nx, ky, kx = values.shape
    flat = values.reshape(ny * nx, ky * kx)
    kept = np.all(np.isfinite(flat), axis=1)
    if exclude is not None:
        kept &= ~np.asarray(exclude, bool).ravel()
    # a third as many parameters as the probes kept: the fit stays well determined
    most = periodic.max_terms(int(kept.sum())) if terms is None else int(terms)
    hk = periodic.harmonics(lattice.reciprocal, 0.5 / max(step), most)
    if kept.sum() < 1 + 2 * len(hk):
        raise DataError(f"only {int(kept.sum())} probes outside the defects for "
                        f"{1 + 2 * len(hk)} periodic terms; scan more of the perfect "
                        "crystal or give a smaller exclusion margin")
    y, x = scan_positions((ny, nx), tuple(step))
    design = periodic.design(lattice.reciprocal, hk, y[kept], x[kept])
    coef = periodic.solve(design, flat[kept])
    return PeriodicPatterns(lattice, hk, coef, (ky, kx),
                            (float(origin[0]), float(origin[1])))


def near_defects(probes: ArrayLike, defects: ArrayLike, margin: float = EXCLUDE_MARGIN,
                 period: Sequence[float] | None = None) -> np.ndarray:
    """(n,) True for probes (n, 2) (y, x) [Å] within ``margin`` [Å] of any defect."""
    probes = np.asarray(probes, float).reshape(-1, 2)
    near = np.zeros(len(probes), bool)
    for centre in np.asarray(defects, float).reshape(-1, 2):
        near |= within(probes, centre, margin, period)
    return near


def reference_counts(patterns: ArrayLike, lattice: Lattice, step: Sequence[float],
                     probes: ArrayLike, defects: ArrayLike, *,
                     margin: float = EXCLUDE_MARGIN,
                     period: Sequence[float] | None = None) -> np.ndarray:
    """What the perfect crystal gives at every probe of a noise-free defect scan: the
    lattice-periodic fit of :func:`periodic_patterns` with the probes within ``margin``
    [Å] of any defect left out, evaluated at every probe.

    Parameters
    ----------
    patterns
        (ny, nx, ky, kx) noise-free patterns of the defect scan (intensities or counts).
    lattice, step
        See :func:`periodic_patterns`.
    probes
        (ny, nx, 2) probe positions (y, x) [Å] in the frame of ``defects``.
    defects
        (m, 2) defect positions (y, x) [Å].
    margin
        [Å] around each defect left out of the fit (default 3 Å: the probe's tails).
    period
        (y, x) supercell [Å] for minimum-image distances.

    Returns
    -------
    np.ndarray
        (ny, nx, ky, kx) reference, in the units of ``patterns``.
    """
    values = np.asarray(patterns, float)
    if values.ndim != 4:
        raise DataError(f"patterns of shape {values.shape}: give a scan of patterns "
                        "(scan_y, scan_x, ky, kx)")
    exclude = near_defects(probes, defects, margin, period).reshape(values.shape[:2])
    fit = periodic_patterns(values, lattice, step, exclude)
    y, x = scan_positions(values.shape[:2], tuple(step))
    return fit.at(y, x).reshape(values.shape)


def site_offsets(step: Sequence[float], radius: float = DEFECT_RADIUS) -> np.ndarray:
    """(n, 2) offsets (y, x) [Å] on the scan grid within ``radius`` of 0: the probes a
    scan at this step puts around a site."""
    dy, dx = (float(s) for s in step)
    iy = np.arange(-int(radius / dy), int(radius / dy) + 1)
    ix = np.arange(-int(radius / dx), int(radius / dx) + 1)
    Y, X = np.meshgrid(iy * dy, ix * dx, indexing="ij")
    keep = np.hypot(Y, X) <= radius
    return np.stack([Y[keep], X[keep]], axis=1)


def site_pair_significance(perfect: PeriodicPatterns, site_a: Sequence[float],
                           site_b: Sequence[float], step: Sequence[float], *,
                           radius: float = DEFECT_RADIUS, floor: float = FLOOR,
                           exact: bool = False) -> float:
    """The ideal significance [σ] of telling site A from site B of the perfect crystal.

    The probes around each site are matched by their offset from it (the offsets of the
    scan grid within ``radius``), and d' is pooled over them with B's patterns as the
    reference (H0): ``d'^2 = sum_o sum_k (A_k(o) - B_k(o))^2 / B_k(o)``.

    Parameters
    ----------
    perfect
        The perfect crystal's patterns in expected counts (:func:`periodic_patterns` of
        :func:`~symbreak.metrics.ideal.expected_counts`).
    site_a, site_b
        Site positions (y, x) [Å] in the frame of ``perfect``.
    step
        Scan step (dy, dx) [Å] of the probes matched around each site.
    radius, floor, exact
        See :func:`~symbreak.metrics.ideal.defect_significance`.
    """
    offsets = site_offsets(step, radius)
    a = perfect.at(*(np.asarray(site_a, float) + offsets).T)
    b = perfect.at(*(np.asarray(site_b, float) + offsets).T)
    return significance(a, b, floor=floor, exact=exact)


def site_pair_table(perfect: PeriodicPatterns, sites: Mapping[str, Sequence[float]],
                    step: Sequence[float], *, radius: float = DEFECT_RADIUS,
                    floor: float = FLOOR, exact: bool = False
                    ) -> dict[tuple[str, str], float]:
    """:func:`site_pair_significance` [σ] of every pair of sites, each way.

    Parameters
    ----------
    perfect
        The perfect crystal's patterns in expected counts.
    sites
        One position (y, x) [Å] per inequivalent site, by name (e.g. ``{"Zn": ..., "S":
        ...}``): any one atom of each site class of the ground truth.
    step, radius, floor, exact
        See :func:`site_pair_significance`.

    Returns
    -------
    dict
        ``{(A, B): d'}`` for every ordered pair of different names; ``(A, B)`` takes B
        as the reference (H0), so it differs from ``(B, A)`` in second order only.
    """
    return {(a, b): site_pair_significance(perfect, sites[a], sites[b], step,
                                           radius=radius, floor=floor, exact=exact)
            for a in sites for b in sites if a != b}


def reference_null(a: ArrayLike, reference: ArrayLike, far: ArrayLike, pooled: int, *,
                   floor: float = FLOOR, exact: bool = False) -> float:
    """The significance [σ] the reference's own misfit would give a defect: d' of the
    probes away from every defect (where counts and reference should agree), as if
    ``pooled`` of them were pooled, ``sqrt(pooled x mean_p d'_p^2)``. Compare it with a
    defect's ideal significance: it is the instrument's floor at that dose (a periodic
    fit that misses part of the crystal's pattern, a simulation that is not exactly
    periodic).

    Parameters
    ----------
    a, reference
        (ny, nx, ky, kx) or (n, ky, kx) expected counts and their reference.
    far
        (n,) True for the probes away from every defect (``~near_defects(...)``).
    pooled
        Probes pooled per defect (those within the pooling radius).
    floor, exact
        See :func:`~symbreak.metrics.ideal.pixel_terms`.
    """
    a = np.asarray(a, float)
    b = np.asarray(reference, float)
    a, b = a.reshape((-1,) + a.shape[-2:]), b.reshape((-1,) + b.shape[-2:])
    far = np.asarray(far, bool).ravel()
    if not far.any():
        return float("nan")
    d = significance(a[far], b[far], floor=floor, exact=exact, pool=False)
    return float(np.sqrt(pooled * np.mean(np.asarray(d) ** 2)))
