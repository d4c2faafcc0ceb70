"""The 'site classes' analysis stage: which atom-column sites of the unit cell are
equivalent, judged by rotation-invariant descriptors (:mod:`symbreak.symmetry.sites`).

Runs after the symmetry stage and folds into its lattice (or, for a scan of exactly one
periodic cell, into the field of view). The descriptor families: the patterns' radial
profiles (computed here from the raw data, :mod:`symbreak.symmetry.radial`), the BF and
ADF images, and the rrVAE content latents when there is a fit not judged ``failed``;
the family that tells the classes apart best chooses them. Importing this module
registers its schema entries; :mod:`symbreak.analysis.plan` puts :data:`STAGE` in the
analysis order.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DataError
from ..preprocess import patterns as pp
from ..symmetry.api import EXCLUDE_RADIUS
from ..symmetry.lattice import Lattice
from ..symmetry.patterns import stabilised
from ..symmetry.radial import NOISE_FREE_FLOOR, radial_profiles
from ..symmetry.sites import SiteClasses, bandwidth, site_classes
from ..vae.diagnostics import INFORMATIVE
from . import schema as S
from . import symmetry_stage as Y
from .context import Context, Stage
from .pattern_stage import is_counts, shot_noise_counts

SECTION = S.SYMMETRY_SECTION  # drawn inside the symmetry section
NOISE_UNIT = "noise units"
RADIAL, CLASSICAL, RRVAE = "radial profile", "BF and ADF", "rrVAE content"
CLASS_MAP = S.define("site_class", S.SCAN, "1",
                     "class of the atom-column site nearest each probe position (-1: "
                     "farther than half the shortest site distance)", SECTION)
SITE_Y = S.define("site_y", ("site",), "Å", "atom-column site y in the unit cell at the "
                  "scan origin (scan frame)", SECTION)
SITE_X = S.define("site_x", ("site",), "Å", "atom-column site x in the unit cell at the "
                  "scan origin (scan frame)", SECTION)
SITE_CLASS = S.define("site_class_index", ("site",), "1", "class of each atom-column site",
                      SECTION)
SITE_ADF = S.define("site_adf", ("site",), S.DATA_UNITS,
                    "ADF image folded into the unit cell, at each site", SECTION)
SITE_LATENT = S.define("site_latent", ("site", "descriptor"), "1",
                       "the chosen family's maps folded into the unit cell, at each site",
                       SECTION)
SITE_NOISE = S.define("site_latent_noise", ("site", "descriptor"), "1",
                      "uncertainty of the folded values at each site: standard error of "
                      "the fold, sampling error, and the rrVAE's rotation-invariance "
                      "error (rrVAE family)", SECTION)
SITE_DISTANCE = S.define("site_distance", ("site", "other_site"), NOISE_UNIT,
                         "distance between the sites by the chosen family", SECTION)
CLASS_LATENT = S.define("site_class_latent", ("class", "descriptor"), "1",
                        "mean folded values of each site class (chosen family)", SECTION)
FAMILY_RATIO = S.define("site_family_separation", ("site_family",), "1",
                        "per descriptor family: smallest distance between its classes / "
                        "threshold (>1: told apart), or with one class its largest "
                        "distance / threshold", SECTION)
FAMILY_CLASSES = S.define("site_family_classes", ("site_family",), "1",
                          "number of site classes each descriptor family finds", SECTION)
CLASS_DISTANCE = S.define("site_class_distance", ("class", "other_class"), NOISE_UNIT,
                          "distance between site classes: their farthest pair of sites",
                          SECTION)
THRESHOLD = S.define("site_class_threshold", (), NOISE_UNIT,
                     "distance above which two sites are different classes by the chosen "
                     "family (1 % chance of splitting an equivalent pair, over pairs and "
                     "families)", SECTION)
NAMES = (CLASS_MAP, SITE_Y, SITE_X, SITE_CLASS, SITE_ADF, SITE_LATENT, SITE_NOISE,
         SITE_DISTANCE, CLASS_LATENT, CLASS_DISTANCE, THRESHOLD, FAMILY_RATIO,
         FAMILY_CLASSES)


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


def families(ctx: Context, results: xr.Dataset) -> tuple[dict, dict]:
    """The descriptor families (name: (c, ny, nx) maps) and the rrVAE's invariance error:
    radial profiles (when the raw data are at hand), BF and ADF (counts
    variance-stabilised, ``2 sqrt(n + 3/8)``: a robust scale of a few counts is
    biased, of their Anscombe transform it is not), and the rrVAE content latents
    unless its fit failed or its decoder uses none of them (then warned; only the
    latents it uses otherwise)."""
    out, invariance = {}, {}
    radial = radial_maps(ctx, results)
    if radial is not None:
        out[RADIAL] = radial
        if not is_counts(ctx, results):  # noise-free: compared at a pattern's shot noise
            invariance[RADIAL] = np.full(len(radial), NOISE_FREE_FLOOR)
    images = np.stack([results[n].values for n in (S.BF, S.ADF) if n in results])
    counts = all(shot_noise_counts(results[n]) for n in (S.BF, S.ADF) if n in results)
    out[CLASSICAL] = stabilised(images, True) if counts else images
    if S.LATENT_Z in results:
        used = used_latents(ctx.fit, results.sizes.get("latent", 0))
        if getattr(ctx.fit, "verdict", None) == "failed":
            warnings.warn("the rrVAE fit failed: its content latents are left out of the "
                          "site classes (a collapsed model's latents are no evidence)")
        elif not used.any():
            warnings.warn("the decoder does not use the rrVAE content latents: they are "
                          "left out of the site classes (a latent the decoder ignores "
                          "tells no pattern from another)")
        else:
            out[RRVAE] = results[S.LATENT_Z].values[used]
            invariance[RRVAE] = invariance_error(ctx.fit, out[RRVAE])
    return out, invariance


def used_latents(fit: Any, n_latents: int) -> np.ndarray:
    """(n_latents,) True for the content latents the decoder uses: each explains more
    than INFORMATIVE of the patterns' variance in the fit diagnostics; all True when the
    fit has no such numbers."""
    explained = getattr(fit, "latent_explained", None)
    if explained is None or len(explained) != n_latents:
        return np.ones(n_latents, bool)
    return np.asarray(explained, float) > INFORMATIVE


def radial_maps(ctx: Context, results: xr.Dataset) -> np.ndarray | None:
    """(rings, ny, nx) radial profiles of the raw patterns about the detector centre
    (calibration, else the mean pattern's centre); None without raw data."""
    data = getattr(ctx, "data", None)
    if data is None or not hasattr(data, "pattern_shape"):
        return None
    centre = data.calibration.detector_center or pp.pattern_center(ctx.raw_mean)
    try:
        return radial_profiles(data, centre, is_counts(ctx, results), progress=ctx.progress)
    except DataError as exc:
        warnings.warn(f"radial profiles left out of the site classes: {exc}")
        return None


def _sites(ctx: Context) -> xr.Dataset:
    results = ctx.results()
    if S.ADF not in results:
        return xr.Dataset()
    step = Y._step(ctx)
    adf = results[S.ADF].values
    exclude = None
    if Y.periodic_scan(ctx.data.metadata):
        lattice, (ny, nx) = cell_lattice(ctx.data.metadata, adf.shape, step)
    elif Y.LATTICE in results:
        lattice = Lattice(results[Y.LATTICE].values, source=results[Y.LATTICE].attrs.get(
            "source", "data"))
        ny, nx = adf.shape
        exclude = _near_anomalies(results, adf.shape, step)
    else:
        return xr.Dataset()  # the symmetry stage found no lattice and said so
    found_families, invariance = families(ctx, results)
    maps = {k: v[:, :ny, :nx] for k, v in found_families.items()}
    com = (np.stack([results[S.COM_Y].values, results[S.COM_X].values])[:, :ny, :nx]
           if S.COM_Y in results and S.COM_X in results else None)
    cal = ctx.data.calibration
    band = bandwidth(getattr(cal, "semiangle", None), getattr(cal, "wavelength", None))
    found = site_classes(maps, adf[:ny, :nx], lattice, step, com, invariance, exclude,
                         bandwidth=band)
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
                          family=found.family,
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
        THRESHOLD: S.make(THRESHOLD, np.asarray(found.threshold), family=found.family, **{
            k: v for k, v in (("largest_within_class", inside),
                              ("smallest_between_classes", between)) if np.isfinite(v)}),
        FAMILY_RATIO: S.make(FAMILY_RATIO, np.array([t.ratio for t in found.tests.values()])),
        FAMILY_CLASSES: S.make(FAMILY_CLASSES,
                               np.array([t.n_classes for t in found.tests.values()])),
    }, coords={"site_family": list(found.tests)})


STAGE = Stage("site classes", _sites, variables=NAMES, needs=(S.ADF,),
              uses=("fit", S.LATENT_Z, S.BF, S.COM_X, S.COM_Y, Y.LATTICE, Y.ANOMALY_Y,
                    Y.ANOMALY_X))
