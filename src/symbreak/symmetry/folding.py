"""Folding a scan into the unit cell of its lattice.

* :class:`PeriodicFit` (made by :func:`fit_periodic`): the robust lattice-periodic
  Fourier fit of a map's channels (:mod:`symbreak.symmetry.periodic`), the smooth form
  of "fold every position into the unit cell, average robustly over the cells,
  interpolate back"; it can be evaluated anywhere. The periodic reference of the
  residuals (:mod:`symbreak.symmetry.reference`) and the folded maps of the site
  classes (:mod:`symbreak.symmetry.sites`) are both this fit.
* :class:`CellImages`: points folded into the unit cell and their images in the eight
  neighbouring cells in one k-d tree, so that its distances are minimum-image distances
  within the cell [Å] (eight neighbours suffice for a reduced basis).
* :class:`ScanNeighbours`: the lattice-equivalent positions elsewhere in the scan of
  every probe position; :func:`symbreak.symmetry.api.symmetry_breaking` builds it once
  per analysis and passes it to whatever needs it.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from scipy.spatial import cKDTree

from . import periodic
from .lattice import Lattice

BATCH = 4096  # positions per design-matrix block when a fit is evaluated
CELL_SHIFTS = np.array([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)], float)


def scan_positions(shape: tuple[int, int], step: tuple[float, float]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Flattened probe positions y, x [Å] of a scan grid starting at 0."""
    Y, X = np.meshgrid(np.arange(shape[0]) * step[0], np.arange(shape[1]) * step[1],
                       indexing="ij")
    return Y.ravel(), X.ravel()


def scan_harmonics(lattice: Lattice, shape: tuple[int, int], step: tuple[float, float],
                   bandwidth: float | None = None) -> np.ndarray:
    """(m, 2) harmonics of a scan's periodic fits: up to the scan's Nyquist frequency
    1 / (2 step), or ``bandwidth`` [1/Å] when lower, and at most a third as many
    parameters as positions."""
    n = int(shape[0]) * int(shape[1])
    gmax = 0.5 / max(step) if bandwidth is None else min(0.5 / max(step), bandwidth)
    return periodic.harmonics(lattice.reciprocal, gmax, periodic.max_terms(n))


