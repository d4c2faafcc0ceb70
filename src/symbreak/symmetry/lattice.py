"""The crystal lattice of a scan, found from the periodicity of its maps.

A lattice is two real-space vectors ``a1``, ``a2`` [Å] in scan coordinates, each as
``(y, x)`` with y down, the same frame as ``results.scan_y/scan_x``. They are found in
four steps:

1. the power spectra of the Hann-windowed, mean-subtracted, standardised maps (BF, ADF,
   COM x/y, ...) are summed; their true local maxima beyond the field of view's own low
   frequencies (1.5 periods) are candidate reciprocal lattice vectors, located to a
   fraction of a bin;
2. every non-collinear pair of the strongest peaks spans a candidate lattice; candidates
   with a real-space vector shorter than MIN_LENGTH (1.5 Å) or two scan steps are
   dropped, and the one with the lowest information criterion (Akaike) of the
   lattice-periodic Fourier fit of all maps wins;
3. the winner is least-squares fitted to every peak it indexes, then polished by
   maximising the variance a lattice-periodic series explains; a defect is one cell
   among many and barely moves this fit;
4. the real-space basis is the inverse transpose of the reciprocal one, Lagrange-Gauss
   reduced; fewer than MIN_CELLS periods along a direction is refused.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from scipy import ndimage, optimize

from ..errors import DataError, SettingsError
from . import periodic

CRITERION = "aic"  # penalty 2 per parameter ("bic": log n; too strict under noise)
MIN_LENGTH = 1.5  # [Å] shorter projected lattice vectors are not a crystal (noise peaks)
MIN_CELLS = 2.0  # fewer periods than this along a lattice direction: refuse
PEAK_FRACTION = 0.01  # candidate peaks: power above this fraction of the strongest
MAX_PEAKS = 40  # peaks kept for indexing
MAX_CANDIDATES = 10  # the strongest peaks tried as basis vectors
INDEX_TOLERANCE = 0.12  # a peak is on a lattice when its indices are this close to integers
POLISH_TERMS = 12  # harmonics used by refine()
MIN_ANGLE = np.deg2rad(15.0)  # two peaks closer than this in direction are collinear
LATTICE_HELP = "give the lattice with --lattice a1y,a1x,a2y,a2x [Å] (lattice= in Python)"
WINDOW = 128  # positions per axis of the central window the lattice is found in


@dataclasses.dataclass(frozen=True)
class Lattice:
    """Two lattice vectors in scan coordinates.

    Attributes
    ----------
    vectors
        (2, 2) array: rows ``a1``, ``a2``, each ``(y, x)`` [Å].
    source
        ``"data"`` (found from the maps), ``"setting"`` (given) or ``"periodic scan"``
        (the scan is one periodic cell: the lattice is the field of view).
    explained
        Fraction of the maps' variance a lattice-periodic Fourier series explains (1 for
        a perfect, noise-free crystal; NaN when not measured).
    """

    vectors: np.ndarray
    source: str = "data"
    explained: float = float("nan")

    @property
    def reciprocal(self) -> np.ndarray:
        """(2, 2) rows ``b1``, ``b2`` [1/Å] with ``a_i . b_j = delta_ij``."""
        return np.linalg.inv(self.vectors).T

    @property
    def lengths(self) -> tuple[float, float]:
        """``|a1|``, ``|a2|`` [Å]."""
        n = np.linalg.norm(self.vectors, axis=1)
        return float(n[0]), float(n[1])

    @property
    def angle(self) -> float:
        """Angle between ``a1`` and ``a2`` [deg]."""
        a1, a2 = self.vectors
        c = a1 @ a2 / (np.linalg.norm(a1) * np.linalg.norm(a2))
        return float(np.degrees(np.arccos(np.clip(c, -1, 1))))

    @property
    def area(self) -> float:
        """Cell area [Å^2]."""
        return float(abs(np.linalg.det(self.vectors)))

    def fractional(self, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional coordinates ``(u, v)`` of positions (y, x) [Å], not wrapped."""
        b = self.reciprocal
        return b[0, 0] * y + b[0, 1] * x, b[1, 0] * y + b[1, 1] * x

    def cells_across(self, extent: tuple[float, float]) -> tuple[float, float]:
        """Number of periods along ``b1`` and ``b2`` in a field of view (y, x) [Å]."""
        corners = np.array([[0, 0], [extent[0], 0], [0, extent[1]], extent], float)
        proj = corners @ self.reciprocal.T
        span = proj.max(axis=0) - proj.min(axis=0)
        return float(span[0]), float(span[1])

    def describe(self) -> str:
        """One line: lengths, angle and vectors."""
        (y1, x1), (y2, x2) = self.vectors
        l1, l2 = self.lengths
        return (f"|a1| = {l1:.4f} Å, |a2| = {l2:.4f} Å, angle {self.angle:.2f}°; "
                f"a1 = (y {y1:+.4f}, x {x1:+.4f}) Å, a2 = (y {y2:+.4f}, x {x2:+.4f}) Å "
                f"({self.source})")


