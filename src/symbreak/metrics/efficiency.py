"""Dose efficiency of an analysis's score maps against the ideal observer
(:mod:`symbreak.metrics.ideal`): per defect of the ground truth and per map, the map's
score at the defect [σ] over the defect's ideal significance [σ]."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..errors import DataError
from .ideal import DEFECT_RADIUS, dose_efficiency, within

SCORE = "symmetry_score"  # (symmetry_map, scan_y, scan_x) [σ] of the symmetry stage


def score_at(score: np.ndarray, probes: np.ndarray, centre: Sequence[float],
             radius: float = DEFECT_RADIUS, period: Sequence[float] | None = None
             ) -> float:
    """A score map's value at a defect: its highest finite score [σ] among the probes
    (n, 2) (y, x) [Å] within ``radius`` [Å] of ``centre`` (NaN when there is none)."""
    values = np.asarray(score, float).ravel()
    near = within(probes, centre, radius, period) & np.isfinite(values)
    return float(values[near].max()) if near.any() else float("nan")


def truth_geometry(results: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(probes (n, 2), defects (m, 2)) (y, x) [Å] from a results Dataset's ground truth."""
    needed = ("truth_probe_y", "truth_probe_x", "truth_defect_y", "truth_defect_x")
    missing = [n for n in needed if n not in results]
    if missing:
        raise DataError(f"the results have no ground truth {missing}; dose efficiency "
                        "needs the results of a simulated data set")
    probes = np.stack([results["truth_probe_y"].values.ravel(),
                       results["truth_probe_x"].values.ravel()], axis=1).astype(float)
    defects = np.stack([results["truth_defect_y"].values,
                        results["truth_defect_x"].values], axis=1).astype(float)
    return probes, defects.reshape(-1, 2)


def score_maps(results: xr.Dataset) -> dict[str, np.ndarray]:
    """The symmetry stage's score maps [σ] by name (empty without the stage)."""
    if SCORE not in results:
        return {}
    scores = results[SCORE]
    return {str(name): scores.sel(symmetry_map=name).values
            for name in scores.coords["symmetry_map"].values}


def dose_efficiencies(results: xr.Dataset, ideal_sigma: Sequence[float], *,
                      maps: Mapping[str, np.ndarray] | None = None,
                      radius: float = DEFECT_RADIUS,
                      period: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Each map's dose efficiency at each defect of the ground truth.

    Parameters
    ----------
    results
        An analysis's results Dataset with the ground truth of a simulation.
    ideal_sigma
        (m,) the ideal significance [σ] of each defect at the data's dose
        (:func:`~symbreak.metrics.ideal.defect_significance`), in the order of the
        truth's ``defect`` dimension.
    maps
        Score maps [σ] (scan_y, scan_x) by name; default the symmetry stage's scores.
    radius
        [Å] a map's score at a defect is its highest within this distance.
    period
        (y, x) supercell [Å] for minimum-image distances (None: plain distances).

    Returns
    -------
    list of dict
        One row per defect and map: ``defect`` (index), ``map``, ``score`` [σ],
        ``ideal`` [σ] and ``efficiency`` (score / ideal).
    """
    probes, defects = truth_geometry(results)
    ideal = np.asarray(ideal_sigma, float).ravel()
    if len(ideal) != len(defects):
        raise DataError(f"{len(ideal)} ideal significances for {len(defects)} defects in "
                        "the ground truth; give one per defect")
    maps = score_maps(results) if maps is None else maps
    rows = []
    for i, centre in enumerate(defects):
        for name, values in maps.items():
            score = score_at(values, probes, centre, radius, period)
            rows.append({"defect": i, "map": name, "score": score,
                         "ideal": float(ideal[i]),
                         "efficiency": float(dose_efficiency(score, ideal[i]))})
    return rows
