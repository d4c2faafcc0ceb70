"""reproduce's ideal-observer rows on a tiny synthetic set (no simulation, no training):
a noise-free periodic scan with one brighter spot, its ground truth and hand-made
symmetry scores."""

import numpy as np
import pytest
import xarray as xr

from symbreak.calibration import Calibration
from symbreak.dataset import Dataset4D
from symbreak.reproduce import run as reproduce
from symbreak.reproduce import summary
from symbreak.reproduce.ideal import ideal_rows

CELL = (2.0, 2.5)  # (y, x) [Å] the simulation's rectangular unit cell
STEP = (0.25, 0.25)
SHAPE = (40, 40)
ORIGIN = (30.0, 40.0)  # first probe in the simulation frame [Å]
DEFECT = (35.1, 44.9)
DOSE = 2e4  # e/Å^2: 1250 electrons per probe


def _patterns():
    y, x = np.meshgrid(ORIGIN[0] + STEP[0] * np.arange(SHAPE[0]),
                       ORIGIN[1] + STEP[1] * np.arange(SHAPE[1]), indexing="ij")
    phase_y, phase_x = 2 * np.pi * y / CELL[0], 2 * np.pi * x / CELL[1]
    pixels = np.stack([1 + 0.5 * np.cos(phase_y), 1 + 0.3 * np.sin(phase_x),
                       1 + 0.2 * np.cos(phase_y + phase_x), np.ones_like(y)], axis=-1)
    perfect = 0.25 * pixels.reshape(SHAPE + (2, 2)) / 1.0  # beam-normalised, sums ~1
    r2 = (y - DEFECT[0]) ** 2 + (x - DEFECT[1]) ** 2
    defect = perfect * (1 + 0.05 * np.exp(-r2 / (2 * 0.5 ** 2)))[..., None, None]
    return defect, perfect, y, x


def _clean_and_results():
    defect, _, y, x = _patterns()
    truth = xr.Dataset({
        "probe_y": (("scan_y", "scan_x"), y), "probe_x": (("scan_y", "scan_x"), x),
        "defect_y": ("defect", [DEFECT[0]]), "defect_x": ("defect", [DEFECT[1]]),
        "defect_kind": ("defect", np.array([0], np.int16), {"labels": ["vacancy"]}),
    })
    metadata = {"simulation": {"supercell": {"unit_cell_yx": list(CELL),
                                             "extent_yx": [100.0, 100.0]}}}
    clean = Dataset4D(array=defect.astype(np.float32),
                      calibration=Calibration(scan_step=STEP), metadata=metadata,
                      ground_truth=truth)
    score = np.zeros((2,) + SHAPE)
    near = np.hypot(y - DEFECT[0], x - DEFECT[1]) <= 1.5
    score[0][near] = 2.0  # "bf": 2 σ at the defect
    score[1][np.unravel_index(np.argmin(np.hypot(y - DEFECT[0], x - DEFECT[1])),
                              SHAPE)] = 5.0  # "combined": 5 σ on the probe nearest it
    results = xr.Dataset({
        "symmetry_score": (("symmetry_map", "scan_y", "scan_x"), score),
        "truth_probe_y": (("scan_y", "scan_x"), y), "truth_probe_x": (("scan_y", "scan_x"), x),
        "truth_defect_y": ("defect", [DEFECT[0]]), "truth_defect_x": ("defect", [DEFECT[1]]),
    }, coords={"symmetry_map": ["bf", "combined"]})
    return clean, results, near


def test_ideal_rows_give_the_closed_form_significance_and_efficiency():
    clean, results, near = _clean_and_results()
    defect, perfect, _, _ = _patterns()
    n = DOSE * STEP[0] * STEP[1]
    a, b = n * defect[near], n * perfect[near]
    expected = np.sqrt(np.sum((a - b) ** 2 / b))  # against the known perfect crystal
    rows = {(r["metric"], r["map"]): r for r in ideal_rows(clean, results, "toy", DOSE)}
    sigma = rows[("ideal_sigma", "defect 1 (vacancy)")]
    assert sigma["value"] == pytest.approx(expected, rel=1e-3)  # float32 patterns
    assert sigma["n_positive"] == int(near.sum())
    # the periodic reference fits the scan away from the defect: no floor to speak of
    null = rows[("ideal_sigma", "null: reference misfit away from defects")]["value"]
    assert 0 <= null < 1e-3 * expected
    bf = rows[("dose_efficiency", "symmetry score: bf @ defect 1 (vacancy)")]
    combined = rows[("dose_efficiency", "symmetry score: combined @ defect 1 (vacancy)")]
    assert bf["value"] == pytest.approx(2.0 / expected, rel=1e-3)
    assert combined["value"] == pytest.approx(5.0 / expected, rel=1e-3)
    table = reproduce.markdown([dict(r, value=r["value"]) for r in rows.values()])
    assert "### Ideal observer" in table and "### Dose efficiency" in table
    assert f"| defect 1 (vacancy) | {expected:.3g} |" in table
    digest = summary.markdown(summary.summarize(list(rows.values())))
    assert f"| defect 1 (vacancy) | {expected:.2f} |" in digest


def test_no_rows_without_defects():
    clean, results, _ = _clean_and_results()
    truth = clean.ground_truth.isel(defect=slice(0, 0))
    bare = Dataset4D(array=clean.array, calibration=clean.calibration,
                     metadata=clean.metadata, ground_truth=truth)
    assert ideal_rows(bare, results, "toy", DOSE) == []