def gauss_reduce(basis: np.ndarray) -> np.ndarray:
    """Lagrange-Gauss reduced basis of the 2-D lattice spanned by the rows of ``basis``:
    the two shortest independent vectors, angle between 60 and 90 degrees for the
    reduced pair (the second flipped so that the angle is <= 90 degrees)."""
    u, v = np.array(basis[0], float), np.array(basis[1], float)
    if u @ u > v @ v:
        u, v = v, u
    for _ in range(100):
        m = round(float(u @ v) / float(u @ u))
        v = v - m * u
        if v @ v >= u @ u:
            break
        u, v = v, u
    if u @ v < 0:
        v = -v
    return np.array([u, v])


def lattice_from_setting(value: Sequence[float] | np.ndarray) -> Lattice:
    """A :class:`Lattice` from ``(a1y, a1x, a2y, a2x)`` [Å] (or a (2, 2) array)."""
    try:
        vectors = np.asarray(value, dtype=float).reshape(2, 2)
    except (TypeError, ValueError):
        raise SettingsError(f"lattice must be four numbers a1y,a1x,a2y,a2x [Å], got {value!r}; "
                            "e.g. --lattice 0,2.46,2.13,1.23 for graphene") from None
    if not np.all(np.isfinite(vectors)) or abs(np.linalg.det(vectors)) < 1e-3:
        raise SettingsError(f"lattice vectors {vectors.tolist()} Å are not finite and "
                            "independent; give two non-collinear vectors a1y,a1x,a2y,a2x [Å]")
    return Lattice(gauss_reduce(vectors), source="setting")


def _standardised(maps: Sequence[np.ndarray]) -> list[np.ndarray]:
    out = []
    for m in maps:
        m = np.asarray(m, dtype=float)
        finite = np.isfinite(m)
        if finite.sum() < 4:
            continue
        m = np.where(finite, m, np.nanmean(m[finite]))
        sd = m.std()
        if sd > 0:
            out.append((m - m.mean()) / sd)
    return out


def _spectrum(maps: list[np.ndarray], step: tuple[float, float], pad: int = 4):
    """Summed power of the windowed maps on a zero-padded grid; frequencies [1/Å]."""
    ny, nx = maps[0].shape
    window = np.outer(np.hanning(ny + 2)[1:-1], np.hanning(nx + 2)[1:-1])
    py, px = max(pad * ny, 128), max(pad * nx, 128)
    power = np.zeros((py, px))
    for m in maps:
        w = window * (m - (m * window).sum() / window.sum())
        p = np.abs(np.fft.fft2(w, s=(py, px))) ** 2
        power += p / p.sum()
    fy = np.fft.fftfreq(py, d=step[0])
    fx = np.fft.fftfreq(px, d=step[1])
    return power, fy, fx


