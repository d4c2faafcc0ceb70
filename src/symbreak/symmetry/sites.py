"""Site classes: which atom-column sites of the unit cell are equivalent, judged by
descriptors that do not change when a pattern is turned or mirrored.

Two sites related by a rotation or mirror of the crystal (graphene's A and B) have
patterns related by the same rotation or mirror, so every invariant descriptor is equal
at both; sites with different atoms (B and N of hBN, Zn and S of ZnS [110]) differ in
some. A descriptor that turns with the pattern (a PCA score, the COM vector) would split
equivalent sites, so none is used. The steps:

1. **Fold** every map into the unit cell: a robust (Tukey bisquare) lattice-periodic
   Fourier fit (:class:`symbreak.symmetry.folding.PeriodicFit`), the smooth form of
   "fold into the cell, robust average over cells, interpolate", with the harmonics up
   to the probe's bandwidth ``2 alpha / lambda`` (:func:`bandwidth`: no map of a 4D-STEM
   scan holds higher frequencies, so the ones above are noise only) when the
   calibration gives it.
2. **Sites**: the maxima of the folded ADF image (fine grid over the cell, refined)
   whose prominence (height above the highest saddle towards a brighter maximum,
   periodic) is at least ``STANDARD_ERRORS`` standard errors of the fold, and where the
   folded divergence of the COM has the sign it has at the most prominent maximum,
   ``STANDARD_ERRORS`` standard errors from zero (:func:`column_like`). Why: the COM of
   a thin crystal is the probe-averaged projected field, its divergence the projected
   charge, of one sign on a column (the nuclei) and of the other where the potential is
   lowest. The probe's Airy rings make ADF maxima between columns (graphene's and hBN's
   hexagon centres: 7-10 % of the ADF range in noise-free 60 kV simulations; the old
   rule, 10 % of the range, kept them at random), and there the divergence has the
   other sign. Only a sign is used, so a scan rotation off by 180 degrees changes
   nothing. Without a COM the fallback is the old rule: prominence at least
   ``PROMINENCE`` of the ADF range.
3. **Noise** of each family's folded values at a site (:func:`site_noise`): the
   standard error of the fold (the scatter of single patterns at the lattice-equivalent
   positions within ``FOOTPRINT`` of the site, times the fit's leverage) and the
   sampling error (the folded value's change within half a scan step), in quadrature;
   for the rrVAE, also the model's rotation-invariance error.
4. **Distance** between two sites, per family: ``D_ij^2 = sum_c (z_ic - z_jc)^2 /
   (sigma_ic^2 + sigma_jc^2)`` [noise units], chi-squared with as many degrees of
   freedom as the family has channels when the sites are equivalent. Complete-linkage
   clustering below the chi-squared quantile for a ``SIGNIFICANCE`` (1 %) chance of
   splitting an equivalent pair, Bonferroni over the pairs and the families tried.
5. **Choice**: of the families that split the sites, the one whose classes are farthest
   apart (smallest between-class distance / threshold) gives the classes
   (:func:`chosen_family`); if none splits them, one class.
6. **Class map**: each probe position takes the class of the nearest site (minimum
   image in the cell) within half the shortest site-site distance; -1 elsewhere.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize

from .folding import CellImages, PeriodicFit, fit_periodic, fold, scan_positions
from .lattice import Lattice
from .site_statistics import (FOOTPRINT, MIN_SAMPLES, SIGNIFICANCE, FamilyTest,
                              chosen_family, cluster, distance_threshold, family_test,
                              local_scatter, site_distances, site_noise)

__all__ = ["FOOTPRINT", "MIN_SAMPLES", "NO_CLASS", "SIGNIFICANCE", "FamilyTest",
           "SiteClasses", "bandwidth", "chosen_family", "class_map", "cluster",
           "com_divergence", "distance_threshold", "family_test", "find_sites",
           "fit_periodic", "local_scatter", "prominences", "site_classes",
           "site_distances", "site_noise"]

PROMINENCE = 0.1  # a site's ADF prominence, at least this fraction of the cell's range
STANDARD_ERRORS = 3.0  # ... and this many standard errors of the folded ADF
GRID_SPACING = 0.05  # [Å] finest spacing of the grid over the cell where sites are sought
MAX_GRID = 160  # grid points per cell axis at most (bounds memory for large cells)
NO_CLASS = -1  # class-map value away from every site


def cell_grid(lattice: Lattice, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (nu, nv, 2) grid over one cell, about ``spacing`` [Å] apart along each
    lattice vector, and the same points as (y, x) [Å] (nu * nv, 2)."""
    n = [int(min(MAX_GRID, max(8, np.ceil(length / spacing)))) for length in lattice.lengths]
    u, v = np.meshgrid(np.arange(n[0]) / n[0], np.arange(n[1]) / n[1], indexing="ij")
    uv = np.stack([u, v], axis=-1)
    return uv, uv.reshape(-1, 2) @ lattice.vectors


