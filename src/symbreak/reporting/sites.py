"""Report part 'Site classes' (inside 'Where is the symmetry broken?'): the class map over
the ADF image, the sites' folded content latents with their noise, and a table of sites
and classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from ..analysis import schema as S
from ..analysis import sites_stage as T
from .loading import json_attr, text_of
from .markup import EMPTY, Html, html, table
from .panels import extent, overlay_truth, truth_markers

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf")
CAPTION = ("Site classes: the atom-column sites (maxima of the ADF image folded into the "
           "unit cell where the COM converges) grouped by the descriptor family that tells "
           "them apart best (radial profile, BF and ADF, or rrVAE content latents: none "
           "changes when a pattern is turned). Left: the class of the nearest site at every "
           "probe position over the ADF image (uncoloured: between sites); rings: simulated "
           "atoms when known. Right: each site's folded values of that family (first two "
           "channels), with an ellipse of one noise unit along each.")


def present(results: xr.Dataset) -> bool:
    """True when the results hold the site classes."""
    return T.CLASS_MAP in results


def _colour(k: int) -> str:
    return COLOURS[k % len(COLOURS)]


def sites_figure(results: xr.Dataset) -> Figure | None:
    """Class map over the ADF image, and the sites in the plane of the first two content
    latents (one latent: against the site number)."""
    if not present(results):
        return None
    fig = Figure(figsize=(9.6, 4.0), layout="constrained")
    ax_map, ax_latent = fig.subplots(1, 2)
    labels = results[T.SITE_CLASS].values
    n = int(labels.max()) + 1 if labels.size else 1
    box = extent(results)
    if S.ADF in results:
        ax_map.imshow(results[S.ADF].values, extent=box, cmap="gray",
                      interpolation="nearest")
    classes = np.ma.masked_less(results[T.CLASS_MAP].values, 0)
    ax_map.imshow(classes, extent=box, cmap=ListedColormap([_colour(k) for k in range(n)]),
                  vmin=-0.5, vmax=n - 0.5, alpha=0.55, interpolation="nearest")
    overlay_truth(ax_map, results, truth_markers(results))
    ax_map.set_title(f"site classes ({n})")
    ax_map.set_xlabel("x [Å]")
    ax_map.set_ylabel("y [Å]")
    _latent_panel(ax_latent, results, labels)
    return fig


def _latent_panel(ax: Any, results: xr.Dataset, labels: np.ndarray) -> None:
    z = results[T.SITE_LATENT].values
    noise = results[T.SITE_NOISE].values
    two = z.shape[1] >= 2
    for i, (zi, si, k) in enumerate(zip(z, noise, labels)):
        x, y = (zi[0], zi[1]) if two else (i + 1, zi[0])
        ax.plot(x, y, "o", color=_colour(int(k)), ms=8)
        ax.annotate(f"site {i + 1}", (x, y), xytext=(6, 4), textcoords="offset points")
        if two:
            ax.add_patch(_ellipse((x, y), si[0], si[1], _colour(int(k))))
        else:
            ax.errorbar(x, y, yerr=si[0], color=_colour(int(k)))
    family = str(results[T.THRESHOLD].attrs.get("family", "descriptor"))
    ax.set_xlabel(f"{family} 1" if two else "site")
    ax.set_ylabel(f"{family} 2" if two else f"{family} 1")
    ax.set_title("sites' folded values (ellipse: 1 noise unit)")
    ax.autoscale_view()
    ax.margins(0.25)


def _ellipse(centre: tuple[float, float], width: float, height: float, colour: str) -> Any:
    from matplotlib.patches import Ellipse
    return Ellipse(centre, 2 * width, 2 * height, fill=False, color=colour, lw=1.2)


def _fit_failed(results: xr.Dataset) -> str | None:
    fit = json_attr(results, "rrvae_fit", None)
    if not isinstance(fit, dict) or fit.get("verdict") != "failed":
        return None
    return text_of(fit.get("reasons")) or "failed"


def sites_html(results: xr.Dataset, png: Html = EMPTY) -> Html:
    """The part's heading, figure (``png``: an ``<img>`` element), statement and tables."""
    head = html("<h3>Which sites are equivalent? (site classes)</h3>")
    if not present(results):
        failed = _fit_failed(results)
        why = (f"the rrVAE fit failed ({failed}), so its latents are no evidence"
               if failed else "no lattice or no atom-column site was found")
        return head + html('<p class="missing">Site classes not computed: {}.</p>', why)
    statement = str(results[T.CLASS_MAP].attrs.get("statement", ""))
    figure = (html("<figure>{}<figcaption>{}</figcaption></figure>", png, CAPTION)
              if png else EMPTY)
    return (head + figure + html("<p>{}.</p>", statement) + _site_table(results)
            + _class_table(results))


def _site_table(results: xr.Dataset) -> Html:
    z = results[T.SITE_LATENT].values
    noise = results[T.SITE_NOISE].values
    adf_unit = str(results[T.SITE_ADF].attrs.get("units", ""))
    header = ("site", "y [Å]", "x [Å]", f"ADF [{adf_unit}]", "class", "folded values",
              "noise")
    rows = [(i + 1, f"{y:.2f}", f"{x:.2f}", f"{a:.3g}", int(k),
             ", ".join(f"{v:.3g}" for v in zi), ", ".join(f"{v:.2g}" for v in si))
            for i, (y, x, a, k, zi, si) in enumerate(zip(
                results[T.SITE_Y].values, results[T.SITE_X].values,
                results[T.SITE_ADF].values, results[T.SITE_CLASS].values, z, noise))]
    return table(rows, header)


def _class_table(results: xr.Dataset) -> Html:
    labels = results[T.SITE_CLASS].values
    d = (results[T.CLASS_DISTANCE].values if T.CLASS_DISTANCE in results
         else _class_distance(results[T.SITE_DISTANCE].values, labels))
    limit = float(results[T.THRESHOLD])
    rows = []
    for k, zk in enumerate(results[T.CLASS_LATENT].values):
        members = np.flatnonzero(labels == k)
        others = np.delete(d[k], k)
        nearest = others.min() if others.size else float("nan")
        rows.append((k, ", ".join(str(i + 1) for i in members),
                     ", ".join(f"{v:.3g}" for v in zk),
                     "" if np.isnan(nearest) else f"{nearest:.2g}"))
    header = ("class", "sites", "mean folded values", "nearest other class [noise units, "
              f"farthest pair of sites; threshold {limit:.2g}]")
    return table(rows, header)


def _class_distance(distance: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Farthest pair of sites between each two classes (results written before
    ``site_class_distance`` existed)."""
    k = int(labels.max()) + 1 if labels.size else 0
    return np.array([[distance[np.ix_(labels == a, labels == b)].max() if a != b else 0.0
                      for b in range(k)] for a in range(k)])
