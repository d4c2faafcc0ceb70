"""``reproduce``: the paper's analyses on the simulated reference sets, scored against
the simulation's ground truth.

Numbers per data set:

* ``angle_vs_com``: Fisher-Lee circular correlation of the rrVAE angle latent with the
  COM angle (+1: same direction up to a constant offset, -1: mirrored, 0: unrelated).
* ``defect_auc`` (sets with a defect): ROC-AUC of each map for telling probe positions
  within ``DEFECT_RADIUS`` of a defect from the rest.
* ``site_auc`` (ZnS, hBN): ROC-AUC of each map for telling probe positions on a Zn (N)
  column from positions on an S (B) column (within ``SITE_RADIUS`` of the nearest atom).

* ``ideal_sigma`` and ``dose_efficiency`` (sets with a defect, run at a dose): each
  defect's ideal-observer significance from the noise-free simulation and each symmetry
  score's share of it (:mod:`symbreak.reproduce.ideal`).
* ``found``, ``defect_offset``, ``false_anomalies``, ``score_p99``, ``threshold``: the
  symmetry stage's anomalies against the truth (:mod:`symbreak.reproduce.found`).

A map's sign is arbitrary, so AUCs are reported as max(AUC, 1 - AUC) in [0.5, 1]. With
several seeds every row carries its ``seed`` and :mod:`symbreak.reproduce.summary` gives
the mean, sd and range over the seeds.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import xarray as xr

from .. import metrics
from . import summary as seed_summary
from ..analysis import schema
from ..errors import SettingsError
from ..analysis import analyze
from ..analysis.run import staging_path
from ..storage.atomic import remove
from ..storage.lock import output_lock
from ..storage.safe_output import (check_place, check_target, display, exchange, is_owned,
                             make_marked_folder, remove_leftover, rename_new)
from ..reporting import report
from ..analysis.settings import AnalyzeSettings
from .found import found_rows
from .ideal import ideal_rows, markdown_lines as ideal_markdown
from ..simulation import simulate

SETS = ("graphene-cell", "graphene-perfect", "graphene-vacancy", "graphene-si",
        "graphene-vacancy-si", "zns-110")
# The hard cases: light substitutions and a binary honeycomb. Run only when named, so
# that a default run stays as long as it was.
HARD_SETS = ("graphene-n", "graphene-b", "hbn-perfect", "hbn-c", "hbn-vacancy")
DEFECT_RADIUS = 1.5  # Å
SITE_RADIUS = 0.7  # Å, half the Zn-S dumbbell spacing along [110] (hBN's B-N: 1.446 Å)
ZN, S = 30, 16
N, B = 7, 5
# the binary crystals whose two species are scored as sites: (positive, negative)
SITE_PAIRS = ((ZN, S), (N, B))
BINARY_FRACTION = 0.9  # of the atoms that must be the pair's (a dopant or two allowed)


def score_maps(results: xr.Dataset, n_pca: int = 3) -> dict[str, np.ndarray]:
    """The maps scored against ground truth: content latents, COM magnitude, the first
    PCA scores, the reconstruction error, the virtual images for reference, and every
    symmetry-breaking score when the results have them (multi-cell scans)."""
    maps = {f"rrVAE z{i + 1}": results[schema.LATENT_Z].isel(latent=i).values
            for i in range(results.sizes["latent"])}
    maps["COM magnitude"] = results[schema.COM_MAGNITUDE].values
    for i in range(min(n_pca, results.sizes["component"])):
        maps[f"PCA score {i}"] = results[schema.PCA_SCORES].isel(component=i).values
    maps["rrVAE reconstruction error"] = results[schema.RECONSTRUCTION_ERROR].values
    maps["BF (reference)"] = results[schema.BF].values
    maps["ADF (reference)"] = results[schema.ADF].values
    if "symmetry_score" in results and "symmetry_threshold" in results:
        # every residual score of the symmetry stage; a one-cell periodic scan has none
        # (its scores are a constant 0 control, no threshold), so nothing to rank
        scores = results["symmetry_score"]
        for name in scores.coords["symmetry_map"].values:
            maps[f"symmetry score: {name}"] = scores.sel(symmetry_map=name).values
        maps.update({f"symmetry score: {k} ({FAILED_FIT})": v
                     for k, v in failed_fit_scores(results).items()})
    return maps


FAILED_FIT = "failed fit, scored anyway"


def failed_fit_scores(results: xr.Dataset) -> dict[str, np.ndarray]:
    """The rrVAE's symmetry scores (and the combined score with them) when the analysis
    left them out because the fit was judged failed: scored here with the stored
    lattice, so that the rrVAE family can still be compared with the classical one.
    Empty when the results have them, or have no lattice."""
    from ..analysis.symmetry_stage import descriptors
    from ..symmetry import lattice_from_setting
    from ..symmetry.api import FAMILIES, symmetry_breaking

    names = results["symmetry_score"].coords["symmetry_map"].values
    if "rrvae" in names or "symmetry_lattice" not in results \
            or schema.LATENT_Z not in results:
        return {}
    lattice = lattice_from_setting(np.asarray(results["symmetry_lattice"].values).ravel())
    step = tuple(float(results[d].values[1] - results[d].values[0]) for d in schema.SCAN)
    scores = symmetry_breaking(descriptors(results), lattice, step).scores
    return {k: scores[k] for k in FAMILIES["rrvae"] + ("rrvae", "combined") if k in scores}


def defect_labels(results: xr.Dataset) -> np.ndarray | None:
    """True where the probe is within DEFECT_RADIUS of a defect; None without defects."""
    if schema.TRUTH_DISTANCE_TO_DEFECT not in results:
        return None
    distance = results[schema.TRUTH_DISTANCE_TO_DEFECT].values
    if not np.isfinite(distance).any():
        return None
    return distance <= DEFECT_RADIUS


def site_labels(results: xr.Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """(is_zn, on_site): probes on a Zn vs an S column, or on an N vs a B column (hBN);
    None unless the atoms are (almost all) one of SITE_PAIRS and the probes visit both."""
    needed = (schema.TRUTH_NEAREST_ATOM, schema.TRUTH_ATOM_NUMBER,
              schema.TRUTH_DISTANCE_TO_NEAREST_ATOM)
    if not all(n in results for n in needed):
        return None
    numbers = results[schema.TRUTH_ATOM_NUMBER].values
    z = numbers[results[schema.TRUTH_NEAREST_ATOM].values]
    pair = next((p for p in SITE_PAIRS if np.isin(numbers, p).mean() >= BINARY_FRACTION
                 and (z == p[0]).any() and (z == p[1]).any()), None)
    if pair is None:
        return None
    on_site = (results[schema.TRUTH_DISTANCE_TO_NEAREST_ATOM].values <= SITE_RADIUS) & np.isin(z, pair)
    return z == pair[0], on_site


def evaluate(results: xr.Dataset, name: str) -> list[dict[str, Any]]:
    """All numbers for one analysed data set, as table rows."""
    rows = [{
        "set": name, "metric": "angle_vs_com", "map": "rrVAE angle vs COM angle",
        "value": metrics.circular_correlation(results[schema.LATENT_ANGLE].values,
                                              results[schema.COM_ANGLE].values),
        "n_positive": "", "n_negative": "",
    }]
    maps = score_maps(results)
    labels = defect_labels(results)
    if labels is not None:
        for key, values in maps.items():
            rows.append({"set": name, "metric": "defect_auc", "map": key,
                         "value": metrics.symmetric_auc(values, labels),
                         "n_positive": int(labels.sum()), "n_negative": int((~labels).sum())})
    sites = site_labels(results)
    if sites is not None:
        is_zn, on_site = sites
        for key, values in maps.items():
            rows.append({"set": name, "metric": "site_auc", "map": key,
                         "value": metrics.symmetric_auc(values[on_site], is_zn[on_site]),
                         "n_positive": int((is_zn & on_site).sum()),
                         "n_negative": int((~is_zn & on_site).sum())})
    return rows + site_class_rows(results, name, sites) + found_rows(results, name)


def site_class_rows(results: xr.Dataset, name: str,
                    sites: tuple[np.ndarray, np.ndarray] | None) -> list[dict[str, Any]]:
    """The rrVAE site classes (analysis stage 'site classes'): how many classes the atom
    sites form (``site_class_count``) and, for ZnS (hBN), the adjusted Rand index of the
    class map against Zn vs S (N vs B) on the probes within SITE_RADIUS of a column (``site_class_ari``;
    1: the classes are exactly the two species, 0: chance). None when the stage made no classes."""
    if "site_class_latent" not in results:
        return []
    from sklearn.metrics import adjusted_rand_score

    row = {"set": name, "map": "rrVAE site classes", "n_positive": "", "n_negative": ""}
    rows = [dict(row, metric="site_class_count",
                 value=int(results["site_class_latent"].sizes["class"]))]
    if sites is not None and "site_class" in results:
        is_zn, on_site = sites
        classes = results["site_class"].values[on_site]
        rows.append(dict(row, metric="site_class_ari",
                         value=float(adjusted_rand_score(is_zn[on_site], classes)),
                         n_positive=int((is_zn & on_site).sum()),
                         n_negative=int((~is_zn & on_site).sum())))
    return rows


def fit_rows(model_dir: Path, name: str, results: xr.Dataset) -> list[dict[str, Any]]:
    """The rrVAE's fit verdict (``map``) and explained fraction (``value``) as a row, judged
    with the agreement of the angle latent and COM angle maps."""
    from ..vae import RotationalVAE, diagnostics_with_com

    diag = getattr(RotationalVAE.load(model_dir, device="cpu"), "diagnostics_", None)
    if diag is None:
        return []
    diag = diagnostics_with_com(diag, results["latent_angle"].values,
                                results["com_angle"].values)
    return [{"set": name, "metric": "fit_verdict", "map": diag.verdict,
             "value": diag.explained_fraction, "n_positive": "", "n_negative": "",
             "reasons": "; ".join(diag.reasons)}]


def markdown(rows: Iterable[dict[str, Any]]) -> str:
    """The rows as markdown tables: angle correlation per set, AUCs map x set."""
    rows = list(rows)
    verdicts = {r["set"]: r for r in rows if r["metric"] == "fit_verdict"}
    lines = ["### rrVAE angle vs COM angle (Fisher-Lee circular correlation) and fit quality",
             "", "| data set | correlation | fit verdict | explained variance | why |",
             "|---|---|---|---|---|"]
    for r in rows:
        if r["metric"] != "angle_vs_com":
            continue
        v = verdicts.get(r["set"])
        fit = (f"{v['map']} | {v['value']:.1%} | {v.get('reasons', '')}" if v
               else "| |")
        lines.append(f"| {r['set']} | {r['value']:+.3f} | {fit} |")
    for metric, title in (("defect_auc", f"Defect detection: probes within {DEFECT_RADIUS} Å of "
                           "the defect vs the rest"),
                          ("site_auc", f"Zn vs S (hBN: N vs B) columns (probes within {SITE_RADIUS} Å "
                           "of one)"),
                          ("site_class_ari", "Site classes against Zn vs S (hBN: N vs B) (adjusted "
                           "Rand index, not an AUC; 1 = exactly the two species)")):
        sel = [r for r in rows if r["metric"] == metric]
        if not sel:
            continue
        sets = list(dict.fromkeys(r["set"] for r in sel))
        suffix = "" if metric == "site_class_ari" else ": ROC-AUC, reported as max(AUC, 1 - AUC)"
        lines += ["", f"### {title}{suffix}", "",
                  "| map | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
        for key in dict.fromkeys(r["map"] for r in sel):
            cells = [next((f"{r['value']:.3f}" for r in sel if r["set"] == s and r["map"] == key), "")
                     for s in sets]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        counts = {r["set"]: (r["n_positive"], r["n_negative"]) for r in sel}
        lines += ["", "positives / negatives: " + ", ".join(f"{s} {p}/{n}" for s, (p, n) in counts.items())]
    lines += ideal_markdown(rows)
    return "\n".join(lines) + "\n"


def write_table(rows: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    """``reproduce.md`` (the summary over seeds when there are several, then the tables
    of each seed), ``reproduce.csv`` and ``reproduce.json`` (one row per set, seed,
    metric and map) and ``reproduce-summary.csv``/``.json`` (mean, sd, range) in ``out``."""
    paths = {"md": out / "reproduce.md", "csv": out / "reproduce.csv",
             "json": out / "reproduce.json", "summary_csv": out / "reproduce-summary.csv",
             "summary_json": out / "reproduce-summary.json"}
    summary = seed_summary.summarize(rows)
    paths["md"].write_text(full_markdown(rows, summary))
    _write_csv(rows, paths["csv"])
    _write_csv(summary, paths["summary_csv"])
    paths["json"].write_text(json.dumps(rows, indent=1))
    paths["summary_json"].write_text(json.dumps(summary, indent=1))
    return paths


def full_markdown(rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> str:
    """The summary over seeds (with its 'found' table), then each seed's tables."""
    seeds = list(dict.fromkeys(r.get("seed", "") for r in rows))
    parts = ["## Summary", "", seed_summary.markdown(summary)]
    for seed in seeds:
        title = f"## Seed {seed}" if seed != "" else "## Tables"
        parts += [title, "", markdown(r for r in rows if r.get("seed", "") == seed)]
    return "\n".join(parts)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        fields = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)


