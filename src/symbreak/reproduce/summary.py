"""The spread over seeds of ``symbreak reproduce``'s numbers: mean, standard deviation
and range of every (set, metric, map) over the seeds, and their markdown tables."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

KEY = ("set", "metric", "map")
TABLES = (  # metric, title, number format
    ("angle_vs_com", "rrVAE angle vs COM angle (Fisher-Lee circular correlation)", "+.3f"),
    ("defect_auc", "Defect detection, probes within 1.5 Å of a defect vs the rest: ROC-AUC "
     "as max(AUC, 1 - AUC)", ".3f"),
    ("site_auc", "Zn vs S (hBN: N vs B) columns (probes within 0.7 Å of one): ROC-AUC as "
     "max(AUC, 1 - AUC)", ".3f"),
    ("site_class_count", "Site classes from the rrVAE content latents: number of classes", ".2f"),
    ("site_class_ari", "Site classes against Zn vs S (hBN: N vs B) columns: adjusted Rand "
     "index (1: exact)", ".3f"),
    ("ideal_sigma", "Ideal observer: pooled matched-filter significance of each defect [σ]",
     ".2f"),
    ("dose_efficiency", "Dose efficiency: symmetry score at the defect / ideal significance",
     ".3f"),
)
FOUND = (  # metric, column title, number format
    ("found", "defects found (fraction of seeds)", ".2f"),
    ("false_anomalies", "false anomalies", ".1f"),
    ("score_p99", "combined score, 99th percentile [σ]", ".2f"),
    ("threshold", "threshold [σ]", ".2f"),
)


def summarize(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (set, metric, map) with a numeric value: ``mean``, ``sd`` (sample
    standard deviation, ddof=1; 0 for one seed), ``min``, ``max``, ``n_seeds`` and the
    ``seeds``. Non-finite values (an offset without any anomaly) are left out of the
    statistics and counted in ``n_missing``."""
    groups: dict[tuple, list[tuple[Any, float]]] = {}
    for r in rows:
        if isinstance(r.get("value"), (int, float)) and not isinstance(r["value"], bool):
            groups.setdefault(tuple(r[k] for k in KEY), []).append((r.get("seed", ""),
                                                                    float(r["value"])))
    out = []
    for key, pairs in groups.items():
        values = np.array([v for _, v in pairs])
        finite = values[np.isfinite(values)]
        stats = dict(zip(KEY, key), n_seeds=len(values), n_missing=int(len(values) - len(finite)),
                     seeds=",".join(str(s) for s, _ in pairs))
        if len(finite):
            stats.update(mean=float(finite.mean()),
                         sd=float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
                         min=float(finite.min()), max=float(finite.max()))
        else:
            stats.update(mean=math.nan, sd=math.nan, min=math.nan, max=math.nan)
        out.append(stats)
    return out


def cell(stats: dict[str, Any] | None, fmt: str) -> str:
    """``mean ± sd (min–max)``; the plain value for one seed; empty without numbers."""
    if stats is None or not math.isfinite(stats["mean"]):
        return ""
    if stats["n_seeds"] == 1:
        return format(stats["mean"], fmt)
    return (f"{stats['mean']:{fmt}} ± {stats['sd']:.3f} "
            f"({stats['min']:{fmt}}–{stats['max']:{fmt}})")


def markdown(summary: list[dict[str, Any]]) -> str:
    """The summary as markdown: one table per metric (map x set) and the 'found' table."""
    index = {tuple(s[k] for k in KEY): s for s in summary}
    seeds = max((s["n_seeds"] for s in summary), default=0)
    lines = [f"Over {seeds} seed(s): mean ± sample sd (min–max).", ""]
    for metric, title, fmt in TABLES:
        sel = [s for s in summary if s["metric"] == metric]
        if not sel:
            continue
        sets = list(dict.fromkeys(s["set"] for s in sel))
        lines += [f"### {title}", "", "| map | " + " | ".join(sets) + " |",
                  "|---|" + "---|" * len(sets)]
        for key in dict.fromkeys(s["map"] for s in sel):
            cells = [cell(index.get((st, metric, key)), fmt) for st in sets]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += found_table(summary, index)
    return "\n".join(lines) + "\n"


def found_table(summary: list[dict[str, Any]], index: dict) -> list[str]:
    """Per set: defects found, false anomalies, 99th percentile and threshold, and each
    defect's offset to the nearest top anomaly."""
    sets = list(dict.fromkeys(s["set"] for s in summary if s["metric"] == "threshold"))
    if not sets:
        return []
    lines = ["### Found: anomalies of the combined symmetry score against the truth", "",
             "| data set | " + " | ".join(t for _, t, _ in FOUND)
             + " | offset of each defect to a top anomaly [Å] |",
             "|---|" + "---|" * (len(FOUND) + 1)]
    for st in sets:
        cells = [cell(index.get((st, m, "symmetry score: combined")), f) for m, _, f in FOUND]
        offsets = [f"{s['map']}: {cell(s, '.2f') or 'none'}" for s in summary
                   if s["set"] == st and s["metric"] == "defect_offset"]
        lines.append(f"| {st} | " + " | ".join(cells) + " | " + "; ".join(offsets) + " |")
    return lines + [""]
