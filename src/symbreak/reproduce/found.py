"""Were the defects found? The symmetry stage's anomalies against the simulation's truth.

For one analysed data set (``results.zarr`` with ground truth and the symmetry stage):

* ``found``: 1 when every defect is within ``FOUND_RADIUS`` of one of the top-ranked
  anomalies of the combined score (as many as there are defects), else 0.
* ``defect_offset``: per defect, the distance [Å] to the nearest of those top anomalies
  (NaN without any anomaly).
* ``false_anomalies``: anomalies above the threshold farther than ``FOUND_RADIUS`` from
  every defect (on a perfect crystal: all of them).
* ``score_p99`` and ``threshold``: the 99th percentile of the combined score [σ] and the
  report's threshold [σ] (on every set; the perfect crystal's must stay below).

A divacancy counts as one defect per removed atom, as in the ground truth.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..analysis import schema

FOUND_RADIUS = 1.0  # Å: an anomaly this close to a defect has found it
COMBINED = "combined"


def anomalies_in_truth_frame(results: xr.Dataset) -> np.ndarray:
    """The anomalies' (y, x) [Å] in the simulation frame of the ground truth, strongest
    first; shape (n, 2). The symmetry stage gives them from the first probe (scan frame);
    simulated scans are not rotated, so the first probe's truth position is the offset."""
    y = np.asarray(results["symmetry_anomaly_y"].values, float)
    x = np.asarray(results["symmetry_anomaly_x"].values, float)
    origin_y = float(results[schema.TRUTH_PROBE_Y].values[0, 0])
    origin_x = float(results[schema.TRUTH_PROBE_X].values[0, 0])
    return np.stack([y + origin_y, x + origin_x], axis=1).reshape(-1, 2)


def defect_positions(results: xr.Dataset) -> np.ndarray:
    """The defects' (y, x) [Å] from the ground truth; shape (n, 2)."""
    if schema.TRUTH_DEFECT_Y not in results:
        return np.zeros((0, 2))
    return np.stack([results[schema.TRUTH_DEFECT_Y].values,
                     results[schema.TRUTH_DEFECT_X].values], axis=1).astype(float).reshape(-1, 2)


def match(defects: np.ndarray, anomalies: np.ndarray) -> tuple[np.ndarray, int]:
    """(offset of each defect to the nearest of the top ``len(defects)`` anomalies [Å],
    number of anomalies farther than FOUND_RADIUS from every defect)."""
    top = anomalies[:len(defects)]
    if len(top):
        d_top = np.hypot(*(defects[:, None, :] - top[None, :, :]).transpose(2, 0, 1))
        offsets = d_top.min(axis=1)
    else:
        offsets = np.full(len(defects), np.nan)
    if len(defects) and len(anomalies):
        d_all = np.hypot(*(anomalies[:, None, :] - defects[None, :, :]).transpose(2, 0, 1))
        false = int((d_all.min(axis=1) > FOUND_RADIUS).sum())
    else:
        false = len(anomalies)
    return offsets, false


def found_rows(results: xr.Dataset, name: str) -> list[dict[str, Any]]:
    """The rows ``found``, ``defect_offset``, ``false_anomalies``, ``score_p99`` and
    ``threshold`` of one set; none when the symmetry stage made no threshold (one-cell
    periodic scans, skipped stage) or no ground truth of the probe positions."""
    needed = ("symmetry_threshold", "symmetry_score", "symmetry_anomaly_y",
              schema.TRUTH_PROBE_Y, schema.TRUTH_PROBE_X)
    if not all(name in results for name in needed):
        return []
    score = results["symmetry_score"].sel(symmetry_map=COMBINED).values
    threshold = float(results["symmetry_threshold"].values)
    defects = defect_positions(results)
    offsets, false = match(defects, anomalies_in_truth_frame(results))
    row = {"set": name, "map": "symmetry score: combined", "n_positive": "", "n_negative": ""}
    rows = [dict(row, metric="score_p99", value=float(np.nanpercentile(score, 99))),
            dict(row, metric="threshold", value=threshold),
            dict(row, metric="false_anomalies", value=false)]
    if len(defects):
        rows.append(dict(row, metric="found",
                         value=float(np.all(offsets <= FOUND_RADIUS))))
        kinds = _kinds(results)
        rows += [dict(row, metric="defect_offset", map=f"defect {i + 1} ({kinds[i]})",
                      value=float(offsets[i])) for i in range(len(defects))]
    return rows


def _kinds(results: xr.Dataset) -> list[str]:
    kind = results[schema.TRUTH_DEFECT_KIND]
    labels = kind.attrs.get("labels") or []
    return [labels[int(k)] if int(k) < len(labels) else str(int(k)) for k in kind.values]
