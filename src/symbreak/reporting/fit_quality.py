"""The report's "rrVAE fit quality" panel: the verdict, its reasons, what to try, and the
numbers behind it, read from the ``rrvae_fit`` attribute of the results.

A failed fit is said first and loudly: its latent maps are shown under a warning, never
as a finding.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import xarray as xr

from ..analysis import schema as S

FIT_ATTR = S.FIT_ATTR
COLOURS = {"ok": "#1d7a3a", "doubtful": "#a86a00", "failed": "#b3261e"}
ROWS = (
    ("explained_fraction", "explained fraction of the validation variance", "{:.1%}"),
    ("pca_explained", "the same for a PCA with as many components (the data's structure)",
     "{:.1%}"),
    ("validation_loss", "validation loss per pattern", "{:.4g}"),
    ("baseline_loss", "mean-pattern (explain-nothing) loss per pattern", "{:.4g}"),
    ("angle_spread", "spread of the angle latent [rad]", "{:.3f}"),
    ("angle_vs_com", "angle latent vs COM angle (Fisher-Lee)", "{:+.3f}"),
    ("angle_vs_moment", "angle latent vs first-moment direction (Fisher-Lee)", "{:+.3f}"),
    ("content_drift_turn", "content drift under exact 90° turns [spread]", "{:.3f}"),
    ("angle_shift_turn", "angle-shift error under exact 90° turns [deg]", "{:.2f}"),
    ("content_drift_interpolated", "content drift under a 30° interpolated turn [spread]",
     "{:.3f}"),
    ("stop_reason", "why training stopped", "{}"),
    ("epochs", "epochs (best attempt)", "{}"),
    ("attempts", "attempts (restarts included)", "{}"),
)


def fit_record(results: xr.Dataset) -> dict[str, Any] | None:
    """The fit diagnostics saved with the results, or None when there are none."""
    try:
        record = json.loads(results.attrs.get(FIT_ATTR, ""))
    except (TypeError, ValueError):
        return None
    return record if isinstance(record, dict) and "verdict" in record else None


def verdict(results: xr.Dataset) -> str | None:
    """``ok``, ``doubtful``, ``failed`` or None (no diagnostics saved)."""
    record = fit_record(results)
    return None if record is None else str(record["verdict"])


def _cell(value: Any, fmt: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return str(value)


def fit_quality_html(results: xr.Dataset) -> str:
    """The panel: verdict banner, reasons, advice and a table of the numbers."""
    record = fit_record(results)
    if record is None:
        return '<p class="missing">no fit diagnostics in these results</p>'
    word = str(record["verdict"])
    colour = COLOURS.get(word, "#4a5366")
    meaning = {"ok": "the rrVAE maps below can be read as results",
               "doubtful": "read the rrVAE maps below with care",
               "failed": "the rrVAE explains nothing useful: its maps below are NOT a result"}
    out = [f'<p class="verdict" style="background:{colour}">fit {html.escape(word.upper())}: '
           f"{html.escape(meaning.get(word, ''))}</p>"]
    for key, label in (("reasons", "Why"), ("advice", "What to try"), ("notes", "Notes")):
        if record.get(key):
            out.append(f"<p><b>{label}:</b> {html.escape(str(record[key]))}</p>")
    rows = [(label, _cell(record[key], fmt)) for key, label, fmt in ROWS if key in record]
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>"
                   for a, b in rows)
    return "".join(out) + f"<table>{body}</table>"


def warning_html(results: xr.Dataset) -> str:
    """A warning placed above every rrVAE figure when the fit is not ``ok``."""
    word = verdict(results)
    if word in (None, "ok"):
        return ""
    return (f'<p class="verdict" style="background:{COLOURS[word]}">rrVAE fit '
            f"{word.upper()}: see <a href=\"#fit-quality\" style=\"color:#fff\">fit quality"
            "</a> before reading these maps</p>")
