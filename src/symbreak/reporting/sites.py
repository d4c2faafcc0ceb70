"""Report part 'Site classes' (inside 'Where is the symmetry broken?'): the class map over
the ADF image, the sites' folded content latents with their noise, and a table of sites
and classes."""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from ..analysis import schema as S
from ..analysis import sites_stage as T

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf")
CAPTION = ("Site classes: the atom-column sites (maxima of the ADF image folded into the "
           "unit cell) grouped by their rrVAE content latents, which do not change when a "
           "pattern is turned. Left: the class of the nearest site at every probe position "
           "over the ADF image (uncoloured: between sites); rings: simulated atoms when "
           "known. Right: each site's folded content latents, with an ellipse of one "
           "latent-noise unit along each latent.")


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
    from .figures import overlay_truth, truth_markers  # figures imports this module
    from .symmetry import _extent
    fig = Figure(figsize=(9.6, 4.0), layout="constrained")
    ax_map, ax_latent = fig.subplots(1, 2)
    labels = results[T.SITE_CLASS].values
    n = int(labels.max()) + 1 if labels.size else 1
    extent = _extent(results)
    if S.ADF in results:
        ax_map.imshow(results[S.ADF].values, extent=extent, cmap="gray",
                      interpolation="nearest")
    classes = np.ma.masked_less(results[T.CLASS_MAP].values, 0)
    ax_map.imshow(classes, extent=extent, cmap=ListedColormap([_colour(k) for k in range(n)]),
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
    ax.set_xlabel("content latent z1" if two else "site")
    ax.set_ylabel("content latent z2" if two else "content latent z1")
    ax.set_title("sites' folded content latents (ellipse: 1 latent-noise unit)")
    ax.autoscale_view()
    ax.margins(0.25)


def _ellipse(centre: tuple[float, float], width: float, height: float, colour: str) -> Any:
    from matplotlib.patches import Ellipse
    return Ellipse(centre, 2 * width, 2 * height, fill=False, color=colour, lw=1.2)


def _fit_failed(results: xr.Dataset) -> str | None:
    try:
        fit = json.loads(results.attrs.get("rrvae_fit", ""))
    except (TypeError, ValueError):
        return None
    if fit.get("verdict") != "failed":
        return None
    return "; ".join(fit.get("reasons", [])) or "failed"


def sites_html(results: xr.Dataset, png: str = "") -> str:
    """The part's heading, figure (``png``: an ``<img>`` tag), statement and tables."""
    head = "<h3>Which sites are equivalent? (site classes)</h3>"
    if not present(results):
        failed = _fit_failed(results)
        why = (f"the rrVAE fit failed ({failed}), so its latents are no evidence"
               if failed else "no lattice or no atom-column site was found")
        return f'{head}<p class="missing">Site classes not computed: {html.escape(why)}.</p>'
    statement = str(results[T.CLASS_MAP].attrs.get("statement", ""))
    figure = (f"<figure>{png}<figcaption>{html.escape(CAPTION)}</figcaption></figure>"
              if png else "")
    return (f"{head}{figure}<p>{html.escape(statement)}.</p>" + _site_table(results)
            + _class_table(results))


def _site_table(results: xr.Dataset) -> str:
    z = results[T.SITE_LATENT].values
    noise = results[T.SITE_NOISE].values
    adf_unit = html.escape(str(results[T.SITE_ADF].attrs.get("units", "")))
    head = ("<tr><th>site</th><th>y [Å]</th><th>x [Å]</th><th>ADF [" + adf_unit
            + "]</th><th>class</th><th>content latents</th><th>latent noise</th></tr>")
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{y:.2f}</td><td>{x:.2f}</td><td>{a:.3g}</td>"
        f"<td>{int(k)}</td><td>{', '.join(f'{v:.3g}' for v in zi)}</td>"
        f"<td>{', '.join(f'{v:.2g}' for v in si)}</td></tr>"
        for i, (y, x, a, k, zi, si) in enumerate(zip(
            results[T.SITE_Y].values, results[T.SITE_X].values, results[T.SITE_ADF].values,
            results[T.SITE_CLASS].values, z, noise)))
    return f"<table>{head}{rows}</table>"


def _class_table(results: xr.Dataset) -> str:
    labels = results[T.SITE_CLASS].values
    d = (results[T.CLASS_DISTANCE].values if T.CLASS_DISTANCE in results
         else _class_distance(results[T.SITE_DISTANCE].values, labels))
    limit = float(results[T.THRESHOLD])
    rows = []
    for k, zk in enumerate(results[T.CLASS_LATENT].values):
        members = np.flatnonzero(labels == k)
        others = np.delete(d[k], k)
        nearest = others.min() if others.size else float("nan")
        rows.append(f"<tr><td>{k}</td><td>{', '.join(str(i + 1) for i in members)}</td>"
                    f"<td>{', '.join(f'{v:.3g}' for v in zk)}</td>"
                    f"<td>{'' if np.isnan(nearest) else f'{nearest:.2g}'}</td></tr>")
    return ("<table><tr><th>class</th><th>sites</th><th>mean content latents</th>"
            f"<th>nearest other class [latent noise, farthest pair of sites; threshold "
            f"{limit:.2g}]</th></tr>"
            + "".join(rows) + "</table>")


def _class_distance(distance: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Farthest pair of sites between each two classes (results written before
    ``site_class_distance`` existed)."""
    k = int(labels.max()) + 1 if labels.size else 0
    return np.array([[distance[np.ix_(labels == a, labels == b)].max() if a != b else 0.0
                      for b in range(k)] for a in range(k)])
