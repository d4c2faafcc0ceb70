"""Site classes: which atom-column sites of the unit cell are equivalent, judged by the
rrVAE's rotation-invariant content latents.

Two sites whose patterns differ only by a rotation (graphene's A and B sublattices) get
the same content latents; sites with different local structure (Zn and S columns of
ZnS [110]) do not. The steps:

1. **Fold** every map into the unit cell: a robust (Tukey bisquare) lattice-periodic
   Fourier fit of each map (:class:`symbreak.symmetry.folding.PeriodicFit`, the same fit
   as the symmetry residuals' reference), the smooth form of "fold into the cell, robust
   average over cells, interpolate"; it can be evaluated anywhere in the cell.
2. **Sites**: the maxima of the folded ADF image on a fine grid over the cell (refined
   between its points) whose prominence (height above the highest saddle towards a
   brighter maximum, periodic) is at least ``PROMINENCE`` of the cell's ADF range and
   three standard errors of the fit (Fourier ringing and noise make no site).
3. **Latent noise** per content latent c: ``sigma_c^2 = scatter_c^2 + invariance_c^2``:
   the robust scatter of single patterns about the folded latent at the positions that
   fold to within ``FOOTPRINT`` of the site (the lattice-equivalent positions; for a
   noise-free simulation what the folding cannot reproduce) and the model's own
   rotation-invariance error (how far the latent moves when the pattern is turned). It is
   the noise of one pattern's latent, not of the average over cells: two sites are told
   apart only when their patterns are, one by one, as a microscopist would want of a
   class map (and systematic errors of the folding, which averaging does not remove,
   cannot split equivalent sites).
4. **Distance** between two sites: ``D_ij^2 = sum_c (z_ic - z_jc)^2 / (sigma_ic^2 +
   sigma_jc^2)`` (in latent-noise units); under "the sites are equivalent" ``D^2`` is
   chi-squared with as many degrees of freedom as latents. Sites are joined by
   complete-linkage clustering below the chi-squared quantile for a ``SIGNIFICANCE``
   (1 %) chance of splitting an equivalent pair, Bonferroni over the pairs: the number
   of classes comes from the data, and every pair inside a class is within it.
5. **Class map**: each probe position takes the class of the nearest site (minimum
   image in the cell) within half the shortest site-site distance; -1 elsewhere.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize, stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from . import periodic
from .folding import CellImages, PeriodicFit, fit_periodic, fold, scan_positions
from .lattice import Lattice

SIGNIFICANCE = 0.01  # chance of splitting two equivalent sites, over all pairs
PROMINENCE = 0.1  # a site's ADF prominence, at least this fraction of the cell's range
STANDARD_ERRORS = 3.0  # ... and this many standard errors of the folded ADF
GRID_SPACING = 0.05  # [Å] finest spacing of the grid over the cell where sites are sought
MAX_GRID = 160  # grid points per cell axis at most (bounds memory for large cells)
NO_CLASS = -1  # class-map value away from every site
FOOTPRINT = 0.3  # [Å] radius around a site whose folded residuals give its scatter
MIN_SAMPLES = 8  # ... and at least this many positions


def local_scatter(fit: PeriodicFit, sites: np.ndarray, radius: float | None = None,
                  at_least: int | None = None) -> np.ndarray:
    """(m, c) robust spread of the residuals at the probe positions that fold to within
    ``radius`` [Å] of each site (``sites``: (m, 2) fractional), at least the
    ``at_least`` nearest; never below the fit's global scatter. Where the map changes
    fast (atom cores) the folding is least accurate and the equivalent positions show
    it."""
    radius = FOOTPRINT if radius is None else radius
    at_least = MIN_SAMPLES if at_least is None else at_least
    kept = fit.positions[fit.kept]
    images = CellImages(fit.lattice, fold(fit.lattice, kept[:, 0], kept[:, 1]))
    residual = fit.residual[fit.kept]
    out = np.empty((len(sites), residual.shape[1]))
    for i, centre in enumerate(sites @ fit.lattice.vectors):
        out[i] = periodic.robust_scale(residual[images.around(centre, radius, at_least)])
    return np.maximum(out, fit.scatter[None, :])


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


def find_sites(adf: PeriodicFit, spacing: float = GRID_SPACING
               ) -> tuple[np.ndarray, np.ndarray]:
    """Atom-column sites: (m, 2) fractional positions in [0, 1) and their folded ADF
    values, brightest first (see the module docstring, step 2)."""
    uv, yx = cell_grid(adf.lattice, spacing)
    values = adf.at(yx[:, 0], yx[:, 1])[:, 0].reshape(uv.shape[:2])
    prom = prominences(values)
    iy, ix = np.nonzero(prom >= max(PROMINENCE * float(np.ptp(values)), 1e-300))
    where = uv[iy, ix] @ adf.lattice.vectors
    se = adf.standard_error(where[:, 0], where[:, 1])[:, 0] if len(where) else np.zeros(0)
    iy, ix = iy[prom[iy, ix] >= STANDARD_ERRORS * se], ix[prom[iy, ix] >= STANDARD_ERRORS * se]
    spacing_uv = 1.0 / np.array(uv.shape[:2], float)
    refined = np.array([_refine(adf, uv[i, j], spacing_uv) for i, j in zip(iy, ix)])
    refined = refined.reshape(-1, 2) % 1.0
    refined[refined > 1 - 1e-6] = 0.0  # a site on the cell's edge: at the origin
    heights = adf.at(*(refined @ adf.lattice.vectors).T)[:, 0] if len(refined) else np.zeros(0)
    order = np.argsort(-heights, kind="stable")
    return refined[order], heights[order]


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


def site_distances(latent: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(m, m) distances [latent noise]: ``sqrt(sum_c (z_ic - z_jc)^2 / (s_ic^2 + s_jc^2))``
    for site latents ``latent`` (m, c) with noise ``sigma`` (m, c)."""
    diff = latent[:, None, :] - latent[None, :, :]
    var = sigma[:, None, :] ** 2 + sigma[None, :, :] ** 2
    return np.sqrt((diff ** 2 / np.maximum(var, 1e-300)).sum(axis=-1))


