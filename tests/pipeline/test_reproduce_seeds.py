"""``reproduce`` over several seeds: the spread over seeds, the 'found' numbers against
the truth, seed parsing on the command line and in the API, and one tiny run end to end."""

import json
import math

import numpy as np
import pytest
import xarray as xr

from symbreak.reproduce import found as reproduce_found
from symbreak.reproduce import run as reproduce
from symbreak.reproduce import summary as reproduce_summary
from symbreak.cli import main
from symbreak.cli.reproduce import parse_seeds
from symbreak.errors import SettingsError


def status(argv):
    """The exit status of ``symbreak argv`` (argparse exits with 2 on bad options)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def row(seed, value, metric="defect_auc", map="COM", set="toy"):
    return {"set": set, "metric": metric, "map": map, "value": value, "seed": seed,
            "n_positive": 3, "n_negative": 5}


def test_summary_mean_sd_and_range_over_seeds():
    rows = [row(0, 0.7), row(1, 0.8), row(2, 0.9), row(0, 1.0, map="BF"),
            row(0, 2.0, metric="false_anomalies", map="combined"),
            row(1, 4.0, metric="false_anomalies", map="combined"),
            {"set": "toy", "metric": "fit_verdict", "map": "ok", "value": "n/a", "seed": 0}]
    stats = {(s["metric"], s["map"]): s for s in reproduce_summary.summarize(rows)}
    com = stats[("defect_auc", "COM")]
    assert com["mean"] == pytest.approx(0.8) and com["sd"] == pytest.approx(0.1)
    assert (com["min"], com["max"], com["n_seeds"], com["seeds"]) == (0.7, 0.9, 3, "0,1,2")
    assert stats[("defect_auc", "BF")]["sd"] == 0.0  # one seed: no spread
    false = stats[("false_anomalies", "combined")]
    assert false["mean"] == 3.0 and false["sd"] == pytest.approx(math.sqrt(2))
    assert ("fit_verdict", "ok") not in stats  # not a number
    assert reproduce_summary.cell(com, ".3f") == "0.800 ± 0.100 (0.700–0.900)"
    rows += [row(0, 4.4, metric="threshold", map="symmetry score: combined"),
             row(0, 1.0, metric="found", map="symmetry score: combined")]
    table = reproduce_summary.markdown(reproduce_summary.summarize(rows))
    assert "| COM | 0.800 ± 0.100 (0.700–0.900) |" in table
    assert "| toy | 1.00 |  |  | 4.40 |  |" in table  # the found table, one seed


def test_summary_leaves_out_missing_values_and_counts_them():
    rows = [row(0, float("nan"), metric="defect_offset"), row(1, 0.25, metric="defect_offset"),
            row(2, 0.75, metric="defect_offset")]
    (s,) = reproduce_summary.summarize(rows)
    assert s["n_missing"] == 1 and s["mean"] == pytest.approx(0.5)
    assert s["sd"] == pytest.approx(np.std([0.25, 0.75], ddof=1))
    (s,) = reproduce_summary.summarize(rows[:1])
    assert math.isnan(s["mean"]) and reproduce_summary.cell(s, ".2f") == ""


def found_results(anomalies_yx, defects_yx, threshold=4.0, origin=(10.0, 20.0)):
    """Results with a combined score, anomalies (scan frame, Å from the first probe) and
    defects (simulation frame): the scan's first probe sits at ``origin``."""
    ny, nx = 8, 10
    y0, x0 = origin
    scan = ("scan_y", "scan_x")
    score = np.arange(ny * nx, dtype=float).reshape(1, ny, nx)  # 99th percentile: 78.21
    ay, ax = np.array(anomalies_yx, float).reshape(-1, 2).T
    dy, dx = np.array(defects_yx, float).reshape(-1, 2).T
    return xr.Dataset({
        "symmetry_score": (("symmetry_map",) + scan, score),
        "symmetry_threshold": ((), threshold),
        "symmetry_anomaly_y": ("anomaly", ay), "symmetry_anomaly_x": ("anomaly", ax),
        "truth_probe_y": (scan, y0 + 0.5 * np.mgrid[:ny, :nx][0]),
        "truth_probe_x": (scan, x0 + 0.5 * np.mgrid[:ny, :nx][1]),
        "truth_defect_y": ("defect", dy), "truth_defect_x": ("defect", dx),
        "truth_defect_kind": ("defect", np.arange(len(dy)) % 2,
                              {"labels": ["vacancy", "substitution"]}),
    }, coords={"symmetry_map": ["combined"]})


def test_found_when_every_defect_is_near_a_top_anomaly():
    # defects at (12, 22) and (13, 24) Å; anomalies in the scan frame (origin 10, 20)
    results = found_results([(2.3, 2.0), (3.0, 4.5), (0.5, 0.5)], [(12, 22), (13, 24)])
    rows = {(r["metric"], r["map"]): r["value"]
            for r in reproduce_found.found_rows(results, "toy")}
    assert rows[("found", "symmetry score: combined")] == 1.0
    assert rows[("defect_offset", "defect 1 (vacancy)")] == pytest.approx(0.3)
    assert rows[("defect_offset", "defect 2 (substitution)")] == pytest.approx(0.5)
    assert rows[("false_anomalies", "symmetry score: combined")] == 1  # the one at (0.5, 0.5)
    assert rows[("score_p99", "symmetry score: combined")] == pytest.approx(
        np.percentile(np.arange(80), 99))
    assert rows[("threshold", "symmetry score: combined")] == 4.0