def reproduce(sets: Iterable[str] = SETS, out: str | os.PathLike = "symbreak-reproduce", *,
              seed: int | None = None, seeds: Iterable[int] | None = None,
              overwrite: bool = False, progress: bool | None = None,
              dose: float | None = None, **options: Any) -> list[dict[str, Any]]:
    """Simulate, analyse and score each set for each seed; writes ``out/<set>/`` (one
    seed) or ``out/<set>/seed-<n>/`` (several), each with results and report, and the
    tables ``out/reproduce.{md,csv,json}`` and ``out/reproduce-summary.{csv,json}``.

    Parameters
    ----------
    sets
        Preset names among :data:`SETS` (the default) and :data:`HARD_SETS`.
    out
        Output folder.
    seed
        One seed of the simulation (and its Poisson noise) and the rrVAE (default 0).
    seeds
        Several seeds instead of ``seed``: every set is run for each (``seeds=(0, 1, 2)``).
    overwrite
        Replace an earlier reproduce folder of symbreak's (never a folder it did not
        write). The folder is assembled beside ``out`` (``.symbreak-tmp-staging-OUT``)
        and put in place in one rename once every set is done: a kill leaves the old
        folder or the new one, never new results beside old tables.
    dose
        Electron dose [e/Å^2]: Poisson counts instead of noise-free intensities (None).
    **options
        Analysis settings for every set (``epochs=100``, ``max_time=120``, ...).
    """
    sets = list(sets)
    unknown = [s for s in sets if s not in SETS + HARD_SETS]
    if unknown or not sets:
        raise SettingsError(f"unknown data set(s) {unknown}; choose from {list(SETS)} or "
                            f"the hard cases {list(HARD_SETS)}")
    if dose is not None and not (isinstance(dose, (int, float)) and dose > 0):
        raise SettingsError(f"dose={dose!r} must be a positive number of electrons per Å^2, "
                            "e.g. 1e5")
    seed_list = check_seeds(seed, seeds)
    for s in seed_list:  # every setting checked before anything is written
        AnalyzeSettings().replace(seed=s, **options)
    sim = {} if dose is None else {"dose": float(dose)}
    out = check_reproduce_out(out, overwrite)
    with output_lock(out, "reproduce", beside=True):
        check_reproduce_out(out, overwrite)
        staging = staging_path(out)
        remove_leftover(staging, "reproduce output")
        make_marked_folder(staging, "reproduce")
        try:
            rows = _run_sets(sets, seed_list, staging, sim, progress, options)
            _publish(staging, out)
        except BaseException:
            remove(staging)
            raise
    return rows


