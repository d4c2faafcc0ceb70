"""Scoring analysed results against ground truth (no training: results built by hand)."""

import numpy as np
import pytest
import xarray as xr

from symbreak.reproduce import run as reproduce
from symbreak.errors import SettingsError


def results_with_truth(ny=6, nx=8):
    rng = np.random.default_rng(0)
    scan = ("scan_y", "scan_x")
    angle = rng.uniform(-np.pi, np.pi, (ny, nx))
    distance = np.hypot(*np.mgrid[:ny, :nx]) * 0.5  # Å from a defect at the corner
    near = distance <= 1.5
    z = rng.normal(size=(2, ny, nx))
    z[0] -= 5 * near  # a latent that is low near the defect: AUC 0 -> reported as 1
    return xr.Dataset({
        "latent_angle": (scan, angle), "com_angle": (scan, np.angle(np.exp(1j * (angle + 1)))),
        "latent_z": (("latent",) + scan, z), "com_magnitude": (scan, rng.random((ny, nx))),
        "pca_scores": (("component",) + scan, rng.normal(size=(3, ny, nx))),
        "reconstruction_error": (scan, rng.random((ny, nx))),
        "bf": (scan, rng.random((ny, nx))), "adf": (scan, near + 0.0),
        "truth_distance_to_defect": (scan, distance),
    }), near


def test_evaluate_defect_set():
    results, near = results_with_truth()
    rows = {(r["metric"], r["map"]): r for r in reproduce.evaluate(results, "toy")}
    assert rows[("angle_vs_com", "rrVAE angle vs COM angle")]["value"] == pytest.approx(1.0)
    assert rows[("defect_auc", "rrVAE z1")]["value"] == pytest.approx(1.0)
    assert rows[("defect_auc", "ADF (reference)")]["value"] == pytest.approx(1.0)
    assert rows[("defect_auc", "rrVAE z1")]["n_positive"] == int(near.sum())
    assert 0.5 <= rows[("defect_auc", "rrVAE z2")]["value"] < 0.9
    table = reproduce.markdown(rows.values())
    assert "| rrVAE z1 | 1.000 |" in table and "| toy | +1.000 |" in table


def test_site_labels_zn_vs_s():
    results, _ = results_with_truth(2, 3)
    results["truth_atom_number"] = ("atom", np.array([30, 16]))
    results["truth_nearest_atom"] = (("scan_y", "scan_x"), np.array([[0, 1, 0], [1, 0, 1]]))
    results["truth_distance_to_nearest_atom"] = (("scan_y", "scan_x"),
                                                 np.array([[0.1, 0.2, 1.0], [0.3, 0.5, 0.6]]))
    is_zn, on_site = reproduce.site_labels(results)
    np.testing.assert_array_equal(is_zn, [[True, False, True], [False, True, False]])
    np.testing.assert_array_equal(on_site, [[True, True, False], [True, True, True]])


def test_unknown_set_is_rejected(tmp_path):
    with pytest.raises(SettingsError, match="unknown data set"):
        reproduce.reproduce(["graphene-pristine"], tmp_path)


def test_markdown_shows_the_fit_verdict_and_dose_is_checked(tmp_path):
    results, _ = results_with_truth()
    rows = reproduce.evaluate(results, "toy") + [
        {"set": "toy", "metric": "fit_verdict", "map": "failed", "value": 0.004,
         "n_positive": "", "n_negative": "", "reasons": "explains 0.4%"}]
    table = reproduce.markdown(rows)
    assert "| toy | +1.000 | failed | 0.4% | explains 0.4% |" in table
    paths = reproduce.write_table(rows, tmp_path)
    assert "reasons" in paths["csv"].read_text().splitlines()[0]
    with pytest.raises(SettingsError, match="dose=-1"):
        reproduce.reproduce(["graphene-vacancy"], tmp_path, dose=-1)


def test_site_class_rows_score_the_class_map_against_zn_and_s():
    """A class map that is exactly Zn vs S scores ARI 1 (whatever the class numbers); one
    that mixes them evenly scores at most chance (<= 0); no classes, no rows."""
    results, _ = results_with_truth(2, 3)
    assert reproduce.site_class_rows(results, "toy", None) == []
    results["truth_atom_number"] = ("atom", np.array([30, 16]))
    results["truth_nearest_atom"] = (("scan_y", "scan_x"), np.array([[0, 1, 0], [1, 0, 1]]))
    results["truth_distance_to_nearest_atom"] = (("scan_y", "scan_x"), np.full((2, 3), 0.1))
    results["site_class_latent"] = (("class", "latent"), np.zeros((2, 2)))
    sites = reproduce.site_labels(results)
    for classes, expected in (([[5, 2, 5], [2, 5, 2]], 1.0), ([[0, 0, 1], [1, 0, 1]], None)):
        results["site_class"] = (("scan_y", "scan_x"), np.array(classes))
        rows = {r["metric"]: r for r in reproduce.site_class_rows(results, "toy", sites)}
        assert rows["site_class_count"]["value"] == 2
        if expected is None:
            assert rows["site_class_ari"]["value"] <= 0.0
        else:
            assert rows["site_class_ari"]["value"] == pytest.approx(expected)
    table = reproduce.markdown(reproduce.site_class_rows(results, "toy", sites))
    assert "Site classes against Zn vs S" in table and "ROC-AUC" not in table