def test_not_found_when_a_defect_is_missed_or_ranked_below_a_false_anomaly():
    # the second defect's anomaly is third: the top two are defect 1 and a false one
    results = found_results([(2.0, 2.0), (5.0, 1.0), (3.0, 4.0)], [(12, 22), (13, 24)])
    rows = {(r["metric"], r["map"]): r["value"]
            for r in reproduce_found.found_rows(results, "toy")}
    assert rows[("found", "symmetry score: combined")] == 0.0
    assert rows[("defect_offset", "defect 2 (substitution)")] == pytest.approx(math.hypot(1, 2))
    assert rows[("false_anomalies", "symmetry score: combined")] == 1
    # no anomaly at all: offsets are missing, nothing false
    rows = {(r["metric"], r["map"]): r["value"]
            for r in reproduce_found.found_rows(found_results([], [(12, 22)]), "toy")}
    assert rows[("found", "symmetry score: combined")] == 0.0
    assert math.isnan(rows[("defect_offset", "defect 1 (vacancy)")])
    assert rows[("false_anomalies", "symmetry score: combined")] == 0


def test_perfect_crystal_counts_every_anomaly_as_false():
    results = found_results([(1.0, 1.0), (3.0, 3.0)], np.zeros((0, 2)))
    rows = {r["metric"]: r["value"] for r in reproduce_found.found_rows(results, "perfect")}
    assert rows["false_anomalies"] == 2 and "found" not in rows
    assert reproduce_found.found_rows(results.drop_vars("symmetry_threshold"), "cell") == []


def test_seeds_in_the_api_and_on_the_command_line(tmp_path, capsys):
    assert reproduce.check_seeds(None, None) == [0]
    assert reproduce.check_seeds(3, None) == [3]
    assert reproduce.check_seeds(None, (0, 1, 2)) == [0, 1, 2]
    for seed, seeds, words in ((1, (2,), "not both"), (None, (), "empty"),
                               (None, (0, -1), "-1"), (None, (1, 1), "repeat"),
                               (None, (0.5,), "0.5")):
        with pytest.raises(SettingsError, match=words):
            reproduce.check_seeds(seed, seeds)
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("7") == [7]
    for text in ("0,a", "1,1", "-1", ""):
        assert status(["reproduce", "graphene-si", "--seeds", text, "--out",
                       str(tmp_path / "x")]) == 2
        assert "--seeds 0,1,2" in capsys.readouterr().err
    assert status(["reproduce", "graphene-si", "--seeds", "0,1", "--seed", "2", "--out",
                   str(tmp_path / "x")]) not in (0, None)
    assert "not both" in capsys.readouterr().err
    assert not (tmp_path / "x" / "graphene-si").exists()


@pytest.mark.slow
def test_reproduce_two_seeds_end_to_end(tmp_path):
    """Two seeds of the two-defect set, a few epochs: per-seed folders and rows, the
    summary over both and the 'found' numbers of the symmetry stage."""
    rows = reproduce.reproduce(["graphene-vacancy-si"], tmp_path, seeds=(0, 1), epochs=3,
                               progress=False)
    for s in (0, 1):
        assert (tmp_path / "graphene-vacancy-si" / f"seed-{s}" / "results.zarr").is_dir()
    assert {r["seed"] for r in rows} == {0, 1}
    summary = json.loads((tmp_path / "reproduce-summary.json").read_text())
    stats = {(s["metric"], s["map"]): s for s in summary}
    com = stats[("defect_auc", "symmetry score: com")]
    per_seed = [r["value"] for r in rows if r["map"] == "symmetry score: com"]
    assert com["n_seeds"] == 2 and com["mean"] == pytest.approx(np.mean(per_seed))
    # noise-free abTEM data: both defects found within 1 Å, nothing else above threshold
    assert stats[("found", "symmetry score: combined")]["mean"] == 1.0
    assert stats[("false_anomalies", "symmetry score: combined")]["max"] == 0
    table = (tmp_path / "reproduce.md").read_text()
    assert "## Summary" in table and "## Seed 1" in table and "graphene-vacancy-si" in table
    csv_head = (tmp_path / "reproduce.csv").read_text().splitlines()[0]
    assert "seed" in csv_head and "n_positive" in csv_head


def test_symmetry_scores_ranked_only_where_the_stage_tested_something():
    ny, nx = 6, 8
    rng = np.random.default_rng(1)
    scan = ("scan_y", "scan_x")
    distance = np.hypot(*np.mgrid[:ny, :nx]) * 0.5  # Å from a defect at the corner
    near = distance <= 1.5
    results = xr.Dataset({name: (scan, rng.random((ny, nx))) for name in (
        "latent_angle", "com_angle", "com_magnitude", "reconstruction_error", "bf", "adf")})
    results["latent_z"] = (("latent",) + scan, rng.normal(size=(2, ny, nx)))
    results["pca_scores"] = (("component",) + scan, rng.normal(size=(3, ny, nx)))
    results["truth_distance_to_defect"] = (scan, distance)
    score = np.stack([near * 10.0, np.zeros(near.shape)])
    results["symmetry_score"] = (("symmetry_map", "scan_y", "scan_x"), score)
    results = results.assign_coords(symmetry_map=["combined", "bf"])
    control = {r["map"] for r in reproduce.evaluate(results, "cell")}
    assert not any(m.startswith("symmetry score") for m in control)  # one-cell: all 0
    results["symmetry_threshold"] = ((), 4.0)
    rows = {r["map"]: r["value"] for r in reproduce.evaluate(results, "toy")
            if r["metric"] == "defect_auc"}
    assert rows["symmetry score: combined"] == 1.0 and rows["symmetry score: bf"] == 0.5
