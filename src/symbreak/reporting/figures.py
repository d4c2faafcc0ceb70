"""The report's figures, drawn with matplotlib from the saved results only.

Every function takes the results ``xarray.Dataset`` and returns a matplotlib Figure (or
None when the results lack what it shows). Maps are drawn in Å with the scan origin at
the top left, patterns in mrad; colour bars carry units; known atoms and defects are
overlaid on the maps.
"""

from __future__ import annotations

import sys
from typing import Any

import matplotlib

if "ipykernel" not in sys.modules:  # a notebook keeps its inline backend (symbreak.plot)
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import hsv_to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Circle, Rectangle  # noqa: E402

from ..analysis import schema as S  # noqa: E402
from .angles import angles_figure  # noqa: E402
from .explorer import SCAN_MAP  # noqa: E402
from .positions import positions_figure  # noqa: E402
from .html import section_stem  # noqa: E402
from .loading import json_attr  # noqa: E402
from .symmetry import Y, symmetry_figure  # noqa: E402
from .sites import sites_figure  # noqa: E402
from .panels import (PANEL, extent, grid, label_scan, map_panel, overlay_truth, plain,  # noqa: E402, F401
                     subplots, truth_markers, unit_of)



def _settings(results: xr.Dataset) -> dict[str, Any]:
    return json_attr(results, "settings", {})


# ------------------------------------------------------------------------ figures
def mean_pattern_figure(results: xr.Dataset) -> Figure:
    """Whole-detector mean pattern (log scale) with the virtual detectors and the crop,
    next to the mean pattern on the analysis grid."""
    fig, axes = subplots(1, 2, PANEL * 1.3, PANEL * 1.15)
    axes = axes[0]
    raw = results[S.RAW_MEAN_PATTERN]
    ky, kx = raw.dims
    unit = unit_of(results, kx)
    ext = extent(results, ky, kx)
    im = axes[0].imshow(np.log10(np.clip(raw.values, 1e-6 * raw.values.max(), None)),
                        extent=ext, cmap="magma", origin="upper")
    fig.colorbar(im, ax=axes[0], shrink=0.85).set_label(
        f"log10 [{plain(raw.attrs.get('units', 'counts'))}]")
    axes[0].set_title("mean pattern, whole detector")
    det = _settings(results).get("detectors", {})
    if plain(det.get("detector_units", unit)) == unit:
        center = _crop_center(results)
        for name, colour in (("bf", "cyan"), ("adf", "lime")):
            radii = [r for r in det.get(name) or [] if r > 0]
            for k, radius in enumerate(radii):
                axes[0].add_patch(Circle(center, radius, fill=False, ec=colour, lw=1,
                                         ls="--", label=name.upper() if k == 0 else None))
    inner = results[S.MEAN_PATTERN]
    ex2 = extent(results, "ky", "kx")
    axes[0].add_patch(Rectangle((ex2[0], ex2[3]), ex2[1] - ex2[0], ex2[2] - ex2[3],
                                fill=False, ec="white", lw=1, label="analysis crop"))
    axes[0].legend(loc="lower right", fontsize=7, framealpha=0.6)
    im = axes[1].imshow(inner.values, extent=ex2, cmap="magma", origin="upper")
    fig.colorbar(im, ax=axes[1], shrink=0.85).set_label(
        f"[{plain(inner.attrs.get('units', ''))}]")
    axes[1].set_title("mean pattern, analysis grid")
    for ax, (a, b) in zip(axes, ((ky, kx), ("ky", "kx"))):
        ax.set_xlabel(f"kx [{unit_of(results, b)}]")
        ax.set_ylabel(f"ky [{unit_of(results, a)}]")
    return fig


def _crop_center(results: xr.Dataset) -> tuple[float, float]:
    """Detector centre (x, y) in detector coordinates: the calibrated centre (the origin
    of the coordinates) or else the centre of mass of the mean pattern."""
    calibration = json_attr(results, "calibration", {})
    if calibration.get("detector_center") is not None:
        return (0.0, 0.0)
    raw = np.clip(results[S.RAW_MEAN_PATTERN].values, 0, None)
    ky, kx = results[S.RAW_MEAN_PATTERN].dims
    iy, ix = (np.arange(n) for n in raw.shape)
    total = raw.sum()
    cy, cx = (raw.sum(axis=1) @ iy) / total, (raw.sum(axis=0) @ ix) / total
    return (float(np.interp(cx, ix, results[kx].values)), float(np.interp(cy, iy, results[ky].values)))


