"""The drawing helpers every report figure shares: scan extents, map panels with units
and known atoms, panel grids without a layout engine."""

from __future__ import annotations

import sys
from typing import Any

import matplotlib

if "ipykernel" not in sys.modules:  # a notebook keeps its inline backend (symbreak.plot)
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..analysis import schema as S  # noqa: E402
from .explorer import SCAN_MAP  # noqa: E402

PANEL = 2.9  # inches per map panel
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 100})


def extent(results: xr.Dataset, y: str = "scan_y", x: str = "scan_x") -> list[float]:
    """imshow extent [left, right, bottom, top] of the ``y`` x ``x`` grid in its units,
    pixel centres on the coordinates, origin at the top left."""
    ys, xs = results[y].values, results[x].values
    dy = ys[1] - ys[0] if ys.size > 1 else 1.0
    dx = xs[1] - xs[0] if xs.size > 1 else 1.0
    return [xs[0] - dx / 2, xs[-1] + dx / 2, ys[-1] + dy / 2, ys[0] - dy / 2]


def plain(text: Any) -> str:
    """Text from the results as matplotlib draws it literally: ``$`` would start
    mathtext, whose parse errors would break the figure."""
    return str(text).replace("$", r"\$")


def unit_of(results: xr.Dataset, dim: str) -> str:
    """The units of coordinate ``dim`` as matplotlib text."""
    return plain(results[dim].attrs.get("units", "px"))


def label_scan(ax: Any, results: xr.Dataset) -> None:
    """Scan axis labels with their units."""
    ax.set_xlabel(f"x [{unit_of(results, 'scan_x')}]")
    ax.set_ylabel(f"y [{unit_of(results, 'scan_y')}]")


def truth_markers(results: xr.Dataset) -> dict[str, np.ndarray]:
    """Atom and defect positions (x, y) in the scan frame [Å], from ``truth_*`` variables.

    The probe positions ``truth_probe_x/y`` tie the simulation frame to the scan
    coordinates; without them the positions are used as they are.
    """
    ox = oy = 0.0
    if S.TRUTH_PROBE_X in results and S.TRUTH_PROBE_Y in results:
        ox = float(results[S.TRUTH_PROBE_X].values.flat[0]) - float(results["scan_x"][0])
        oy = float(results[S.TRUTH_PROBE_Y].values.flat[0]) - float(results["scan_y"][0])
    out = {}
    for key, (xn, yn) in {"atoms": (S.TRUTH_ATOM_X, S.TRUTH_ATOM_Y),
                          "defects": (S.TRUTH_DEFECT_X, S.TRUTH_DEFECT_Y)}.items():
        if xn in results and yn in results:
            out[key] = np.column_stack([results[xn].values - ox, results[yn].values - oy])
    if S.TRUTH_ATOM_NUMBER in results and "atoms" in out:
        out["atom_number"] = results[S.TRUTH_ATOM_NUMBER].values
    return out


def overlay_truth(ax: Any, results: xr.Dataset, markers: dict[str, np.ndarray]) -> None:
    """Draw atoms (rings, coloured by element) and defects (red crosses) inside the map."""
    x0, x1, y1, y0 = extent(results)
    margin = 0.3

    def inside(points: np.ndarray) -> np.ndarray:
        return ((points[:, 0] >= x0 - margin) & (points[:, 0] <= x1 + margin)
                & (points[:, 1] >= y0 - margin) & (points[:, 1] <= y1 + margin))

    if "atoms" in markers:
        atoms = markers["atoms"]
        keep = inside(atoms)
        numbers = markers.get("atom_number", np.zeros(len(atoms)))[keep]
        for z, colour in zip(np.unique(numbers), ("white", "yellow", "cyan", "lime")):
            sel = atoms[keep][numbers == z]
            ax.scatter(sel[:, 0], sel[:, 1], s=28, facecolors="none", edgecolors=colour,
                       linewidths=0.9, label=f"atom Z={int(z)}" if z else "atom")
    if "defects" in markers:
        defects = markers["defects"][inside(markers["defects"])]
        ax.scatter(defects[:, 0], defects[:, 1], s=70, marker="x", c="red", linewidths=2,
                   label="defect")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)


def map_panel(fig: Figure, ax: Any, results: xr.Dataset, values: np.ndarray, title: str,
              unit: str, markers: dict[str, np.ndarray], cmap: str = "viridis",
              **kwargs: Any) -> None:
    """One scan map on ``ax`` with its title, scan axes, known atoms and defects, and a
    colour bar labelled ``[unit]``."""
    im = ax.imshow(values, extent=extent(results), origin="upper", cmap=cmap,
                   interpolation="nearest", **kwargs)
    ax.set_title(title)
    ax.set_gid(SCAN_MAP)
    label_scan(ax, results)
    overlay_truth(ax, results, markers)
    bar = fig.colorbar(im, ax=ax, shrink=0.85)
    bar.set_label(f"[{plain(unit)}]" if unit else "")


def subplots(nrows: int, ncols: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    """Panels with fixed margins: no layout engine, which costs seconds per figure."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False)
    fig.subplots_adjust(left=0.75 / (width * ncols), right=1 - 0.55 / (width * ncols),
                        bottom=0.55 / (height * nrows), top=1 - 0.35 / (height * nrows),
                        wspace=0.55, hspace=0.45)
    return fig, axes


def grid(n: int, ncols: int = 4) -> tuple[Figure, np.ndarray]:
    """``n`` map panels in rows of ``ncols``; the unused ones hidden."""
    ncols = min(n, ncols)
    nrows = int(np.ceil(n / ncols))
    fig, axes = subplots(nrows, ncols, PANEL * 1.25, PANEL)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat
