"""The ideal observer in ``reproduce``: for a simulated set with defects run at a dose,
each defect's ideal significance and each symmetry score's dose efficiency
(:mod:`symbreak.metrics.ideal`).

* ``ideal_sigma`` (map ``defect i (kind)``): the pooled matched-filter significance [σ]
  of the defect at the dose, over the probes within ``DEFECT_RADIUS`` of it, from the
  noise-free simulation; the reference is the lattice-periodic fit of the defect scan
  itself on the simulation's unit cell, probes within ``EXCLUDE_MARGIN`` of a defect
  left out. Its row ``null: reference misfit away from defects`` is what the
  reference's own misfit gives as many probes away from every defect: the floor of the
  instrument at that dose.
* ``dose_efficiency`` (map ``<score> @ defect i (kind)``): the symmetry score's highest
  value within ``DEFECT_RADIUS`` of the defect [σ] / the ideal significance.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..metrics import efficiency
from ..metrics.ideal import DEFECT_RADIUS, defect_significance, expected_counts, within
from ..metrics.ideal_reference import near_defects, reference_counts, reference_null
from ..symmetry.lattice import Lattice

NULL = "null: reference misfit away from defects"
TITLES = {"ideal_sigma": "Ideal observer: pooled matched-filter significance of each "
                         f"defect [σ] (probes within {DEFECT_RADIUS} Å)",
          "dose_efficiency": "Dose efficiency: symmetry score at the defect / ideal "
                             "significance (its square: the fraction of the dose used)"}


def ideal_rows(clean: Any, results: xr.Dataset, name: str, dose: float
               ) -> list[dict[str, Any]]:
    """The rows of one set from its noise-free simulation ``clean`` (a
    :class:`~symbreak.dataset.Dataset4D` of beam-normalised intensities with ground truth
    and the simulation's metadata) and the results of analysing it at ``dose`` [e/Å²];
    none without defects."""
    truth = clean.ground_truth
    if truth is None or truth.sizes.get("defect", 0) == 0:
        return []
    cell = clean.metadata["simulation"]["supercell"]
    uy, ux = (float(v) for v in cell["unit_cell_yx"])
    lattice = Lattice(np.array([[uy, 0.0], [0.0, ux]]), source="simulation")
    probes = np.stack([truth["probe_y"].values, truth["probe_x"].values], axis=-1)
    defects = np.stack([truth["defect_y"].values, truth["defect_x"].values], axis=1)
    labels = truth["defect_kind"].attrs.get("labels") or []
    kinds = [labels[int(k)] if int(k) < len(labels) else str(int(k))
             for k in truth["defect_kind"].values]
    counts = expected_counts(np.asarray(clean.array), dose, clean.calibration.scan_step)
    return rows_for(counts, lattice, clean.calibration.scan_step, probes, defects, kinds,
                    results, name, period=tuple(cell["extent_yx"]))


def rows_for(counts: np.ndarray, lattice: Lattice, step: Sequence[float],
             probes: np.ndarray, defects: np.ndarray, kinds: Sequence[str],
             results: xr.Dataset, name: str, period: Sequence[float] | None = None
             ) -> list[dict[str, Any]]:
    """The ``ideal_sigma`` and ``dose_efficiency`` rows from expected counts
    (ny, nx, ky, kx) of the defect scan, probes (ny, nx, 2) and defects (m, 2) (y, x) [Å]."""
    reference = reference_counts(counts, lattice, step, probes, defects, period=period)
    sigma = defect_significance(counts, reference, probes, defects, period=period)
    near = [int(within(probes.reshape(-1, 2), d, DEFECT_RADIUS, period).sum())
            for d in defects]
    base = {"set": name, "n_negative": ""}
    labels = [f"defect {i + 1} ({kinds[i]})" for i in range(len(defects))]
    rows = [dict(base, metric="ideal_sigma", map=labels[i], value=float(sigma[i]),
                 n_positive=near[i]) for i in range(len(defects))]
    far = ~near_defects(probes, defects, period=period)
    rows.append(dict(base, metric="ideal_sigma", map=NULL, n_positive=int(np.median(near)),
                     value=reference_null(counts, reference, far, int(np.median(near)))))
    for r in efficiency.dose_efficiencies(results, sigma, period=period):
        rows.append(dict(base, metric="dose_efficiency",
                         map=f"symmetry score: {r['map']} @ {labels[r['defect']]}",
                         value=r["efficiency"], n_positive=near[r["defect"]],
                         score=r["score"], ideal=r["ideal"]))
    return rows


def markdown_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The two tables (map x set) of one seed's ideal-observer rows."""
    lines: list[str] = []
    for metric, title in TITLES.items():
        sel = [r for r in rows if r["metric"] == metric]
        if not sel:
            continue
        sets = list(dict.fromkeys(r["set"] for r in sel))
        lines += ["", f"### {title}", "", "| map | " + " | ".join(sets) + " |",
                  "|---|" + "---|" * len(sets)]
        for key in dict.fromkeys(r["map"] for r in sel):
            cells = [next((f"{r['value']:.3g}" for r in sel
                           if r["set"] == s and r["map"] == key), "") for s in sets]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines
