"""Report panel 'Patterns at chosen positions': the preprocessed pattern at the strongest
anomaly, at a lattice-equivalent position (the same site of another unit cell) and at a
perfect-lattice site, their positions marked on the ADF image.

The patterns are the explorer stage's 8-bit copies, so the positions are snapped to the
probe positions it kept (every ``stride``-th one).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis import schema as S
from ..analysis import symmetry_stage as Y
from ..analysis.explorer_stage import PATTERN, dequantise
from .markup import Html, html, join
from .panels import grid, map_panel, plain

COLOURS = {"A": "cyan", "R": "lime", "P": "yellow"}
CLEAR_OF_ANOMALY = 3.0  # Å: a perfect-lattice site is at least this far from every anomaly


@dataclasses.dataclass(frozen=True)
class Position:
    """A chosen probe position: label (A, R, P), what it is, and its indices on the
    explorer grid (iy, ix) and in the scan (row, column)."""

    label: str
    description: str
    iy: int
    ix: int
    row: int
    column: int


def _kept(results: xr.Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    return (results["explorer_y"].values, results["explorer_x"].values,
            int(results[PATTERN].attrs.get("stride", 1)))


def _snap(results: xr.Dataset, y: float, x: float) -> tuple[int, int, float]:
    """Nearest kept probe position to (y, x) [Å]: (iy, ix, distance [Å])."""
    ys, xs, _ = _kept(results)
    iy, ix = int(np.argmin(np.abs(ys - y))), int(np.argmin(np.abs(xs - x)))
    return iy, ix, float(np.hypot(ys[iy] - y, xs[ix] - x))


def _position(results: xr.Dataset, label: str, description: str, iy: int, ix: int) -> Position:
    stride = _kept(results)[2]
    return Position(label, description, iy, ix, iy * stride, ix * stride)


def _on_grid(results: xr.Dataset, name: str, selection: dict | None = None) -> np.ndarray:
    """A scan map sampled at the kept probe positions."""
    stride = _kept(results)[2]
    values = results[name].sel(selection or {}).values
    return values[::stride, ::stride]


def chosen_positions(results: xr.Dataset) -> list[Position]:
    """The strongest anomaly (A), a lattice-equivalent position (R) and a perfect-lattice
    site (P). With the symmetry stage: its strongest anomaly, the lattice translate of it
    that falls closest to a kept position, and the lowest combined score at least
    CLEAR_OF_ANOMALY Å from every anomaly. Without it: the largest and the smallest
    reconstruction error (no R)."""
    if PATTERN not in results:
        return []
    if Y.SCORE in results and results.sizes.get("anomaly", 0) > 0:
        return _from_symmetry(results)
    if S.RECONSTRUCTION_ERROR in results:
        error = _on_grid(results, S.RECONSTRUCTION_ERROR)
        worst = np.unravel_index(np.nanargmax(error), error.shape)
        best = np.unravel_index(np.nanargmin(error), error.shape)
        return [_position(results, "A", "largest rrVAE reconstruction error", *worst),
                _position(results, "P", "smallest rrVAE reconstruction error", *best)]
    return []


def _from_symmetry(results: xr.Dataset) -> list[Position]:
    ay, ax = (float(results[n].values[0]) for n in (Y.ANOMALY_Y, Y.ANOMALY_X))
    iy, ix, _ = _snap(results, ay, ax)
    out = [_position(results, "A", f"strongest anomaly ({float(results[Y.ANOMALY_SCORE][0]):.1f}"
                     " σ)", iy, ix)]
    if Y.LATTICE in results:
        reference = _lattice_equivalent(results, ay, ax)
        if reference is not None:
            out.append(reference)
    score = _on_grid(results, Y.SCORE, {Y.MAP_DIM: "combined"})
    ys, xs, _ = _kept(results)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    clear = np.ones(score.shape, dtype=bool)
    for y, x in zip(results[Y.ANOMALY_Y].values, results[Y.ANOMALY_X].values):
        clear &= np.hypot(yy - y, xx - x) >= CLEAR_OF_ANOMALY
    if clear.any():
        masked = np.where(clear & np.isfinite(score), score, np.inf)
        best = np.unravel_index(np.argmin(masked), masked.shape)
        out.append(_position(results, "P", f"perfect-lattice site (lowest combined score, "
                             f"{float(score[best]):.1f} σ)", *best))
    return out


def _lattice_equivalent(results: xr.Dataset, ay: float, ax: float) -> Position | None:
    """The translate of (ay, ax) by n a1 + m a2 (|n|, |m| <= 3, not both 0) inside the
    scan that lies closest to a kept probe position."""
    a1, a2 = results[Y.LATTICE].values  # (y, x) each, Å
    ys, xs, _ = _kept(results)
    best = None
    for n, m in itertools.product(range(-3, 4), repeat=2):
        if n == m == 0:
            continue
        y, x = ay + n * a1[0] + m * a2[0], ax + n * a1[1] + m * a2[1]
        if not (ys[0] <= y <= ys[-1] and xs[0] <= x <= xs[-1]):
            continue
        iy, ix, distance = _snap(results, y, x)
        key = (round(distance, 6), abs(n) + abs(m))
        if best is None or key < best[0]:
            best = (key, iy, ix, n, m)
    if best is None:
        return None
    (distance, _), iy, ix, n, m = best
    return _position(results, "R", f"lattice-equivalent: A + ({n}) a1 + ({m}) a2 "
                     f"(kept position {distance:.2f} Å from it)", iy, ix)


def positions_figure(results: xr.Dataset, markers: dict[str, np.ndarray]) -> Figure | None:
    """The ADF image with the chosen positions, then the pattern at each (one colour
    scale) and, with A and R, their difference."""
    chosen = chosen_positions(results)
    if not chosen:
        return None

    labels = [p.label for p in chosen]
    n = 1 + len(chosen) + ("A" in labels and "R" in labels)
    fig, axes = grid(n, 3)
    base = S.ADF if S.ADF in results else S.BF
    map_panel(fig, axes[0], results, results[base].values, f"{base.upper()} and chosen positions",
         results[base].attrs.get("units", ""), markers, "gray")
    ys, xs, _ = _kept(results)
    patterns = {p.label: dequantise(results[PATTERN].values[p.iy, p.ix], results[PATTERN].attrs)
                for p in chosen}
    low, high = min(v.min() for v in patterns.values()), max(v.max() for v in patterns.values())
    for ax, p in zip(axes[1:], chosen):
        axes[0].plot(xs[p.ix], ys[p.iy], "s", mfc="none", mec=COLOURS[p.label], ms=11, mew=2)
        axes[0].annotate(p.label, (xs[p.ix], ys[p.iy]), color=COLOURS[p.label], xytext=(7, 5),
                         textcoords="offset points", fontweight="bold")
        _pattern(fig, ax, results, patterns[p.label], f"{p.label}: row {p.row}, column "
                 f"{p.column}", "magma", vmin=low, vmax=high)
    if n > 1 + len(chosen):
        d = patterns["A"] - patterns["R"]
        m = float(np.abs(d).max()) or 1.0
        _pattern(fig, axes[1 + len(chosen)], results, d, "A - R", "RdBu_r", vmin=-m, vmax=m)
    return fig


def _pattern(fig: Figure, ax: Any, results: xr.Dataset, values: np.ndarray, title: str,
             cmap: str, **kwargs: Any) -> None:
    ky, kx = results["ky"].values, results["kx"].values
    dy, dx = (ky[1] - ky[0], kx[1] - kx[0]) if ky.size > 1 and kx.size > 1 else (1, 1)
    im = ax.imshow(values, cmap=cmap, origin="upper", interpolation="nearest",
                   extent=[kx[0] - dx / 2, kx[-1] + dx / 2, ky[-1] + dy / 2, ky[0] - dy / 2],
                   **kwargs)

    ax.set_title(title)
    ax.set_xlabel(f"kx [{plain(results['kx'].attrs.get('units', 'px'))}]")
    ax.set_ylabel(f"ky [{plain(results['ky'].attrs.get('units', 'px'))}]")
    fig.colorbar(im, ax=ax, shrink=0.85).set_label("preprocessed [1]")


def positions_html(results: xr.Dataset) -> Html:
    """What each chosen position is, as a list under the figure."""
    ys, xs = (results["explorer_y"].values, results["explorer_x"].values) \
        if PATTERN in results else ((), ())
    unit = results["scan_x"].attrs.get("units", "px")
    items = join(html("<li><b>{}</b> at x = {:.2f} {}, y = {:.2f} {}: {}</li>", p.label,
                      xs[p.ix], unit, ys[p.iy], unit, p.description)
                 for p in chosen_positions(results))
    return html("<ul>{}</ul>", items) if items else items