def spectrum_peaks(maps: list[np.ndarray], step: tuple[float, float],
                   fraction: float = PEAK_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Candidate reciprocal lattice vectors ``(gy, gx)`` [1/Å], one per +/- pair, and
    their power relative to the strongest: local maxima of the summed power above
    ``fraction`` of the strongest, outside the field of view's own low frequencies
    (< 1.5 periods), located to a fraction of a bin by a parabola through the log power."""
    power, fy, fx = _spectrum(maps, step)
    ny, nx = maps[0].shape
    extent = (ny * step[0], nx * step[1])
    FY, FX = np.meshgrid(fy, fx, indexing="ij")
    low = np.hypot(FY * extent[0], FX * extent[1]) < 1.5
    p = np.where(low, 0.0, power)
    # true local maxima of the whole spectrum: the falling flank of the low frequencies
    # (a defect's broad spectrum) has its largest value at the edge of the mask, not a peak
    local = power == ndimage.maximum_filter(power, size=5, mode="wrap")
    peaks = local & ~low & (p > fraction * p.max())
    upper = (FY > 0) | ((FY == 0) & (FX > 0))
    iy, ix = np.nonzero(peaks & upper)
    order = np.argsort(-p[iy, ix])[:MAX_PEAKS]
    iy, ix = iy[order], ix[order]
    logp = np.log(np.maximum(power, 1e-300))
    py, px = power.shape
    dy = _vertex(logp[(iy - 1) % py, ix], logp[iy, ix], logp[(iy + 1) % py, ix])
    dx = _vertex(logp[iy, (ix - 1) % px], logp[iy, ix], logp[iy, (ix + 1) % px])
    g = np.stack([FY[iy, ix] + dy * (fy[1] - fy[0]), FX[iy, ix] + dx * (fx[1] - fx[0])], axis=1)
    return g, p[iy, ix] / p.max()


def _vertex(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Offset [bins] of the vertex of the parabola through (-1, a), (0, b), (1, c)."""
    den = a - 2 * b + c
    safe = np.where(den < 0, den, -1.0)
    return np.where(den < 0, 0.5 * (a - c) / safe, 0.0).clip(-0.5, 0.5)


def _index(peaks: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer indices (h, k) of ``peaks`` in the reciprocal ``basis`` and whether each
    peak lies on that lattice (within INDEX_TOLERANCE of an integer)."""
    frac = peaks @ np.linalg.inv(basis)
    hk = np.round(frac)
    return hk.astype(int), np.abs(frac - hk).max(axis=1) < INDEX_TOLERANCE


def choose_basis(peaks: np.ndarray, power: np.ndarray, maps: list[np.ndarray],
                 step: tuple[float, float]) -> np.ndarray:
    """The reciprocal basis (rows b1, b2 [1/Å]) that best describes the maps.

    Every pair of non-collinear peaks among the strongest spans a candidate lattice;
    lattices with a vector shorter than MIN_LENGTH or two scan steps are dropped; each
    is scored by an information criterion (Akaike's; CRITERION) of the lattice-periodic
    Fourier fit of all maps: a lattice made of harmonics misses the first-order peaks (a
    large residual), one made finer by a spurious peak (a defect, noise) adds parameters
    that explain little. The lowest criterion wins if it is below that of no lattice at
    all (the maps' means): noise alone is refused.
    """
    ny, nx = maps[0].shape
    extent = (ny * step[0], nx * step[1])
    seen: list[np.ndarray] = []
    # a lattice must describe the maps better than no lattice at all (their mean)
    best, best_bic = None, _criterion(None, maps, step)
    top = range(min(len(peaks), MAX_CANDIDATES))
    for i in top:
        for j in top:
            g1, g2 = peaks[i], peaks[j]
            s = abs(g1[0] * g2[1] - g1[1] * g2[0]) / (np.linalg.norm(g1) * np.linalg.norm(g2))
            if j <= i or s < np.sin(MIN_ANGLE):
                continue
            basis = gauss_reduce(np.array([g1, g2]))
            shortest = np.linalg.norm(np.linalg.inv(basis).T, axis=1).min()
            if shortest < max(MIN_LENGTH, 2 * max(step)):
                continue  # finer than any crystal's projection, or than the scan resolves
            if any(np.allclose(basis, o, atol=0.3 / max(extent)) for o in seen):
                continue
            seen.append(basis)
            bic = _criterion(basis, maps, step)
            if bic < best_bic:
                best, best_bic = basis, bic
    if best is None:
        raise DataError(
            f"the maps show no two independent lattice periodicities above the noise in the "
            f"{extent[0]:.3g} x {extent[1]:.3g} Å field of view (fewer than {MIN_CELLS:g} "
            f"cells along a direction, too noisy, or no crystal); {LATTICE_HELP}")
    return best


def _criterion(reciprocal: np.ndarray | None, maps: list[np.ndarray],
               step: tuple[float, float]) -> float:
    """Information criterion (AIC or BIC, CRITERION) of the periodic fit of all maps;
    ``reciprocal`` None: of the maps' means alone (no lattice)."""
    if reciprocal is None:
        values = np.stack([m.ravel() for m in maps], axis=1)
        rss, hk = float((values ** 2).sum()), np.zeros((0, 2))
    else:
        Y, X, values, hk = _fit_inputs(reciprocal, maps, step)
        rss = _unexplained(reciprocal, hk, Y, X, values) * (values ** 2).sum()
    n = values.size
    params = (1 + 2 * len(hk)) * values.shape[1]
    penalty = np.log(n) if CRITERION == "bic" else 2.0
    return n * np.log(max(rss, 1e-300) / n) + params * penalty


def fit_basis(peaks: np.ndarray, power: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Least-squares reciprocal basis from every indexed peak, ``g = h b1 + k b2``,
    weighted by sqrt(power) (higher harmonics pin the basis down more finely)."""
    hk, on = _index(peaks, basis)
    if on.sum() < 2 or np.linalg.matrix_rank(hk[on]) < 2:
        return basis
    w = np.sqrt(power[on])[:, None]
    sol, *_ = np.linalg.lstsq(hk[on] * w, peaks[on] * w, rcond=None)
    return sol


def _explained(reciprocal: np.ndarray, maps: list[np.ndarray], step: tuple[float, float]
               ) -> float:
    """Fraction of the maps' variance the lattice-periodic series explains."""
    Y, X, values, hk = _fit_inputs(reciprocal, maps, step)
    return 1.0 - _unexplained(reciprocal, hk, Y, X, values)


def _fit_inputs(reciprocal, maps, step, max_terms: int | None = None):
    ny, nx = maps[0].shape
    Y, X = np.meshgrid(np.arange(ny) * step[0], np.arange(nx) * step[1], indexing="ij")
    values = np.stack([m.ravel() for m in maps], axis=1)
    n = periodic.max_terms(ny * nx)
    n = n if max_terms is None else min(n, max_terms)
    hk = periodic.harmonics(reciprocal, 0.5 / max(step), n)
    return Y.ravel(), X.ravel(), values, hk


def _unexplained(reciprocal: np.ndarray, hk: np.ndarray, Y: np.ndarray, X: np.ndarray,
                 values: np.ndarray) -> float:
    """Fraction of the (standardised) maps' variance a periodic series leaves."""
    D = periodic.design(reciprocal, hk, Y, X)
    fitted = periodic.fit(D, values)
    return float(((values - fitted) ** 2).sum() / (values ** 2).sum())


def refine(reciprocal: np.ndarray, maps: list[np.ndarray], step: tuple[float, float]
           ) -> tuple[np.ndarray, float]:
    """Reciprocal basis (rows b1, b2 [1/Å]) that maximises the variance of ``maps`` a
    lattice-periodic Fourier series (the POLISH_TERMS shortest harmonics) explains,
    started from ``reciprocal``; returns it and the explained fraction."""
    Y, X, values, hk = _fit_inputs(reciprocal, maps, step, POLISH_TERMS)
    size = max(np.ptp(Y), np.ptp(X))
    res = optimize.minimize(
        lambda p: _unexplained(p.reshape(2, 2), hk, Y, X, values), reciprocal.ravel(),
        method="Nelder-Mead",
        options={"xatol": 1e-5, "fatol": 1e-7, "maxiter": 400,
                 "initial_simplex": _simplex(reciprocal.ravel(), 0.1 / size)})
    moved = np.abs(res.x - reciprocal.ravel()).max() * size
    refined = res.x.reshape(2, 2) if moved < 0.5 else reciprocal  # stay in the peak's basin
    return refined, _explained(refined, maps, step)


def _simplex(x0: np.ndarray, delta: float) -> np.ndarray:
    return np.vstack([x0] + [x0 + delta * e for e in np.eye(x0.size)])


def find_lattice(maps: Sequence[np.ndarray], step: float | tuple[float, float], *,
                 polish: bool = True) -> Lattice:
    """The two lattice vectors of a scan from the periodicity of its maps.

    Parameters
    ----------
    maps
        2-D maps over the same scan grid (scan_y, scan_x): e.g. BF, ADF, COM x and y.
        Each is standardised; NaNs are filled with the map's mean.
    step
        Scan step [Å] (or (dy, dx)).
    polish
        Refine the peak-fitted basis further by maximising the periodic fit (slower).

    Returns
    -------
    Lattice
        Primitive, reduced vectors a1, a2 (y, x) [Å] in the scan frame.

    Raises
    ------
    DataError
        When the field of view holds fewer than two periods along a lattice direction,
        or the maps show no 2-D periodicity; the message names the field of view and
        the fix (``--lattice``).
    """
    step = (float(step), float(step)) if np.isscalar(step) else tuple(map(float, step))
    maps = _standardised(maps)
    if not maps:
        raise DataError(f"no map with finite, varying values to find the lattice from; "
                        f"{LATTICE_HELP}")
    ny, nx = maps[0].shape
    extent = (ny * step[0], nx * step[1])
    if min(ny, nx) < 4:
        raise DataError(f"a {ny} x {nx} scan is too small to find a lattice from; {LATTICE_HELP}")
    # the lattice is the same everywhere: a central window bounds the fits' size
    y0, x0 = max(0, (ny - WINDOW) // 2), max(0, (nx - WINDOW) // 2)
    maps = [m[y0:y0 + WINDOW, x0:x0 + WINDOW] for m in maps]
    peaks, power = spectrum_peaks(maps, step)
    basis = fit_basis(peaks, power, choose_basis(peaks, power, maps, step))
    refined, explained = (refine(basis, maps, step) if polish
                          else (basis, _explained(basis, maps, step)))
    lattice = Lattice(gauss_reduce(np.linalg.inv(gauss_reduce(refined)).T), "data", explained)
    check_cells(lattice, extent)
    return lattice


def check_cells(lattice: Lattice, extent: tuple[float, float]) -> None:
    """A DataError when the field of view (y, x) [Å] holds fewer than MIN_CELLS periods
    along either lattice direction."""
    n1, n2 = lattice.cells_across(extent)
    if min(n1, n2) < MIN_CELLS:
        raise DataError(
            f"the {extent[0]:.3g} x {extent[1]:.3g} Å field of view holds only {n1:.2g} x "
            f"{n2:.2g} cells of the lattice {lattice.describe()}; at least {MIN_CELLS:g} "
            f"along each direction are needed to compare equivalent positions; scan a larger "
            f"area or {LATTICE_HELP}")
