"""Report section 'Where is the symmetry broken?': score maps over the ADF image, the
anomalies marked and listed, example patterns at an anomaly and at its lattice-equivalent
reference, and (with ground truth) the ROC-AUC of every map."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .. import metrics
from ..analysis import schema as S
from ..analysis import symmetry_stage as Y
from .explorer import SCAN_MAP
from .markup import EMPTY, Html, html, table
from .panels import extent

DEFECT_RADIUS = 1.5  # Å, as in reproduce
ANCHOR = "where-is-the-symmetry-broken"


def present(results: xr.Dataset) -> bool:
    """True when the results hold the symmetry stage's scores."""
    return Y.SCORE in results


def symmetry_figure(results: xr.Dataset) -> Figure | None:
    """Score maps (combined, classical, rrVAE) over the ADF image with the anomalies
    circled, and up to two anomalies' patterns beside their lattice-equivalent
    references and the difference."""
    if not present(results):
        return None
    names = [n for n in ("combined", "classical", "rrvae")
             if n in results[Y.SCORE].coords[Y.MAP_DIM].values]
    n_examples = min(2, results.sizes.get("example", 0)) if Y.ANOMALY_PATTERN in results else 0
    fig = Figure(figsize=(4.2 * len(names), 3.8 * (1 + n_examples)), layout="constrained")
    axes = fig.subplots(1 + n_examples, max(len(names), 3), squeeze=False)
    limit = float(results[Y.THRESHOLD]) if Y.THRESHOLD in results else np.nan
    for ax, name in zip(axes[0], names):
        _score_map(fig, ax, results, name, limit)
    for ax in axes[0][len(names):]:
        ax.set_visible(False)
    for row in range(n_examples):
        _examples(fig, axes[1 + row], results, row)
    return fig


def _score_map(fig: Figure, ax: Any, results: xr.Dataset, name: str, limit: float) -> None:
    box = extent(results)
    if S.ADF in results:
        ax.imshow(results[S.ADF].values, extent=box, cmap="gray", interpolation="nearest")
    score = results[Y.SCORE].sel({Y.MAP_DIM: name}).values
    shown = np.ma.masked_less(score, min(2.0, limit) if np.isfinite(limit) else 2.0)
    im = ax.imshow(shown, extent=box, cmap="magma", alpha=0.75, interpolation="nearest",
                   vmin=0, vmax=max(float(np.nanmax(score)), limit if np.isfinite(limit) else 1))
    for i in range(results.sizes.get("anomaly", 0)):
        ax.plot(results[Y.ANOMALY_X].values[i], results[Y.ANOMALY_Y].values[i], "o",
                mfc="none", mec="cyan", ms=14, mew=1.5)
        ax.annotate(str(i + 1), (results[Y.ANOMALY_X].values[i], results[Y.ANOMALY_Y].values[i]),
                    color="cyan", xytext=(6, 6), textcoords="offset points")
    _truth(ax, results)
    ax.set_gid(SCAN_MAP)
    ax.set_title(f"{name} score (> {min(2.0, limit):.1f} σ shown)")
    ax.set_xlabel("x [Å]")
    ax.set_ylabel("y [Å]")
    fig.colorbar(im, ax=ax, shrink=0.85).set_label("[σ]")


def _truth(ax: Any, results: xr.Dataset) -> None:
    if S.TRUTH_DEFECT_X in results and S.TRUTH_PROBE_X in results:
        x0 = float(results[S.TRUTH_PROBE_X].values[0, 0]) - float(results["scan_x"].values[0])
        y0 = float(results[S.TRUTH_PROBE_Y].values[0, 0]) - float(results["scan_y"].values[0])
        ax.plot(results[S.TRUTH_DEFECT_X].values - x0, results[S.TRUTH_DEFECT_Y].values - y0,
                "x", color="red", ms=9, mew=2)