def _run_sets(sets: list[str], seed_list: list[int], folder: Path, sim: dict[str, Any],
              progress: bool | None, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Simulate, analyse, report and score every set for every seed into ``folder``."""
    rows: list[dict[str, Any]] = []
    for name in sets:
        for s in seed_list:
            where = folder / name if len(seed_list) == 1 else folder / name / f"seed-{s}"
            where.parent.mkdir(parents=True, exist_ok=True)
            results = analyze(simulate(name, seed=s, **sim), out=where, progress=progress,
                              seed=s, **options)
            report(where)
            new = evaluate(results, name) + fit_rows(where / "model", name, results)
            if "dose" in sim and results.sizes.get("defect", 0):
                new += ideal_rows(simulate(name, seed=s), results, name, sim["dose"])
            rows += [dict(r, seed=s) for r in new]
            write_table(rows, folder)
    return rows


def check_reproduce_out(out: str | os.PathLike, overwrite: bool) -> Path:
    """Check the reproduce folder before anything is done: new, empty, or (with
    ``overwrite``) an earlier reproduce folder of symbreak's; never a link, the current
    folder or a folder of the user's (its reproduce.md/.csv/.json are never replaced)."""
    path = Path(os.path.expanduser(os.fspath(out)))
    if path.is_symlink():
        raise SettingsError(f"output {display(path)} is a symbolic link; symbreak does not "
                            "write through links: give the real path or another name")
    if _empty_folder(path):
        check_place(path)
        return path
    return check_target(path, overwrite=overwrite)


def _empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _publish(staging: Path, out: Path) -> None:
    """Put the finished reproduce folder ``staging`` at ``out`` in one rename (an old one
    is swapped out atomically, then removed; an empty folder is replaced)."""
    if not (out.exists() or out.is_symlink()):
        rename_new(staging, out)
        return
    owned = is_owned(out)
    exchange(staging, out)
    if owned:
        remove(staging)  # now the old reproduce folder
    else:
        with contextlib.suppress(OSError):
            staging.rmdir()  # the empty folder that was there (kept if it filled meanwhile)


def check_seeds(seed: int | None, seeds: Iterable[int] | None) -> list[int]:
    """The seeds to run: ``seeds``, or ``[seed]``, or ``[0]``; a SettingsError for both,
    none, negative, non-integer or repeated seeds."""
    if seed is not None and seeds is not None:
        raise SettingsError("give seed=N or seeds=(N, ...), not both")
    chosen = [0 if seed is None else seed] if seeds is None else list(seeds)
    if not chosen:
        raise SettingsError("seeds is empty; give at least one seed, e.g. seeds=(0, 1, 2)")
    for s in chosen:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise SettingsError(f"seed {s!r} must be a non-negative integer, e.g. seeds=(0, 1, 2)")
    if len(set(chosen)) != len(chosen):
        raise SettingsError(f"seeds {chosen} repeat a seed; give each seed once")
    return [int(s) for s in chosen]