def virtual_figure(results: xr.Dataset, markers: dict[str, np.ndarray]) -> Figure | None:
    """The virtual BF and ADF images (those in the results)."""
    shown = [(n, c) for n, c in ((S.BF, "gray"), (S.ADF, "inferno")) if n in results]
    if not shown:
        return None
    fig, axes = grid(len(shown), 2)
    det = _settings(results).get("detectors", {})
    unit = plain(det.get("detector_units", ""))
    for ax, (name, cmap) in zip(axes, shown):
        rng = det.get(name)
        map_panel(fig, ax, results, results[name].values,
             f"{name.upper()} {rng[0]:g}-{rng[1]:g} {unit}" if rng else name.upper(),
             results[name].attrs.get("units", "counts"), markers, cmap)
    return fig


def com_colors(angle: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """RGB image: hue = COM direction, value = magnitude / its 99th percentile."""
    hue = (np.mod(angle, 2 * np.pi)) / (2 * np.pi)
    finite = magnitude[np.isfinite(magnitude)]
    scale = np.percentile(finite, 99) if finite.size and np.percentile(finite, 99) > 0 else 1.0
    value = np.clip(np.nan_to_num(magnitude / scale), 0, 1)
    hsv = np.stack([np.nan_to_num(hue), np.ones_like(hue), value], axis=-1)
    return hsv_to_rgb(hsv)


def color_wheel(ax: Any, n: int = 201) -> None:
    """Legend of :func:`com_colors`: direction as hue, magnitude as brightness."""
    y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j]
    r = np.hypot(x, y)
    # image y points down, so the angle is measured as in the maps (arctan2(y_down, x))
    rgb = com_colors(np.arctan2(y, x), np.clip(r, 0, 1) * 0.99)
    rgba = np.concatenate([rgb, (r <= 1)[..., None].astype(float)], axis=-1)
    ax.imshow(rgba, extent=[-1, 1, 1, -1], origin="upper")
    for label, (tx, ty) in {"+x": (1.25, 0), "+y (down)": (0, 1.3), "-x": (-1.3, 0),
                            "-y": (0, -1.25)}.items():
        ax.text(tx, ty, label, ha="center", va="center", fontsize=8)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(1.5, -1.5)
    ax.set_title("COM direction / magnitude")
    ax.axis("off")


def com_figure(results: xr.Dataset, markers: dict[str, np.ndarray]) -> Figure:
    fig, axes = grid(5, 3)
    unit = plain(results[S.COM_X].attrs.get("units", ""))
    for ax, name in zip(axes, (S.COM_X, S.COM_Y, S.COM_MAGNITUDE)):
        map_panel(fig, ax, results, results[name].values, name, unit, markers,
             "RdBu_r" if name != S.COM_MAGNITUDE else "viridis",
             **(_symmetric(results[name].values) if name != S.COM_MAGNITUDE else {}))
    rgb = com_colors(results[S.COM_ANGLE].values, results[S.COM_MAGNITUDE].values)
    ax = axes[3]
    ax.imshow(rgb, extent=extent(results), origin="upper", interpolation="nearest")
    ax.set_title("COM angle (hue) and magnitude (brightness)")
    ax.set_gid(SCAN_MAP)
    label_scan(ax, results)
    overlay_truth(ax, results, markers)
    color_wheel(axes[4])
    return fig


def _symmetric(values: np.ndarray) -> dict[str, float]:
    vmax = float(np.nanpercentile(np.abs(values), 99.5)) or 1.0
    return {"vmin": -vmax, "vmax": vmax}


def pca_figure(results: xr.Dataset, markers: dict[str, np.ndarray], n: int = 4) -> Figure:
    n = min(n, results.sizes["component"])
    fig, axes = subplots(2, n, PANEL * 1.25, PANEL * 1.05)
    ratio = results[S.PCA_EXPLAINED].values
    for i in range(n):
        scores = results[S.PCA_SCORES].isel(component=i).values
        map_panel(fig, axes[0, i], results, scores, f"PCA score {i} ({100 * ratio[i]:.1f} %)",
             "a.u.", markers, "RdBu_r", **_symmetric(scores))
        comp = results[S.PCA_COMPONENTS].isel(component=i).values
        im = axes[1, i].imshow(comp, extent=extent(results, "ky", "kx"), cmap="RdBu_r",
                               origin="upper", **_symmetric(comp))
        axes[1, i].set_title(f"PCA component {i}")
        axes[1, i].set_xlabel(f"kx [{unit_of(results, 'kx')}]")
        axes[1, i].set_ylabel(f"ky [{unit_of(results, 'ky')}]")
        fig.colorbar(im, ax=axes[1, i], shrink=0.85).set_label("[a.u.]")
    return fig


