"""Statistics of the site classes (:mod:`symbreak.symmetry.sites`): each descriptor
family's folded values at the sites, their noise, the distances between sites in noise
units, the chi-squared threshold and complete-linkage classes, and which family's
classes are told apart best.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from . import periodic
from .folding import CellImages, PeriodicFit, fold

SIGNIFICANCE = 0.01  # chance of splitting two equivalent sites, over all pairs
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


def site_distances(latent: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(m, m) distances [latent noise]: ``sqrt(sum_c (z_ic - z_jc)^2 / (s_ic^2 + s_jc^2))``
    for site latents ``latent`` (m, c) with noise ``sigma`` (m, c)."""
    diff = latent[:, None, :] - latent[None, :, :]
    var = sigma[:, None, :] ** 2 + sigma[None, :, :] ** 2
    return np.sqrt((diff ** 2 / np.maximum(var, 1e-300)).sum(axis=-1))


def distance_threshold(n_sites: int, n_latents: int, significance: float = SIGNIFICANCE,
                       n_families: int = 1) -> float:
    """Distance [noise units] above which two sites differ: the chi-squared quantile
    (``n_latents`` degrees of freedom) for ``significance`` over all pairs and all
    ``n_families`` descriptor families tried (Bonferroni)."""
    pairs = max(n_sites * (n_sites - 1) // 2, 1) * max(n_families, 1)
    return float(np.sqrt(stats.chi2.isf(significance / pairs, max(n_latents, 1))))


def site_noise(fit: PeriodicFit, sites: np.ndarray, step: tuple[float, float]
               ) -> np.ndarray:
    """(m, c) uncertainty of a fit's folded value at each site (``sites`` (m, 2)
    fractional): the standard error of the fold, from the scatter of single patterns at
    the site's lattice-equivalent positions (:func:`local_scatter`) and the fit's
    leverage there, and, added in quadrature, the sampling error: the RMS change of the
    folded value over a circle of half a scan step about the site. The scan sees the cell
    only every step, so a value between samples is known no better; this is what keeps a
    noise-free simulation's equivalent sites together. (With noise the change also holds
    some noise: the bound is conservative, it errs towards fewer classes.)"""
    yx = sites @ fit.lattice.vectors
    scatter = np.maximum(fit.scatter, 1e-300)
    se = local_scatter(fit, sites) * fit.standard_error(yx[:, 0], yx[:, 1]) / scatter
    turn = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    ring = 0.5 * np.stack([step[0] * np.sin(turn), step[1] * np.cos(turn)], axis=1)
    sampling = np.empty_like(se)
    for i, centre in enumerate(yx):
        around = fit.at(*(centre + ring).T) - fit.at(centre[:1], centre[1:])
        sampling[i] = np.sqrt(np.mean(around ** 2, axis=0))
    return np.sqrt(se ** 2 + sampling ** 2)


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


@dataclasses.dataclass(frozen=True)
class FamilyTest:
    """One descriptor family's verdict on which sites are equivalent.

    Attributes
    ----------
    name
        The family ("radial profile", "BF and ADF", "rrVAE content").
    values
        (m, c) the family's folded maps at each site.
    noise
        (m, c) their uncertainty (:func:`site_noise`, and a model's invariance error).
    distance
        (m, m) distances between sites [noise units].
    threshold
        Distance above which two sites differ [noise units].
    labels
        (m,) complete-linkage classes at the threshold.
    """

    name: str
    values: np.ndarray
    noise: np.ndarray
    distance: np.ndarray
    threshold: float
    labels: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    def separation(self) -> tuple[float, float]:
        """(largest distance inside a class, smallest distance between classes: their
        farthest pair of sites) [noise units]; NaN where there is none."""
        same = self.labels[:, None] == self.labels[None, :]
        inside = self.distance[same & ~np.eye(len(self.labels), dtype=bool)]
        between = [self.distance[np.ix_(self.labels == a, self.labels == b)].max()
                   for a in range(self.n_classes) for b in range(a)]
        return (float(inside.max()) if inside.size else float("nan"),
                float(min(between)) if between else float("nan"))

    @property
    def ratio(self) -> float:
        """Smallest between-class distance / threshold (> 1: the classes are told apart);
        with one class, the largest distance / threshold (< 1: how near a split)."""
        inside, between = self.separation()
        value = between if self.n_classes > 1 else inside
        return float(value / self.threshold) if np.isfinite(value) else 0.0


def family_test(name: str, fit: PeriodicFit, sites: np.ndarray, step: tuple[float, float],
                n_families: int, invariance: np.ndarray | None = None,
                significance: float = SIGNIFICANCE) -> FamilyTest:
    """Fold one family's maps (``fit``) at the ``sites`` (m, 2) fractional and cluster
    them at the chi-squared threshold (Bonferroni over pairs and ``n_families``)."""
    yx = sites @ fit.lattice.vectors
    values = fit.at(yx[:, 0], yx[:, 1])
    c = values.shape[1]
    inv = np.zeros(c) if invariance is None else np.nan_to_num(np.asarray(invariance, float))
    noise = np.sqrt(site_noise(fit, sites, step) ** 2 + inv[None, :] ** 2)
    distance = site_distances(values, noise)
    threshold = distance_threshold(len(sites), c, significance, n_families)
    return FamilyTest(name, values, noise, distance, threshold, cluster(distance, threshold))


def chosen_family(tests: dict[str, FamilyTest]) -> FamilyTest:
    """The family whose classes are told apart best: of those that split the sites, the
    largest smallest-between-class distance / threshold; if none splits them, the one
    nearest a split (its classes: one)."""
    split = [t for t in tests.values() if t.n_classes > 1]
    return max(split or list(tests.values()), key=lambda t: t.ratio)
