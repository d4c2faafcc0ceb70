"""The 'site classes' analysis stage: which atom-column sites of the unit cell are
equivalent, judged by the rrVAE's rotation-invariant content latents
(:mod:`symbreak.symmetry.sites`).

Runs after the symmetry stage and folds into its lattice (or, for a scan of exactly one
periodic cell, into the field of view). Nothing is computed from the latents of a fit
judged ``failed``. Importing this module registers its schema entries;
:mod:`symbreak.analysis.plan` puts :data:`STAGE` in the analysis order.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr

from ..symmetry.api import EXCLUDE_RADIUS
from ..symmetry.lattice import Lattice
from ..symmetry.sites import SiteClasses, site_classes
from . import schema as S
from . import symmetry_stage as Y
from .context import Context, Stage

SECTION = S.SYMMETRY_SECTION  # drawn inside the symmetry section
NOISE_UNIT = "latent noise"
CLASS_MAP = S.define("site_class", S.SCAN, "1",
                     "class of the atom-column site nearest each probe position, by the "
                     "rrVAE content latents (-1: farther than half the shortest site "
                     "distance)", SECTION)
SITE_Y = S.define("site_y", ("site",), "Å", "atom-column site y in the unit cell at the "
                  "scan origin (scan frame)", SECTION)
SITE_X = S.define("site_x", ("site",), "Å", "atom-column site x in the unit cell at the "
                  "scan origin (scan frame)", SECTION)
SITE_CLASS = S.define("site_class_index", ("site",), "1", "class of each atom-column site",
                      SECTION)
SITE_ADF = S.define("site_adf", ("site",), S.DATA_UNITS,
                    "ADF image folded into the unit cell, at each site", SECTION)
SITE_LATENT = S.define("site_latent", ("site", "latent"), "1",
                       "rrVAE content latents folded into the unit cell, at each site",
                       SECTION)
SITE_NOISE = S.define("site_latent_noise", ("site", "latent"), "1",
                      "latent noise at each site: scatter of single patterns about the "
                      "folded latents and the rrVAE's rotation-invariance error", SECTION)
SITE_DISTANCE = S.define("site_distance", ("site", "other_site"), NOISE_UNIT,
                         "distance between the sites' folded content latents", SECTION)
CLASS_LATENT = S.define("site_class_latent", ("class", "latent"), "1",
                        "mean folded content latents of each site class", SECTION)
CLASS_DISTANCE = S.define("site_class_distance", ("class", "other_class"), NOISE_UNIT,
                          "distance between site classes: their farthest pair of sites",
                          SECTION)
THRESHOLD = S.define("site_class_threshold", (), NOISE_UNIT,
                     "distance above which two sites are different classes (1 % chance of "
                     "splitting an equivalent pair)", SECTION)
NAMES = (CLASS_MAP, SITE_Y, SITE_X, SITE_CLASS, SITE_ADF, SITE_LATENT, SITE_NOISE,
         SITE_DISTANCE, CLASS_LATENT, CLASS_DISTANCE, THRESHOLD)


def cell_lattice(metadata: Any, shape: tuple[int, int], step: tuple[float, float]
                 ) -> tuple[Lattice, tuple[int, int]]:
    """The lattice of a one-cell periodic scan (the field of view) and the number of
    positions (ny, nx) that make one period: a simulation with ``periodic`` appends a
    copy of the first row and column."""
    try:
        appended = bool(metadata["simulation"]["settings"].get("periodic", True))
    except (KeyError, TypeError, AttributeError):
        appended = False
    ny, nx = (n - 1 if appended and n > 1 else n for n in shape)
    return Lattice(np.diag([ny * step[0], nx * step[1]]), source="periodic scan"), (ny, nx)


def invariance_error(fit: Any, latents: np.ndarray) -> np.ndarray:
    """(c,) the rrVAE's rotation-invariance error per content latent (latent units): the
    fit's content drift under an interpolated turn (in units of a latent's spread) times
    each latent's spread over the scan; zeros when the fit has no such number."""
    drift = float(getattr(fit, "content_drift_interpolated", float("nan")))
    if not np.isfinite(drift):
        return np.zeros(latents.shape[0])
    return drift * np.nanstd(latents.reshape(latents.shape[0], -1), axis=1)