def fold(lattice: Lattice, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(n, 2) fractional coordinates in [0, 1) of positions y, x [Å]."""
    u, v = lattice.fractional(y, x)
    return np.stack([u, v], axis=1) % 1.0


@dataclasses.dataclass(frozen=True)
class PeriodicFit:
    """A robust lattice-periodic Fourier fit of the channels of one map (c, ny, nx).

    Attributes
    ----------
    lattice
        The lattice the series is periodic on.
    hk
        (m, 2) harmonics used.
    coef
        (1 + 2 m, c) coefficients.
    shape
        (ny, nx) of the scan.
    positions
        (n, 2) the probe positions (y, x) [Å].
    kept
        (n,) the positions the fit used (finite and not excluded).
    fitted
        (n, c) the fit at every probe position, those left out included.
    residual
        (n, c) values minus the fit (NaN where left out).
    """

    lattice: Lattice
    hk: np.ndarray
    coef: np.ndarray
    shape: tuple[int, int]
    positions: np.ndarray
    kept: np.ndarray
    fitted: np.ndarray
    residual: np.ndarray

    @property
    def folded(self) -> np.ndarray:
        """(c, ny, nx) the fit at every probe position: the map of the perfect crystal."""
        return self.fitted.T.reshape((-1,) + tuple(self.shape))

    @property
    def scatter(self) -> np.ndarray:
        """(c,) robust spread of single positions about the fit, in the map's units."""
        return np.asarray(periodic.robust_scale(self.residual[self.kept]), float)

    def design(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Design matrix of the series at positions y, x [Å]."""
        return periodic.design(self.lattice.reciprocal, self.hk, y, x)

    def at(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """(n, c) folded values at positions y, x [Å]."""
        return evaluate(self.lattice, self.hk, self.coef, y, x)

    @functools.cached_property
    def gram_inverse(self) -> np.ndarray:
        """(1 + 2 m, 1 + 2 m) inverse normal matrix of the fit (for its standard error)."""
        kept = self.positions[self.kept]
        return np.linalg.inv(periodic.gram(self.design(kept[:, 0], kept[:, 1])))

    def standard_error(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """(n, c) standard error of :meth:`at`: scatter x sqrt(leverage)."""
        leverage = []
        for i in range(0, max(len(y), 1), BATCH):
            d = self.design(y[i:i + BATCH], x[i:i + BATCH])
            leverage.append(np.einsum("ij,jk,ik->i", d, self.gram_inverse, d))
        h = np.maximum(np.concatenate(leverage), 0)
        return np.sqrt(h)[:, None] * self.scatter[None, :]


def fit_periodic(values: np.ndarray, lattice: Lattice, step: tuple[float, float],
                 exclude: np.ndarray | None = None, bandwidth: float | None = None
                 ) -> PeriodicFit:
    """Robust periodic fit of ``values`` (c, ny, nx) or (ny, nx) on ``lattice``, with the
    harmonics of :func:`scan_harmonics` (up to ``bandwidth`` [1/Å] when given); NaNs and
    ``exclude`` (ny, nx) positions are left out of the fit (and get the fit's value in
    :attr:`PeriodicFit.fitted`)."""
    values = np.asarray(values, float)
    values = values[None] if values.ndim == 2 else values
    c, ny, nx = values.shape
    y, x = scan_positions((ny, nx), step)
    hk = scan_harmonics(lattice, (ny, nx), step, bandwidth)
    flat = values.reshape(c, -1).T
    kept = np.all(np.isfinite(flat), axis=1)
    if exclude is not None:  # known anomalies: left out of the perfect crystal's fit
        kept &= ~np.ravel(exclude)
    D = periodic.design(lattice.reciprocal, hk, y[kept], x[kept])
    coef = periodic.solve(D, periodic.robust_fit(D, flat[kept]))
    fitted = evaluate(lattice, hk, coef, y, x)
    residual = np.full(flat.shape, np.nan)
    residual[kept] = flat[kept] - fitted[kept]
    return PeriodicFit(lattice, hk, coef, (ny, nx), np.stack([y, x], axis=1), kept, fitted,
                       residual)


def evaluate(lattice: Lattice, hk: np.ndarray, coef: np.ndarray, y: np.ndarray,
             x: np.ndarray) -> np.ndarray:
    """(n, c) the series of harmonics ``hk`` with coefficients ``coef`` (1 + 2 m, c) at
    positions y, x [Å], a block of positions at a time."""
    return np.concatenate([periodic.design(lattice.reciprocal, hk, y[i:i + BATCH],
                                           x[i:i + BATCH]) @ coef
                           for i in range(0, max(len(y), 1), BATCH)])


class CellImages:
    """Points folded into the unit cell and their images in the eight neighbouring cells,
    in one k-d tree: its distances are minimum-image distances within the cell [Å].

    Parameters
    ----------
    lattice
        The lattice whose cell the points are folded into.
    fractional
        (n, 2) fractional coordinates of the points (folded into [0, 1) here).
    """

    def __init__(self, lattice: Lattice, fractional: np.ndarray) -> None:
        self.lattice = lattice
        self.fractional = np.asarray(fractional, float).reshape(-1, 2) % 1.0
        images = (self.fractional[None] + CELL_SHIFTS[:, None]).reshape(-1, 2)
        self.tree = cKDTree(images @ lattice.vectors)

    def __len__(self) -> int:
        return len(self.fractional)

    def nearest(self, points: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Distances [Å] from ``points`` (y, x) [Å] to the ``k`` nearest images and the
        index of the point each image belongs to."""
        d, j = self.tree.query(points, k=k)
        return d, j % len(self)

    def around(self, centre: np.ndarray, radius: float, at_least: int) -> list[int]:
        """Sorted indices of the points within ``radius`` [Å] of ``centre`` (y, x) [Å],
        or of the ``at_least`` nearest ones where fewer are that close."""
        n = len(self)
        near = {j % n for j in self.tree.query_ball_point(centre, radius)}
        k = min(at_least, n)
        if len(near) < k:  # images repeat a point: ask for enough to find k of them
            _, nearest = self.tree.query(centre, k=min(k * len(CELL_SHIFTS),
                                                       len(CELL_SHIFTS) * n))
            near = set(list(dict.fromkeys((np.ravel(nearest) % n).tolist()))[:k])
        return sorted(near)

    def others(self, k: int) -> np.ndarray:
        """(n, k) indices of the ``k`` points nearest to each point, itself excluded
        (tiny sets: the nearest repeated rather than fail)."""
        n = len(self)
        k = min(k, n - 1)
        extra = min(len(CELL_SHIFTS) * n, k + 1 + len(CELL_SHIFTS))  # self, repeated images
        _, found = self.nearest(self.fractional @ self.lattice.vectors, extra)
        out = np.empty((n, k), dtype=int)
        for i, row in enumerate(found):
            unique = [j for j in dict.fromkeys(row.tolist()) if j != i]
            out[i] = (unique + unique[:1] * k)[:k]
        return out


class ScanNeighbours:
    """The lattice-equivalent positions elsewhere in a scan of each probe position: the
    nearest after folding into the unit cell (minimum image). The k-d tree is built
    once; the ``k`` nearest are found once for each ``k`` asked for.

    Parameters
    ----------
    lattice
        The scan's lattice.
    shape
        (ny, nx) of the scan.
    step
        Scan step (dy, dx) [Å].
    """

    def __init__(self, lattice: Lattice, shape: tuple[int, int],
                 step: tuple[float, float]) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.images = CellImages(lattice, fold(lattice, *scan_positions(self.shape, step)))
        self._nearest: dict[int, np.ndarray] = {}

    def nearest(self, k: int) -> np.ndarray:
        """(n, k) flat indices of the ``k`` positions nearest to each one after folding,
        itself excluded: O(n log n), so 320 x 320 scans take seconds."""
        if k not in self._nearest:
            self._nearest[k] = self.images.others(k)
        return self._nearest[k]
