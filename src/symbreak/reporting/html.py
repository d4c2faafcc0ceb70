"""One self-contained HTML page: every figure embedded as a base64 PNG, no external
files, scripts or fonts, so it opens offline and can be mailed as one file."""

from __future__ import annotations

import base64
import json
from typing import Any, Iterable, Mapping

import xarray as xr

from ..analysis import schema as S
from ..calibration import Calibration
from . import explorer, positions, sites, symmetry
from .fit_quality import fit_quality_html, warning_html
from .loading import json_attr
from .markup import Html, html, join, table, trusted

SECTIONS = (
    ("fit-quality", "rrVAE fit quality", None),
    ("explore", "Explore: the pattern at any probe position", None),
    ("patterns", "Patterns at chosen positions", "chosen_patterns"),
    ("summary", "Data and calibration", None),
    ("mean-pattern", "Mean pattern and detectors", "mean_pattern"),
    ("virtual-images", "Virtual images", "virtual_images"),
    ("com", "Centre of mass (COM / DPC)", "com"),
    ("pca", "PCA scores and components", "pca"),
    ("rrvae", "rrVAE angle and content latents", "rrvae"),
    ("angles", "COM angle and rrVAE angle", "angles"),
    ("manifold", "Decoded manifold", "manifold"),
    ("training", "Training curves", "training"),
    ("settings", "Settings and provenance", None),
)

CAPTIONS = {
    "symmetry": "Each probe position compared with its lattice-equivalent positions elsewhere "
    "in the scan (lattice found from the BF/ADF/COM maps): scores in robust standard "
    "deviations over the ADF image (grey); circles: anomalies above the threshold, red "
    "crosses: known defects. Below: the pattern at an anomaly, the median pattern at its "
    "lattice-equivalent positions, and their difference.",
    "mean_pattern": "Left: mean of all patterns on the whole detector (log scale) with the "
    "bright-field (cyan) and annular dark-field (green) detectors and the analysis crop "
    "(white). Right: the mean pattern on the analysis grid, which is subtracted before PCA "
    "and the rrVAE.",
    "virtual_images": "Virtual bright-field and annular dark-field images.",
    "com": "Centre of mass of each pattern relative to the mean pattern's, in scan "
    "coordinates. The colour map shows the deflection direction as hue and its magnitude "
    "as brightness (legend: the wheel).",
    "pca": "First PCA scores (top) and their components (bottom); the first two are "
    "usually the x/y dipoles that mirror the COM maps.",
    "rrvae": "The rotationally invariant VAE: the angle latent (wrapped, cyclic colours), "
    "the content latents, which should change only where the site symmetry changes, and "
    "the reconstruction error per pattern.",
    "manifold": "Patterns decoded over a grid of the two content latents (the other "
    "latents 0, the angle latent 0), on the scale of the preprocessed patterns.",
    "training": "rrVAE loss per pattern and epoch. Training: negative ELBO plus the "
    "rotation-consistency term, averaged over the epoch's batches; validation: negative "
    "ELBO alone on the held-out patterns. The consistency term is why the training curve "
    "lies above; compare the validation curve with the mean-pattern loss in the fit "
    "quality table.",
    "angles": "Left: direction of the COM shift; middle: the rrVAE's angle latent; both "
    "in rad on the same cyclic colour map (-pi and pi meet). The angle latent has an "
    "arbitrary zero (and may turn the other way), so the right panel shows their "
    "difference after removing the best constant offset (and sign): uniform where the "
    "two agree.",
    "chosen_patterns": "The preprocessed pattern (the rrVAE's input) at chosen positions, "
    "marked on the image at left, on one colour scale; A - R: the difference between the "
    "anomaly and its lattice-equivalent position.",
}

STYLE = trusted("""
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;
color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#b8c0d0;font-size:13px}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #dde;padding:8px 32px;
z-index:2;white-space:nowrap;overflow-x:auto}
nav a{margin-right:14px;color:#2a5db0;text-decoration:none;font-size:13px}
main{max-width:1250px;margin:0 auto;padding:8px 32px 40px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;margin:18px 0;
padding:14px 20px;scroll-margin-top:60px}section h2{margin:2px 0 10px;font-size:18px}
figure{margin:0}figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:13px;color:#4a5366;margin-top:6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
td,th{border-bottom:1px solid #e6e8ee;padding:3px 12px 3px 0;text-align:left;
vertical-align:top}th{color:#4a5366;font-weight:600}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f0f2f5;padding:10px;border-radius:6px;overflow-x:auto}
.missing{color:#a04040}
.verdict{color:#fff;padding:8px 12px;border-radius:6px;font-weight:600;background:#4a5366}
.verdict-ok{background:#1d7a3a}.verdict-doubtful{background:#a86a00}
.verdict-failed{background:#b3261e}.verdict a{color:#fff}
""") + explorer.STYLE


def _img(png: bytes, alt: str, maps: list | None = None) -> Html:
    """An embedded PNG; with ``maps`` (:func:`.explorer.scan_regions`) wrapped for the
    pattern explorer (an overlay canvas for the cross-hairs)."""
    data = base64.b64encode(png).decode("ascii")
    if not maps:
        return html('<img src="data:image/png;base64,{}" alt="{}">', data, alt)
    return html('<div class="sb-map"><img src="data:image/png;base64,{}" alt="{}" '
                'data-maps="{}"><canvas class="sb-overlay"></canvas></div>', data, alt,
                json.dumps(maps))


