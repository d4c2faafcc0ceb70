"""One self-contained HTML page: every figure embedded as a base64 PNG, no external
files, scripts or fonts, so it opens offline and can be mailed as one file."""

from __future__ import annotations

import base64
import html
import json
from typing import Any, Iterable, Mapping

import xarray as xr

from ..analysis import schema as S
from ..calibration import Calibration
from . import explorer, positions, sites, symmetry
from .fit_quality import fit_quality_html, warning_html

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

STYLE = """
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
.verdict{color:#fff;padding:8px 12px;border-radius:6px;font-weight:600}
""" + explorer.STYLE


def _table(rows: Iterable[Iterable[Any]], header: Iterable[str] | None = None) -> str:
    head = ""
    if header:
        head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _img(png: bytes, alt: str, maps: list | None = None) -> str:
    """An embedded PNG; with ``maps`` (:func:`.explorer.scan_regions`) wrapped for the
    pattern explorer (an overlay canvas for the cross-hairs)."""
    data = base64.b64encode(png).decode("ascii")
    img = f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"'
    if not maps:
        return img + ">"
    return (f'<div class="sb-map">{img} data-maps="{html.escape(json.dumps(maps))}">'
            '<canvas class="sb-overlay"></canvas></div>')


def _json_attr(results: xr.Dataset, name: str, default: Any) -> Any:
    try:
        return json.loads(results.attrs.get(name, ""))
    except (TypeError, ValueError):
        return default


def summary_html(results: xr.Dataset) -> str:
    """Input, shape, checksum, calibration and ground truth as tables."""
    a = results.attrs
    rows = [
        ("input", a.get("input_file", "unknown")),
        ("checksum", a.get("input_checksum", "unknown")),
        ("shape (scan_y, scan_x, ky, kx)", tuple(a.get("input_shape", ()))),
        ("dtype", a.get("input_dtype", "")),
        ("scan", f"{results.sizes['scan_y']} x {results.sizes['scan_x']} positions"),
        ("analysis grid", f"{results.sizes.get('ky', '?')} x {results.sizes.get('kx', '?')} px"),
        ("created", a.get("created", "")),
    ]
    truth = [n for n in results.data_vars if n.startswith(S.TRUTH_PREFIX)]
    if truth:
        rows.append(("ground truth", ", ".join(n.removeprefix(S.TRUTH_PREFIX) for n in truth)))
    cal = Calibration.from_dict(_json_attr(results, "calibration", {}))
    timings = _json_attr(results, "timings", {})
    out = _table(rows) + "<h3>Calibration</h3>" + _table(cal.describe(), ("field", "value", "source"))
    if timings:
        out += "<h3>Run time per stage</h3>" + _table(
            [(k, f"{v:.1f} s") for k, v in timings.items()], ("stage", "time"))
    return out


def settings_html(results: xr.Dataset) -> str:
    settings = _json_attr(results, "settings", {})
    rows = [(sec, key, json.dumps(val)) for sec, values in settings.items()
            for key, val in values.items()]
    versions = _json_attr(results, "versions", {})
    provenance = _json_attr(results, "provenance", [])
    return (
        _table(rows, ("section", "option", "value"))
        + "<h3>Preprocessing steps</h3><pre>"
        + html.escape("\n".join(json.dumps(p) for p in provenance)) + "</pre>"
        + "<h3>Package versions</h3>" + _table(versions.items(), ("package", "version"))
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


def build_page(results: xr.Dataset, pngs: Mapping[str, bytes | None],
               maps: Mapping[str, list] | None = None) -> str:
    """The whole page as a string; ``maps``: the scan-map regions of each figure (for the
    pattern explorer)."""
    maps = maps or {}
    parts = []
    sections = _sections(results)
    for anchor, title, figure in sections:
        if figure is None:
            body = TEXT_SECTIONS[anchor](results)
        elif figure == "symmetry":
            img = pngs.get(figure)
            body = ((f"<figure>{_img(img, title, maps.get(figure))}"
                     f"<figcaption>{html.escape(CAPTIONS['symmetry'])}"
                     "</figcaption></figure>") if img is not None else "") + symmetry.symmetry_html(results)
            site_png = pngs.get("sites")
            body += sites.sites_html(results, _img(site_png, "site classes", maps.get("sites"))
                                     if site_png else "")
        elif pngs.get(figure) is None:
            body = '<p class="missing">not in these results</p>'
        else:
            caption = CAPTIONS.get(figure, "Maps added by a registered analysis stage.")
            warning = warning_html(results) if figure in FIT_FIGURES else ""
            body = (f"{warning}<figure>{_img(pngs[figure], title, maps.get(figure))}"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                    + FIGURE_TEXT.get(figure, lambda r: "")(results))
        parts.append(f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>')
    nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in sections)
    source = html.escape(str(results.attrs.get("input_file", "")))
    version = html.escape(str(results.attrs.get("symbreak_version", "")))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>symbreak report: {source}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>symbreak report</h1><p>{source} &middot; symbreak {version}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(parts)}</main></body></html>"
    )