def prominences(grid: np.ndarray) -> np.ndarray:
    """Topographic prominence of every local maximum of a periodic 2-D ``grid`` (0
    elsewhere): its height above the highest saddle on any path to a higher point (the
    global maximum: above the global minimum). Union-find over the points, highest
    first, 8-connected, wrapping at the edges."""
    ny, nx = grid.shape
    flat = grid.ravel()
    order = np.argsort(-flat, kind="stable")
    parent = np.full(flat.size, -1)
    peak = np.full(flat.size, -1)  # the highest point of each component (at its root)
    prom = np.zeros(flat.size)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in order:
        parent[i], peak[i] = i, i
        iy, ix = divmod(int(i), nx)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                j = ((iy + dy) % ny) * nx + (ix + dx) % nx
                if j == i or parent[j] < 0:
                    continue
                a, b = root(i), root(j)
                if a == b:
                    continue
                low, high = (a, b) if flat[peak[a]] <= flat[peak[b]] else (b, a)
                prom[peak[low]] = flat[peak[low]] - flat[i]  # saddle at the joining point
                parent[low] = high
    top = peak[root(int(order[0]))]
    prom[top] = flat[top] - flat.min()
    return prom.reshape(grid.shape)


def bandwidth(semiangle: float | None, wavelength: float | None) -> float | None:
    """Highest spatial frequency [1/Å] in any map of a 4D-STEM scan: ``2 alpha /
    lambda``, the diameter of the probe's aperture in reciprocal space (every detector
    pixel's intensity is bilinear in the aperture-limited probe, so its scan-frequency
    content is within the aperture's autocorrelation, thick crystal or not); None when
    the semi-angle ``semiangle`` [mrad] or the wavelength [Å] is unknown. Harmonics
    above it are noise only, so the fold leaves them out."""
    if not semiangle or not wavelength:
        return None
    return 2.0 * float(semiangle) * 1e-3 / float(wavelength)


def com_divergence(com_y: np.ndarray, com_x: np.ndarray, step: tuple[float, float]
                   ) -> np.ndarray:
    """(ny, nx) divergence of the COM field (d com_y / dy + d com_x / dx) [COM units per
    Å]: for a thin crystal the COM is the probe-averaged projected electric field, so its
    divergence is the probe-averaged projected charge, of one sign on atom columns (the
    beam is pulled towards the nuclei) and of the other between them."""
    return (np.gradient(np.asarray(com_y, float), step[0], axis=0)
            + np.gradient(np.asarray(com_x, float), step[1], axis=1))


def find_sites(adf: PeriodicFit, divergence: PeriodicFit | None = None,
               spacing: float = GRID_SPACING) -> tuple[np.ndarray, np.ndarray]:
    """Atom-column sites: (m, 2) fractional positions in [0, 1) and their folded ADF
    values, brightest first (see the module docstring, step 2). ``divergence``: the
    fit of the COM divergence (:func:`com_divergence`); None: no COM, the fallback
    rule (prominence at least ``PROMINENCE`` of the ADF range)."""
    uv, yx = cell_grid(adf.lattice, spacing)
    values = adf.at(yx[:, 0], yx[:, 1])[:, 0].reshape(uv.shape[:2])
    prom = prominences(values)
    floor = PROMINENCE * float(np.ptp(values)) if divergence is None else 0.0
    iy, ix = np.nonzero(prom > max(floor, 1e-300))
    where = uv[iy, ix] @ adf.lattice.vectors
    se = adf.standard_error(where[:, 0], where[:, 1])[:, 0] if len(where) else np.zeros(0)
    keep = prom[iy, ix] >= STANDARD_ERRORS * se
    if divergence is not None and np.any(keep):
        keep &= column_like(divergence, where, prom[iy, ix])
    iy, ix = iy[keep], ix[keep]
    spacing_uv = 1.0 / np.array(uv.shape[:2], float)
    refined = np.array([_refine(adf, uv[i, j], spacing_uv) for i, j in zip(iy, ix)])
    refined = refined.reshape(-1, 2) % 1.0
    refined[refined > 1 - 1e-6] = 0.0  # a site on the cell's edge: at the origin
    heights = adf.at(*(refined @ adf.lattice.vectors).T)[:, 0] if len(refined) else np.zeros(0)
    order = np.argsort(-heights, kind="stable")
    return refined[order], heights[order]