def summary_html(results: xr.Dataset) -> Html:
    """Input, shape, checksum, calibration and ground truth as tables."""
    a = results.attrs
    shape = a.get("input_shape", ())
    rows = [
        ("input", a.get("input_file", "unknown")),
        ("checksum", a.get("input_checksum", "unknown")),
        ("shape (scan_y, scan_x, ky, kx)", tuple(shape) if isinstance(shape, list) else shape),
        ("dtype", a.get("input_dtype", "")),
        ("scan", f"{results.sizes['scan_y']} x {results.sizes['scan_x']} positions"),
        ("analysis grid", f"{results.sizes.get('ky', '?')} x {results.sizes.get('kx', '?')} px"),
        ("created", a.get("created", "")),
    ]
    truth = [str(n) for n in results.data_vars if str(n).startswith(S.TRUTH_PREFIX)]
    if truth:
        rows.append(("ground truth", ", ".join(n.removeprefix(S.TRUTH_PREFIX) for n in truth)))
    cal = Calibration.from_dict(json_attr(results, "calibration", {}))
    timings = json_attr(results, "timings", {})
    out = (table(rows) + html("<h3>Calibration</h3>")
           + table(cal.describe(), ("field", "value", "source")))
    if timings:
        out += html("<h3>Run time per stage</h3>") + table(
            [(k, f"{v:.1f} s") for k, v in timings.items()], ("stage", "time"))
    return out


def settings_html(results: xr.Dataset) -> Html:
    settings = json_attr(results, "settings", {})
    rows = [(sec, key, json.dumps(val)) for sec, values in settings.items()
            for key, val in values.items()]
    versions = json_attr(results, "versions", {})
    provenance = json_attr(results, "provenance", [])
    return (
        table(rows, ("section", "option", "value"))
        + html("<h3>Preprocessing steps</h3><pre>{}</pre>",
               "\n".join(json.dumps(p) for p in provenance))
        + html("<h3>Package versions</h3>") + table(versions.items(), ("package", "version"))
    )


BUILT_IN = {anchor for anchor, _, _ in SECTIONS}
FIT_FIGURES = ("rrvae", "manifold", "angles")  # shown under a warning when the fit is not ok
FIGURE_TEXT = {"chosen_patterns": positions.positions_html}  # text under a figure
TEXT_SECTIONS = {"fit-quality": fit_quality_html, "summary": summary_html,
                 "settings": settings_html, "explore": explorer.explorer_html}


def extra_sections(results: xr.Dataset) -> tuple[str, ...]:
    """Schema sections of these results that have no built-in section: each becomes a
    section of its own, before the settings."""
    return tuple(s for s in S.sections_of(results.data_vars) if s not in BUILT_IN)


def section_stem(section: str) -> str:
    """File stem and page anchor of a report section: lower case, words joined by '-'."""
    words = "".join(c.lower() if c.isalnum() else " " for c in section).split()
    return "-".join(words) or "section"


def _sections(results: xr.Dataset) -> list[tuple[str, str, str | None]]:
    extra = [(section_stem(s), s, section_stem(s)) for s in extra_sections(results)
             if s != symmetry.Y.SECTION]
    first = ([(symmetry.ANCHOR, symmetry.Y.SECTION, "symmetry")]
             if symmetry.present(results) else [])
    return list(SECTIONS[:1]) + first + list(SECTIONS[1:-1]) + extra + [SECTIONS[-1]]


def _figure(png: bytes, title: str, maps: list | None, caption: str) -> Html:
    return html("<figure>{}<figcaption>{}</figcaption></figure>", _img(png, title, maps),
                caption)


def _section_body(results: xr.Dataset, anchor: str, title: str, figure: str | None,
                  pngs: Mapping[str, bytes | None], maps: Mapping[str, list]) -> Html:
    if figure is None:
        return TEXT_SECTIONS[anchor](results)
    if figure == "symmetry":
        img, site_png = pngs.get(figure), pngs.get("sites")
        body = (_figure(img, title, maps.get(figure), CAPTIONS["symmetry"])
                if img is not None else html(""))
        site_img = (_img(site_png, "site classes", maps.get("sites")) if site_png
                    else html(""))
        return body + symmetry.symmetry_html(results) + sites.sites_html(results, site_img)
    if pngs.get(figure) is None:
        return html('<p class="missing">not in these results</p>')
    caption = CAPTIONS.get(figure, "Maps added by a registered analysis stage.")
    warning = warning_html(results) if figure in FIT_FIGURES else html("")
    text = FIGURE_TEXT[figure](results) if figure in FIGURE_TEXT else html("")
    return warning + _figure(pngs[figure], title, maps.get(figure), caption) + text


def build_page(results: xr.Dataset, pngs: Mapping[str, bytes | None],
               maps: Mapping[str, list] | None = None) -> Html:
    """The whole page; ``maps``: the scan-map regions of each figure (for the pattern
    explorer)."""
    maps = maps or {}
    sections = _sections(results)
    parts = join(html('<section id="{}"><h2>{}</h2>{}</section>', anchor, title,
                      _section_body(results, anchor, title, figure, pngs, maps))
                 for anchor, title, figure in sections)
    nav = join(html('<a href="#{}">{}</a>', a, t) for a, t, _ in sections)
    source = str(results.attrs.get("input_file", ""))
    version = str(results.attrs.get("symbreak_version", ""))
    return html(
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<title>symbreak report: {source}</title>{style}</head><body>"
        "<header><h1>symbreak report</h1><p>{source} &middot; symbreak {version}</p></header>"
        "<nav>{nav}</nav><main>{parts}</main></body></html>",
        source=source, version=version, nav=nav, parts=parts,
        style=trusted("<style>") + STYLE + trusted("</style>"))
