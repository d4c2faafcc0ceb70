"""The 'symmetry' analysis stage: where is the crystal's symmetry broken?

Finds the scan's lattice from the BF/ADF/COM maps (or takes ``settings.symmetry.lattice``
[Å] when it is given), compares every descriptor with its lattice-equivalent
positions (:mod:`symbreak.symmetry`) and writes the scores, the threshold, the anomalies
and example patterns to the results. Importing this module registers its schema
entries; :mod:`symbreak.analysis.plan` puts :data:`STAGE` in the analysis order.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import xarray as xr

from ..engine import COPIES_PERIODIC_FIT, placement
from ..errors import DataError, SettingsError
from ..symmetry import find_lattice, lattice_from_setting
from ..symmetry.lattice import Lattice
from ..symmetry.api import FAMILIES, Descriptor, SymmetryResult, symmetry_breaking
from ..symmetry.reference import design_bytes
from . import schema as S
from .context import Context, Stage
from .pattern_stage import CHANNELS as PATTERN_CHANNELS
from .pattern_stage import shot_noise_counts

SECTION = S.SYMMETRY_SECTION
MAP_DIM = "symmetry_map"
LATTICE = S.define("symmetry_lattice", ("lattice_vector", "vector_component"), "Å",
                   "lattice vectors a1, a2 as (y, x) in the scan frame", SECTION)
SCORE = S.define("symmetry_score", (MAP_DIM,) + S.SCAN, "sigma",
                 "symmetry-breaking score per descriptor, family and combined: deviation "
                 "from the lattice-equivalent positions in robust standard deviations", SECTION)
THRESHOLD = S.define("symmetry_threshold", (), "sigma",
                     "anomaly threshold of the combined score (1 % false alarms per scan)",
                     SECTION)
ANOMALY_Y = S.define("symmetry_anomaly_y", ("anomaly",), "Å", "anomaly position y", SECTION)
ANOMALY_X = S.define("symmetry_anomaly_x", ("anomaly",), "Å", "anomaly position x", SECTION)
ANOMALY_SCORE = S.define("symmetry_anomaly_score", ("anomaly",), "sigma",
                         "combined score at the anomaly", SECTION)
ANOMALY_PATTERN = S.define("symmetry_anomaly_pattern", ("example",) + S.RAW_DETECTOR,
                           S.DATA_UNITS, "pattern at each of the strongest anomalies "
                           "(example i = anomaly i)", SECTION)
REFERENCE_PATTERN = S.define("symmetry_reference_pattern", ("example",) + S.RAW_DETECTOR,
                             S.DATA_UNITS, "median pattern at the anomaly's lattice-equivalent "
                             "positions elsewhere in the scan", SECTION)
NAMES = (LATTICE, SCORE, THRESHOLD, ANOMALY_Y, ANOMALY_X, ANOMALY_SCORE, ANOMALY_PATTERN,
         REFERENCE_PATTERN)
# the maps :func:`descriptors` reads, each when an earlier stage made it
DESCRIPTOR_MAPS = (S.BF, S.ADF, S.DF, S.COM_X, S.COM_Y, S.COM_ANGLE, S.LATENT_Z, S.LATENT_ANGLE,
                   S.RECONSTRUCTION_ERROR, PATTERN_CHANNELS)


def descriptors(results: xr.Dataset) -> dict[str, Descriptor]:
    """The descriptors present in ``results``: BF, ADF, DF (counts when their unit says so),
    COM (vector; and as its divergence and curl), rrVAE content latents (channels), angle latent relative to the COM
    angle (with the COM vector, whose length sets that angle's certainty),
    reconstruction error, whole-pattern channels (with their shot-noise sd when the
    patterns are counts)."""
    out: dict[str, Descriptor] = {}
    for name in (S.BF, S.ADF, S.DF):
        if name in results:
            out[name] = Descriptor("scalar", results[name].values,
                                   counts=shot_noise_counts(results[name]))
    com = None
    if S.COM_X in results and S.COM_Y in results:
        com = np.stack([results[S.COM_Y].values, results[S.COM_X].values])
        out["com"] = Descriptor("vector", com)
        out["com_divergence"] = Descriptor("field", com)
    if S.LATENT_Z in results:
        out["rrvae_content"] = Descriptor("channels", results[S.LATENT_Z].values)
    if S.LATENT_ANGLE in results and S.COM_ANGLE in results:
        out["rrvae_angle_vs_com"] = Descriptor("angle", results[S.LATENT_ANGLE].values,
                                               results[S.COM_ANGLE].values, vector=com)
    if S.RECONSTRUCTION_ERROR in results:
        out["reconstruction_error"] = Descriptor("scalar",
                                                 results[S.RECONSTRUCTION_ERROR].values)
    if PATTERN_CHANNELS in results:
        channels = results[PATTERN_CHANNELS]
        noise = json.loads(channels.attrs.get("components", "{}")).get("noise_sd")
        out["whole_pattern"] = Descriptor("channels", channels.values,
                                          noise_sd=None if noise is None else np.array(noise))
    return out


def periodic_scan(metadata: Any) -> bool:
    """True when the scan is one periodic cell (a simulation with scan_region='cell')."""
    try:
        return metadata["simulation"]["settings"]["scan_region"] == "cell"
    except (KeyError, TypeError):
        return False


def _step(ctx: Context) -> tuple[float, float]:
    return scan_step_of(ctx.data.calibration.scan_step)


def length_unit(step: Any) -> str:
    """The unit of the stage's lengths: Å, or px for an uncalibrated scan (step None)."""
    return "px" if step is None else "Å"


def scan_step_of(step: Any) -> tuple[float, float]:
    """The (y, x) scan step [Å] the stage works with (1, 1 for an uncalibrated scan)."""
    return (1.0, 1.0) if step is None else (float(step[0]), float(step[1]))


def lattice_for_scan(setting: Any, shape: tuple[int, int], step: tuple[float, float],
                     unit: str = "Å") -> Lattice:
    """The lattice ``setting`` (a1y, a1x, a2y, a2x) [Å] checked against a ``shape`` scan
    of ``step`` [Å] before anything is sized from it: every vector at least two scan steps
    long (the scan resolves it) and at least one cell across the field of view along each
    lattice direction, and its periodic fits within the memory budget. ``unit`` names the
    lengths in messages ("px" for an uncalibrated scan, whose step is 1).

    Raises
    ------
    SettingsError
        One line naming ``lattice=``, the value and the allowed range.
    """
    given = np.asarray(setting, dtype=float).ravel()
    text = ",".join(f"{v:g}" for v in given)
    extent = (shape[0] * step[0], shape[1] * step[1])
    shortest, longest = 2 * max(step), float(np.hypot(*extent))
    allowed = (f"each vector between {shortest:.4g} {unit} (two scan steps) and the "
               f"{extent[0]:.4g} x {extent[1]:.4g} {unit} field of view")
    with np.errstate(all="ignore"):
        lengths = np.hypot(given[0::2], given[1::2]) if given.size == 4 else np.zeros(2)
    if not np.all(np.isfinite(given)) or not np.all(lengths <= longest):
        raise SettingsError(f"lattice={text} [{unit}] cannot be fitted to this scan: {allowed}")
    lattice = lattice_from_setting(given)
    reduced = min(lattice.lengths)
    cells = min(lattice.cells_across(extent))
    if reduced < shortest or cells < 1 - 1e-6:  # one cell across: a periodic one-cell scan
        raise SettingsError(f"lattice={text} [{unit}] cannot be fitted to this scan (shortest "
                            f"vector {reduced:.4g} {unit}, {cells:.3g} cells across): {allowed}")
    try:
        check_memory(lattice, shape[0], shape[1], step)
    except DataError as exc:
        raise SettingsError(f"lattice={text} [{unit}]: {exc}") from None
    return lattice


def _symmetry(ctx: Context) -> xr.Dataset:
    results = ctx.results()
    found = _trusted(descriptors(results), ctx.fit)
    step = _step(ctx)
    if periodic_scan(ctx.data.metadata):
        warnings.warn("the scan is one periodic unit cell: every position is its own "
                      "lattice-equivalent reference, so there is no symmetry to test; the "
                      "symmetry scores are set to 0 (a perfect-crystal control)")
        return _periodic_control(found, results)
    setting = ctx.settings.symmetry.lattice
    shape = (results.sizes[S.SCAN[0]], results.sizes[S.SCAN[1]])
    try:
        lattice = (lattice_for_scan(setting, shape, step,
                                    length_unit(ctx.data.calibration.scan_step))
                   if setting is not None
                   else find_lattice([d.values for k, d in found.items() if k in (S.BF, S.ADF)]
                                     + list(found["com"].values if "com" in found else []),
                                     step))
        check_memory(lattice, *shape, step)
        result = symmetry_breaking(found, lattice, step)
    except DataError as exc:
        warnings.warn(f"symmetry stage skipped: {exc}")
        return xr.Dataset()
    return _dataset(result, ctx)


def check_memory(lattice: Any, ny: int, nx: int, step: tuple[float, float]) -> None:
    """A DataError when the lattice-periodic fits of a ``ny`` x ``nx`` scan would not fit
    the memory budget (large scans of large cells need many harmonics at many positions)."""
    need = design_bytes(lattice, (ny, nx), step)
    if placement(need, COPIES_PERIODIC_FIT).streamed:
        raise DataError(f"the periodic reference of a {ny} x {nx} scan with the lattice "
                        f"{lattice.describe()} needs about {need * COPIES_PERIODIC_FIT / 2**20:.0f}"
                        f" MiB, more than the memory budget; run analyze with a larger "
                        f"--memory-budget or on a part of the scan")


def _trusted(found: dict[str, Descriptor], fit: Any) -> dict[str, Descriptor]:
    """The descriptors without the rrVAE's when its fit failed: a collapsed model's maps
    are no evidence of anything, so they must not raise or lower the scores."""
    if fit is None or getattr(fit, "verdict", None) != "failed":
        return found
    warnings.warn("the rrVAE fit failed: its maps are left out of the symmetry scores "
                  "(classical descriptors only)")
    return {k: d for k, d in found.items() if k not in FAMILIES["rrvae"]}


def _periodic_control(found: dict[str, Descriptor], results: xr.Dataset) -> xr.Dataset:
    names = list(found) + list(FAMILIES) + ["combined"]
    shape = (len(names),) + tuple(results.sizes[d] for d in S.SCAN)
    return xr.Dataset({SCORE: S.make(SCORE, np.zeros(shape), note="periodic one-cell scan: "
                                     "no lattice-equivalent positions to compare")},
                      coords={MAP_DIM: names})


def _dataset(result: SymmetryResult, ctx: Context) -> xr.Dataset:
    names = list(result.scores)
    anomalies = result.anomalies
    anomaly, reference = _example_patterns(result, ctx)
    unit = ctx.pattern_unit
    lattice = result.lattice
    return xr.Dataset({
        LATTICE: S.make(LATTICE, lattice.vectors, source=lattice.source,
                        explained_variance=float(lattice.explained),
                        description=lattice.describe()),
        SCORE: S.make(SCORE, np.stack([result.scores[n] for n in names])),
        THRESHOLD: S.make(THRESHOLD, np.asarray(result.threshold)),
        ANOMALY_Y: S.make(ANOMALY_Y, np.array([a.y for a in anomalies], float)),
        ANOMALY_X: S.make(ANOMALY_X, np.array([a.x for a in anomalies], float)),
        ANOMALY_SCORE: S.make(ANOMALY_SCORE, np.array([a.score for a in anomalies], float)),
        ANOMALY_PATTERN: S.make(ANOMALY_PATTERN, anomaly, units=unit),
        REFERENCE_PATTERN: S.make(REFERENCE_PATTERN, reference, units=unit),
    }, coords={MAP_DIM: names, "lattice_vector": ["a1", "a2"],
               "vector_component": ["y", "x"]},
        attrs={"symmetry_families": json.dumps({k: list(v) for k, v in FAMILIES.items()})})


def _example_patterns(result: SymmetryResult, ctx: Context, count: int = 4
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Raw patterns at the strongest anomalies and the median of the patterns at their
    lattice-equivalent positions (not themselves anomalous)."""
    shape = result.scores["combined"].shape
    ky, kx = ctx.data.pattern_shape
    chosen = result.anomalies[:count]
    if not chosen:
        return np.zeros((0, ky, kx)), np.zeros((0, ky, kx))
    neighbours = result.neighbours.nearest(16)
    excluded = result.excluded.ravel()
    dask = ctx.data.to_dask()
    anomaly, reference = [], []
    for a in chosen:
        flat = a.index[0] * shape[1] + a.index[1]
        keep = [i for i in neighbours[flat] if not excluded[i]][:8] or list(neighbours[flat][:8])
        anomaly.append(np.asarray(dask[a.index[0], a.index[1]].compute(), float))
        stack = [np.asarray(dask[i // shape[1], i % shape[1]].compute(), float) for i in keep]
        reference.append(np.median(stack, axis=0))
    return np.stack(anomaly), np.stack(reference)


STAGE = Stage("symmetry", _symmetry, variables=NAMES, uses=("fit",) + DESCRIPTOR_MAPS)