def _examples(fig: Figure, axes: Any, results: xr.Dataset, i: int) -> None:
    a = results[Y.ANOMALY_PATTERN].values[i]
    r = results[Y.REFERENCE_PATTERN].values[i]
    vmax = max(np.percentile(a, 99.5), np.percentile(r, 99.5))
    for ax, img, title in ((axes[0], a, f"anomaly {i + 1}: pattern"),
                           (axes[1], r, f"anomaly {i + 1}: lattice-equivalent reference")):
        ax.imshow(img, cmap="gray", vmin=0, vmax=vmax)
        ax.set_title(title)
        ax.axis("off")
    d = a - r
    m = float(np.abs(d).max()) or 1.0
    im = axes[2].imshow(d, cmap="RdBu_r", vmin=-m, vmax=m)
    axes[2].set_title("difference")
    axes[2].axis("off")
    fig.colorbar(im, ax=axes[2], shrink=0.85)


def auc_rows(results: xr.Dataset) -> list[tuple[str, float]]:
    """(map, ROC-AUC) for probes within DEFECT_RADIUS of a defect against the rest:
    every symmetry score (AUC as is: high score = defect) and the raw maps (reported
    as max(AUC, 1 - AUC), their sign being arbitrary); empty without ground truth."""
    if S.TRUTH_DISTANCE_TO_DEFECT not in results:
        return []
    distance = results[S.TRUTH_DISTANCE_TO_DEFECT].values
    if not np.isfinite(distance).any():
        return []
    labels = distance <= DEFECT_RADIUS
    if labels.all() or not labels.any():
        return []
    rows = [(f"symmetry score: {n}", metrics.auc(results[Y.SCORE].sel({Y.MAP_DIM: n}).values,
                                                 labels))
            for n in results[Y.SCORE].coords[Y.MAP_DIM].values]
    for name in (S.BF, S.ADF, S.COM_MAGNITUDE, S.RECONSTRUCTION_ERROR):
        if name in results:
            rows.append((f"raw {name} (max(AUC, 1-AUC))",
                         metrics.symmetric_auc(results[name].values, labels)))
    if S.LATENT_Z in results:
        for i in range(results.sizes["latent"]):
            rows.append((f"raw rrVAE z{i + 1} (max(AUC, 1-AUC))", metrics.symmetric_auc(
                results[S.LATENT_Z].isel(latent=i).values, labels)))
    return rows


def symmetry_html(results: xr.Dataset) -> Html:
    """The section's text: lattice, threshold, anomaly list and the AUC table."""
    if not present(results):
        return html('<p class="missing">not in these results</p>')
    parts = EMPTY
    if Y.LATTICE in results:
        description = str(results[Y.LATTICE].attrs.get("description", ""))
        parts += html("<p>Lattice: {}</p>", description)
    note = results[Y.SCORE].attrs.get("note")
    if note:
        parts += html("<p>{}: every position is its own reference; this is a "
                      "perfect-crystal control.</p>", note)
    if Y.THRESHOLD in results:
        limit = float(results[Y.THRESHOLD])
        n = results.sizes.get("anomaly", 0)
        parts += html("<p>Threshold {:.2f} σ (1 % chance of a false anomaly over the scan "
                      "for a perfect crystal); {} {} above it.</p>", limit, n,
                      "anomaly" if n == 1 else "anomalies")
        rows = [(i + 1, f"{y:.2f}", f"{x:.2f}", f"{s:.1f}")
                for i, (y, x, s) in enumerate(zip(results[Y.ANOMALY_Y].values,
                                                  results[Y.ANOMALY_X].values,
                                                  results[Y.ANOMALY_SCORE].values))]
        if rows:
            parts += table(rows, ("#", "y [Å]", "x [Å]", "score [σ]"))
    aucs = auc_rows(results)
    if aucs:
        parts += html("<p>Ground truth: ROC-AUC for probes within {} Å of a defect against "
                      "the rest.</p>", DEFECT_RADIUS)
        parts += table([(k, f"{v:.3f}") for k, v in aucs], ("map", "ROC-AUC"))
    return parts