def _sites(ctx: Context) -> xr.Dataset:
    results = ctx.results()
    if S.LATENT_Z not in results or S.ADF not in results:
        return xr.Dataset()
    fit = ctx.fit
    if getattr(fit, "verdict", None) == "failed":
        warnings.warn("the rrVAE fit failed: site classes are not computed from its "
                      "latents (a collapsed model's latents are no evidence)")
        return xr.Dataset()
    step = Y._step(ctx)
    latents = results[S.LATENT_Z].values
    adf = results[S.ADF].values
    exclude = None
    if Y.periodic_scan(ctx.data.metadata):
        lattice, (ny, nx) = cell_lattice(ctx.data.metadata, adf.shape, step)
        latents, adf = latents[:, :ny, :nx], adf[:ny, :nx]
    elif Y.LATTICE in results:
        lattice = Lattice(results[Y.LATTICE].values, source=results[Y.LATTICE].attrs.get(
            "source", "data"))
        exclude = _near_anomalies(results, adf.shape, step)
    else:
        return xr.Dataset()  # the symmetry stage found no lattice and said so
    found = site_classes(latents, adf, lattice, step, invariance_error(fit, latents),
                         exclude)
    if not len(found.labels):
        warnings.warn("site classes skipped: no atom-column site (ADF maximum) stands out "
                      "in the folded ADF image")
        return xr.Dataset()
    return _dataset(found, results, lattice)


def _near_anomalies(results: xr.Dataset, shape: tuple[int, int], step: tuple[float, float]
                    ) -> np.ndarray | None:
    """Positions within EXCLUDE_RADIUS [Å] of the symmetry stage's anomalies: a defect
    is not a site of the crystal and stays out of the folding."""
    if Y.ANOMALY_Y not in results:
        return None
    Y_, X_ = np.meshgrid(np.arange(shape[0]) * step[0], np.arange(shape[1]) * step[1],
                         indexing="ij")
    mask = np.zeros(shape, bool)
    for y, x in zip(results[Y.ANOMALY_Y].values, results[Y.ANOMALY_X].values):
        mask |= np.hypot(Y_ - y, X_ - x) <= EXCLUDE_RADIUS
    return mask


def _full_map(found: SiteClasses, shape: tuple[int, int]) -> np.ndarray:
    """The class map on the whole scan (a periodic scan's appended row and column repeat
    the first)."""
    out = np.empty(shape, int)
    ny, nx = found.class_map.shape
    out[:ny, :nx] = found.class_map
    out[ny:, :nx] = found.class_map[: shape[0] - ny]
    out[:, nx:] = out[:, : shape[1] - nx]
    return out


def _dataset(found: SiteClasses, results: xr.Dataset, lattice: Lattice) -> xr.Dataset:
    shape = tuple(results.sizes[d] for d in S.SCAN)
    inside, between = found.separation()
    return xr.Dataset({
        CLASS_MAP: S.make(CLASS_MAP, _full_map(found, shape), statement=found.statement(),
                          radius=found.radius, radius_units="Å",
                          lattice=lattice.describe()),
        SITE_Y: S.make(SITE_Y, found.positions[:, 0]),
        SITE_X: S.make(SITE_X, found.positions[:, 1]),
        SITE_CLASS: S.make(SITE_CLASS, found.labels),
        SITE_ADF: S.make(SITE_ADF, found.adf, units=results[S.ADF].attrs.get("units", "")),
        SITE_LATENT: S.make(SITE_LATENT, found.latent),
        SITE_NOISE: S.make(SITE_NOISE, found.noise),
        SITE_DISTANCE: S.make(SITE_DISTANCE, found.distance),
        CLASS_LATENT: S.make(CLASS_LATENT, found.class_latent()),
        CLASS_DISTANCE: S.make(CLASS_DISTANCE, found.class_distance()),
        THRESHOLD: S.make(THRESHOLD, np.asarray(found.threshold), **{
            k: v for k, v in (("largest_within_class", inside),
                              ("smallest_between_classes", between)) if np.isfinite(v)}),
    })


STAGE = Stage("site classes", _sites, variables=NAMES, needs=("fit", S.LATENT_Z, S.ADF),
              uses=(Y.LATTICE, Y.ANOMALY_Y, Y.ANOMALY_X))