def vae_figure(results: xr.Dataset, markers: dict[str, np.ndarray]) -> Figure:
    n_latent = results.sizes["latent"]
    fig, axes = grid(2 + n_latent, 4)
    map_panel(fig, axes[0], results, results[S.LATENT_ANGLE].values, "rrVAE angle latent", "rad",
         markers, "twilight", vmin=-np.pi, vmax=np.pi)
    for i in range(n_latent):
        map_panel(fig, axes[1 + i], results, results[S.LATENT_Z].isel(latent=i).values,
             f"rrVAE content latent z{i + 1}", "1", markers, "cividis")
    map_panel(fig, axes[1 + n_latent], results, results[S.RECONSTRUCTION_ERROR].values,
         "reconstruction error", plain(results[S.RECONSTRUCTION_ERROR].attrs.get("units", "")),
         markers, "magma")
    return fig


def manifold_figure(results: xr.Dataset) -> Figure | None:
    if S.MANIFOLD not in results:
        return None
    grid = results[S.MANIFOLD].values
    ny, nx, h, w = grid.shape
    mosaic = grid.transpose(0, 2, 1, 3).reshape(ny * h, nx * w)
    fig, ax, cax = _square_with_colorbar(PANEL * 1.6, mosaic.shape[1] / mosaic.shape[0])
    im = ax.imshow(mosaic, cmap="magma", origin="upper",
                   extent=_manifold_extent(results, nx, ny))
    for k in range(1, nx):
        ax.axvline(ax.get_xlim()[0] + k * (ax.get_xlim()[1] - ax.get_xlim()[0]) / nx,
                   color="white", lw=0.3)
    for k in range(1, ny):
        ax.axhline(ax.get_ylim()[1] + k * (ax.get_ylim()[0] - ax.get_ylim()[1]) / ny,
                   color="white", lw=0.3)
    ax.set_xlabel("content latent z1")
    ax.set_ylabel("content latent z2")
    ax.set_title(f"decoded manifold ({ny} x {nx}), angle latent fixed at 0")
    fig.colorbar(im, cax=cax).set_label("decoded pattern, preprocessed scale [1]")
    return fig


def _square_with_colorbar(height: float, aspect: float = 1.0) -> tuple[Figure, Any, Any]:
    """A figure sized to one image of ``height`` inches (width = aspect * height) and its
    colour bar, with just the margins the labels need (no empty space around it)."""
    left, bottom, top, gap, bar, right = 0.75, 0.5, 0.3, 0.12, 0.15, 0.75
    width = aspect * height
    fig_w, fig_h = left + width + gap + bar + right, bottom + height + top
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((left / fig_w, bottom / fig_h, width / fig_w, height / fig_h))
    cax = fig.add_axes(((left + width + gap) / fig_w, bottom / fig_h, bar / fig_w,
                        height / fig_h))
    return fig, ax, cax


def _manifold_extent(results: xr.Dataset, nx: int, ny: int) -> list[float]:
    if "manifold_x" in results.coords and "manifold_y" in results.coords:
        zx, zy = results["manifold_x"].values, results["manifold_y"].values
        hx = (zx[-1] - zx[0]) / max(nx - 1, 1) / 2
        hy = (zy[-1] - zy[0]) / max(ny - 1, 1) / 2
        return [zx[0] - hx, zx[-1] + hx, zy[-1] + hy, zy[0] - hy]
    return [0, nx, ny, 0]


LOSS_LABELS = {
    "train_loss": "training: -ELBO + rotation-consistency term (training patterns)",
    "val_loss": "validation: -ELBO only (held-out patterns)",
}


def training_figure(results: xr.Dataset) -> Figure | None:
    """Training and validation loss per pattern against epoch; the legend says what each
    sums (the training loss carries the consistency term, so it lies above)."""
    names = [n for n in results.data_vars if str(n).startswith(S.HISTORY_PREFIX)
             and str(n).endswith("loss") and results[n].size and np.isfinite(results[n]).any()]
    if not names:
        return None
    fig, axes = subplots(1, 1, PANEL * 2.4, PANEL * 1.2)
    ax = axes[0, 0]
    for name in names:
        values = results[name].values
        key = name.removeprefix(S.HISTORY_PREFIX)
        ax.plot(np.arange(1, values.size + 1), values, label=LOSS_LABELS.get(key, key))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per pattern [a.u.]")
    if all(np.nanmin(results[n].values) > 0 for n in names):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("rrVAE training")
    return fig


def section_figure(results: xr.Dataset, section: str,
                   markers: dict[str, np.ndarray]) -> Figure | None:
    """One map per scan variable of a report ``section`` that has no figure of its own
    (a stage added after the built-in ones), titled by its long name, with its unit."""
    names = [v.name for v in S.variables_in(section) if v.name in results and v.is_map]
    if not names:
        return None
    fig, axes = grid(len(names), 3)
    for ax, name in zip(axes, names):
        var = results[name]
        map_panel(fig, ax, results, var.values, plain(var.attrs.get("long_name", name)),
             var.attrs.get("units", ""), markers)
    return fig
