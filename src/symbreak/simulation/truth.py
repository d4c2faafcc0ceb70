"""Ground truth stored with simulated data: atoms, defects, and per probe position the
nearest atom, its site label and the distances to it and to the nearest defect.

All distances are in projection (x, y) and use the minimum image of the periodic
supercell, so a probe near the supercell edge finds atoms across the boundary.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .geometry import Plan
from .structures import projected_distances

VACANCY_LABEL = "vacancy"
PROBE_BATCH = 4096  # probes per distance matrix (bounded memory for large supercells)


def site_labels(plan: Plan) -> list[str]:
    """The label names; a probe's ``site_label`` code indexes this list."""
    labels = list(dict.fromkeys(plan.specimen.atoms.arrays["site_label"].tolist()))
    if any(kind != "substitution" for _, _, kind in plan.specimen.defects):
        labels.append(VACANCY_LABEL)
    return labels


def defect_kinds(plan: Plan) -> list[str]:
    return list(dict.fromkeys(kind for _, _, kind in plan.specimen.defects))


def ground_truth(plan: Plan) -> xr.Dataset:
    """The ground-truth ``xarray.Dataset`` of ``plan`` (see docs/simulation.md)."""
    specimen = plan.specimen
    atoms = specimen.atoms
    extent = specimen.extent
    atom_yx = atoms.positions[:, [1, 0]]
    labels = site_labels(plan)
    atom_code = np.array([labels.index(v) for v in atoms.arrays["site_label"]], np.int16)
    probe_y, probe_x = plan.probe_positions()
    probes = np.stack([probe_y.ravel(), probe_x.ravel()], axis=1) % np.asarray(extent)
    nearest, d_atom = _nearest(probes, atom_yx, extent)
    defect_yx = np.array([(y, x) for y, x, _ in specimen.defects], float).reshape(-1, 2)
    kinds = defect_kinds(plan)
    if len(defect_yx):
        d_defect_all = np.concatenate([
            projected_distances(probes[i : i + PROBE_BATCH], defect_yx, extent)
            for i in range(0, len(probes), PROBE_BATCH)])
        d_defect = d_defect_all.min(axis=1)
        vacancies = np.array([k != "substitution" for _, _, k in specimen.defects])
        d_vacancy = d_defect_all[:, vacancies].min(axis=1) if vacancies.any() else None
    else:
        d_defect = np.full(len(probes), np.inf)
        d_vacancy = None
    code = atom_code[nearest]
    if d_vacancy is not None:
        code = np.where(d_vacancy < d_atom, labels.index(VACANCY_LABEL), code)
    shape = probe_y.shape
    scan = ("scan_y", "scan_x")
    ds = xr.Dataset(
        {
            "atom_x": ("atom", atoms.positions[:, 0], {"units": "Å"}),
            "atom_y": ("atom", atoms.positions[:, 1], {"units": "Å"}),
            "atom_z": ("atom", atoms.positions[:, 2], {"units": "Å"}),
            "atom_number": ("atom", atoms.numbers.astype(np.int16), {"units": ""}),
            "atom_site": ("atom", atom_code, {"units": "", "labels": labels}),
            "defect_x": ("defect", defect_yx[:, 1], {"units": "Å"}),
            "defect_y": ("defect", defect_yx[:, 0], {"units": "Å"}),
            "defect_kind": ("defect", np.array(
                [kinds.index(k) for _, _, k in specimen.defects], np.int16),
                {"units": "", "labels": kinds}),
            "probe_x": (scan, probe_x, {"units": "Å"}),
            "probe_y": (scan, probe_y, {"units": "Å"}),
            "nearest_atom": (scan, nearest.reshape(shape).astype(np.int64),
                             {"units": "", "description": "index on dim atom"}),
            "site_label": (scan, code.reshape(shape), {"units": "", "labels": labels}),
            "distance_to_nearest_atom": (scan, d_atom.reshape(shape), {"units": "Å"}),
            "distance_to_defect": (scan, d_defect.reshape(shape), {"units": "Å"}),
        },
        attrs={
            "supercell_x": extent[1], "supercell_y": extent[0], "supercell_units": "Å",
            "description": "distances in projection (x, y), minimum image of the periodic "
                           "supercell; site_label codes index attrs['labels']",
        },
    )
    return ds


def _nearest(probes: np.ndarray, atom_yx: np.ndarray, extent) -> tuple[np.ndarray, np.ndarray]:
    index = np.empty(len(probes), np.int64)
    dist = np.empty(len(probes))
    for i in range(0, len(probes), PROBE_BATCH):
        d = projected_distances(probes[i : i + PROBE_BATCH], atom_yx, extent)
        j = np.argmin(d, axis=1)
        index[i : i + PROBE_BATCH] = j
        dist[i : i + PROBE_BATCH] = d[np.arange(len(j)), j]
    return index, dist