def column_like(divergence: PeriodicFit, where: np.ndarray, prominence: np.ndarray
                ) -> np.ndarray:
    """(n,) which ADF maxima at ``where`` (n, 2) [Å] are atom columns: the folded COM
    divergence there has the sign it has at the most prominent maximum (certainly a
    column; a sign, not a value, so a COM turned by 180 degrees changes nothing) and
    stands ``STANDARD_ERRORS`` standard errors from zero. The maxima that the probe's
    Airy rings make between columns (the hexagon centre of graphene and hBN) sit where
    the projected potential is lowest, and their divergence has the other sign."""
    d = divergence.at(where[:, 0], where[:, 1])[:, 0]
    se = divergence.standard_error(where[:, 0], where[:, 1])[:, 0]
    sign = np.sign(d[int(np.argmax(prominence))])
    return (sign != 0) & (sign * d >= STANDARD_ERRORS * se)


def _refine(fit: PeriodicFit, start: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """The maximum of the folded map near ``start`` (fractional), found to a small
    fraction of the grid ``spacing`` (Nelder-Mead); ``start`` if it moves more than a
    grid step (stays on its own peak)."""
    vectors = fit.lattice.vectors

    def minus(p: np.ndarray) -> float:
        y, x = p @ vectors
        return -float(fit.at(np.array([y]), np.array([x]))[0, 0])

    simplex = np.array([start, start + [spacing[0] / 2, 0], start + [0, spacing[1] / 2]])
    res = optimize.minimize(minus, start, method="Nelder-Mead",
                            options={"initial_simplex": simplex, "xatol": 1e-3 * spacing.min(),
                                     "fatol": 0.0, "maxiter": 200})
    return res.x if np.all(np.abs(res.x - start) <= spacing) else start


def class_map(sites: np.ndarray, labels: np.ndarray, lattice: Lattice,
              shape: tuple[int, int], step: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Class of the nearest site at every probe position (minimum image in the cell)
    within half the shortest site-site distance (NO_CLASS beyond); and that radius [Å]."""
    images = CellImages(lattice, sites)
    if len(sites) > 1:
        d, _ = images.nearest(sites @ lattice.vectors, k=2)
        radius = 0.5 * float(d[:, 1].min())
    else:
        radius = 0.5 * min(lattice.lengths)
    d, owner = images.nearest(fold(lattice, *scan_positions(shape, step)) @ lattice.vectors)
    out = np.where(d <= radius, labels[owner], NO_CLASS)
    return out.reshape(shape), radius


@dataclasses.dataclass(frozen=True)
class SiteClasses:
    """Atom-column sites of the unit cell and which are equivalent.

    Attributes
    ----------
    fractional
        (m, 2) site positions in fractional coordinates of the lattice, in [0, 1).
    positions
        (m, 2) the same as (y, x) [Å] in the cell at the scan's origin.
    adf
        (m,) folded ADF at each site (data units).
    tests
        Each descriptor family's :class:`FamilyTest`, by name.
    family
        The name of the family that chose the classes (:func:`chosen_family`).
    class_map
        (ny, nx) class of the site nearest each probe position, NO_CLASS beyond
        ``radius`` [Å].
    radius
        Half the shortest site-site distance [Å].
    """

    fractional: np.ndarray
    positions: np.ndarray
    adf: np.ndarray
    tests: dict
    family: str
    class_map: np.ndarray
    radius: float

    @property
    def chosen(self) -> FamilyTest:
        if self.family in self.tests:
            return self.tests[self.family]
        empty = np.zeros((0, 0))
        return FamilyTest("", empty, empty, empty, float("nan"), np.zeros(0, int))

    @property
    def labels(self) -> np.ndarray:
        """(m,) class of each site (0, 1, ...)."""
        return self.chosen.labels

    @property
    def latent(self) -> np.ndarray:
        """(m, c) the chosen family's folded values at each site."""
        return self.chosen.values

    @property
    def noise(self) -> np.ndarray:
        return self.chosen.noise

    @property
    def distance(self) -> np.ndarray:
        return self.chosen.distance

    @property
    def threshold(self) -> float:
        return self.chosen.threshold

    @property
    def n_classes(self) -> int:
        return self.chosen.n_classes

    def class_latent(self) -> np.ndarray:
        """(k, c) mean folded values of each class (chosen family)."""
        return np.stack([self.latent[self.labels == k].mean(axis=0)
                         for k in range(self.n_classes)])

    def class_distance(self) -> np.ndarray:
        """(k, k) distance between classes [noise units]: their farthest pair of sites
        (complete linkage; above the threshold for any two classes)."""
        k = self.n_classes
        out = np.zeros((k, k))
        for a in range(k):
            for b in range(k):
                pair = self.distance[np.ix_(self.labels == a, self.labels == b)]
                out[a, b] = pair.max() if a != b else 0.0
        return out

    def separation(self) -> tuple[float, float]:
        """(largest distance inside a class, smallest class distance) [noise units] of
        the chosen family; NaN where there is none."""
        return self.chosen.separation()

    def statement(self) -> str:
        """One sentence: sites per cell, classes, by which family, how far apart."""
        m, k = len(self.labels), self.n_classes
        inside, between = self.separation()
        text = f"{m} atom-column site{'s' if m != 1 else ''} per cell, "
        if k > 1:
            text += (f"{k} classes by the {self.family} (classes {between:.3g} noise units "
                     f"apart, threshold {self.threshold:.2g}")
        else:
            text += (f"1 class: no descriptor tells them apart (nearest a split: the "
                     f"{self.family}, sites within {inside:.2g} noise units, threshold "
                     f"{self.threshold:.2g}")
        others = [f"{t.name} {t.ratio:.2g}" for t in self.tests.values()]
        return text + "; separation / threshold: " + ", ".join(others) + ")"


def site_classes(families: dict[str, np.ndarray], adf: np.ndarray, lattice: Lattice,
                 step: tuple[float, float], com: np.ndarray | None = None,
                 invariance: dict[str, np.ndarray] | None = None,
                 exclude: np.ndarray | None = None,
                 significance: float = SIGNIFICANCE,
                 bandwidth: float | None = None) -> SiteClasses:
    """Which atom-column sites are equivalent, from rotation-invariant descriptors.

    Parameters
    ----------
    families
        Descriptor families by name, each (c, ny, nx) maps that do not change when a
        pattern is turned or mirrored (radial profile, BF and ADF, rrVAE content).
    adf
        (ny, nx) ADF image, whose folded maxima are the atom-column sites.
    lattice
        The scan's lattice (for a one-cell periodic scan: the field of view).
    step
        Scan step (dy, dx) [Å].
    com
        (2, ny, nx) COM (y, x) in the scan frame; its divergence tells columns from the
        probe's ring maxima between them (:func:`column_like`). None: not known.
    invariance
        Per family, (c,) an error added to each site's noise in quadrature (map units):
        a model's rotation-invariance error, the noise-free radial profile's shot-noise
        floor (:data:`symbreak.symmetry.radial.NOISE_FREE_FLOOR`).
    bandwidth
        Highest spatial frequency [1/Å] a map of the scan holds (:func:`bandwidth`);
        None: the scan's Nyquist frequency.
    exclude
        (ny, nx) positions left out of the folding (known anomalies).
    significance
        Chance of splitting an equivalent pair, over all pairs and families.

    Returns
    -------
    SiteClasses
        Sites brightest first; with no site found, empty arrays and an all-NO_CLASS map.
    """
    ny, nx = np.shape(adf)
    def folded(maps: np.ndarray) -> PeriodicFit:
        return fit_periodic(np.asarray(maps, float), lattice, step, exclude, bandwidth)

    divergence = None if com is None else folded(com_divergence(com[0], com[1], step))
    frac, adf_values = find_sites(folded(adf), divergence)
    if not len(frac) or not families:
        return SiteClasses(frac, frac @ lattice.vectors, adf_values, {}, "",
                           np.full((ny, nx), NO_CLASS), float("nan"))
    invariance = invariance or {}
    tests = {name: family_test(name, folded(maps), frac, step, len(families),
                               invariance.get(name), significance)
             for name, maps in families.items()}
    best = chosen_family(tests)
    cmap, radius = class_map(frac, best.labels, lattice, (ny, nx), step)
    return SiteClasses(frac, frac @ lattice.vectors, adf_values, tests, best.name, cmap,
                       radius)