def distance_threshold(n_sites: int, n_latents: int, significance: float = SIGNIFICANCE
                       ) -> float:
    """Distance [latent noise] above which two sites differ: the chi-squared quantile
    (``n_latents`` degrees of freedom) for ``significance`` over all pairs (Bonferroni)."""
    pairs = max(n_sites * (n_sites - 1) // 2, 1)
    return float(np.sqrt(stats.chi2.isf(significance / pairs, max(n_latents, 1))))


def cluster(distance: np.ndarray, threshold: float) -> np.ndarray:
    """Class of each site: complete-linkage clusters whose every pair is within
    ``threshold``; classes numbered in order of their first site."""
    m = len(distance)
    if m < 2:
        return np.zeros(m, int)
    tree = hierarchy.linkage(squareform(distance, checks=False), method="complete")
    raw = hierarchy.fcluster(tree, t=threshold, criterion="distance")
    first = {c: k for k, c in enumerate(dict.fromkeys(raw.tolist()))}
    return np.array([first[c] for c in raw], int)


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
    latent
        (m, c) folded content latents at each site.
    noise
        (m, c) latent noise of each site's latents (see the module docstring).
    distance
        (m, m) distances between sites [latent noise].
    threshold
        Distance above which two sites are told apart [latent noise].
    labels
        (m,) class of each site (0, 1, ...).
    class_map
        (ny, nx) class of the site nearest each probe position, NO_CLASS beyond
        ``radius`` [Å].
    radius
        Half the shortest site-site distance [Å].
    """

    fractional: np.ndarray
    positions: np.ndarray
    adf: np.ndarray
    latent: np.ndarray
    noise: np.ndarray
    distance: np.ndarray
    threshold: float
    labels: np.ndarray
    class_map: np.ndarray
    radius: float

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    def class_latent(self) -> np.ndarray:
        """(k, c) mean content latent of each class."""
        return np.stack([self.latent[self.labels == k].mean(axis=0)
                         for k in range(self.n_classes)])

    def class_distance(self) -> np.ndarray:
        """(k, k) distance between classes [latent noise]: their farthest pair of sites
        (complete linkage; above the threshold for any two classes)."""
        k = self.n_classes
        out = np.zeros((k, k))
        for a in range(k):
            for b in range(k):
                pair = self.distance[np.ix_(self.labels == a, self.labels == b)]
                out[a, b] = pair.max() if a != b else 0.0
        return out

    def separation(self) -> tuple[float, float]:
        """(largest distance inside a class, smallest class distance) [latent noise];
        NaN where there is none."""
        same = self.labels[:, None] == self.labels[None, :]
        off = ~np.eye(len(self.labels), dtype=bool)
        inside = self.distance[same & off]
        between = self.class_distance()[~np.eye(self.n_classes, dtype=bool)]
        return (float(inside.max()) if inside.size else float("nan"),
                float(between.min()) if between.size else float("nan"))

    def statement(self, by: str = "the rrVAE content latents") -> str:
        """One sentence: how many sites, how many classes ``by`` what, how far apart."""
        m, k = len(self.labels), self.n_classes
        inside, between = self.separation()
        text = (f"{m} atom-column site{'s' if m != 1 else ''} in the unit cell, "
                f"{k} distinct class{'es' if k != 1 else ''} by {by}")
        parts = []
        if np.isfinite(inside):
            parts.append(f"equivalent sites within {inside:.2g} latent-noise units")
        if np.isfinite(between):
            parts.append(f"classes at least {between:.2g} apart (farthest pair of sites)")
        parts.append(f"threshold {self.threshold:.2g}")
        return text + " (" + "; ".join(parts) + ")"


def site_classes(latents: np.ndarray, adf: np.ndarray, lattice: Lattice,
                 step: tuple[float, float], invariance: np.ndarray | None = None,
                 exclude: np.ndarray | None = None,
                 significance: float = SIGNIFICANCE) -> SiteClasses:
    """Which atom-column sites are equivalent, from the content latents.

    Parameters
    ----------
    latents
        (c, ny, nx) rrVAE content latent maps (rotation-invariant).
    adf
        (ny, nx) ADF image, whose folded maxima are the atom-column sites.
    lattice
        The scan's lattice (for a one-cell periodic scan: the field of view).
    step
        Scan step (dy, dx) [Å].
    invariance
        (c,) the model's rotation-invariance error of each latent (latent units): how
        far a latent moves when its pattern is turned; None or zeros: not known.
    exclude
        (ny, nx) positions left out of the folding (known anomalies).
    significance
        Chance of splitting an equivalent pair, over all pairs.

    Returns
    -------
    SiteClasses
        Sites brightest first; with no site found, empty arrays and an all-NO_CLASS map.
    """
    latents = np.asarray(latents, float)
    c, ny, nx = latents.shape
    adf_fit = fit_periodic(adf, lattice, step, exclude)
    frac, adf_values = find_sites(adf_fit)
    yx = frac @ lattice.vectors
    fit = fit_periodic(latents, lattice, step, exclude)
    latent = fit.at(yx[:, 0], yx[:, 1]) if len(yx) else np.zeros((0, c))
    inv = np.zeros(c) if invariance is None else np.nan_to_num(np.asarray(invariance, float))
    scatter = local_scatter(fit, frac) if len(yx) else np.zeros((0, c))
    noise = np.sqrt(scatter ** 2 + inv[None, :] ** 2)
    distance = site_distances(latent, noise)
    threshold = distance_threshold(len(yx), c, significance)
    labels = cluster(distance, threshold)
    if len(yx):
        cmap, radius = class_map(frac, labels, lattice, (ny, nx), step)
    else:
        cmap, radius = np.full((ny, nx), NO_CLASS), float("nan")
    return SiteClasses(frac, yx, adf_values, latent, noise, distance, threshold, labels,
                       cmap, radius)
