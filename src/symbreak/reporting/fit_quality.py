"""The report's "rrVAE fit quality" panel: the verdict, its reasons, what to try, and the
numbers behind it, read from the ``rrvae_fit`` attribute of the results.

A failed fit is said first and loudly: its latent maps are shown under a warning, never
as a finding.
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from ..analysis import schema as S
from .loading import json_attr, text_of
from .markup import Html, html, table

FIT_ATTR = S.FIT_ATTR
VERDICTS = ("ok", "doubtful", "failed")
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
    """The fit diagnostics saved with the results, or None when there are none (the
    record is checked when the results are loaded: :mod:`.loading`)."""
    record = json_attr(results, FIT_ATTR, None)
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


MEANING = {"ok": "the rrVAE maps below can be read as results",
           "doubtful": "read the rrVAE maps below with care",
           "failed": "the rrVAE explains nothing useful: its maps below are NOT a result"}


def fit_quality_html(results: xr.Dataset) -> Html:
    """The panel: verdict banner, reasons, advice and a table of the numbers."""
    record = fit_record(results)
    if record is None:
        return html('<p class="missing">no fit diagnostics in these results</p>')
    word = str(record["verdict"])
    out = html('<p class="verdict verdict-{}">fit {}: {}</p>', word, word.upper(),
               MEANING.get(word, ""))
    for key, label in (("reasons", "Why"), ("advice", "What to try"), ("notes", "Notes")):
        if record.get(key):
            out += html("<p><b>{}:</b> {}</p>", label, text_of(record[key]))
    rows = [(label, _cell(record[key], fmt)) for key, label, fmt in ROWS if key in record]
    return out + table(rows)


def warning_html(results: xr.Dataset) -> Html:
    """A warning placed above every rrVAE figure when the fit is not ``ok``."""
    word = verdict(results)
    if word in (None, "ok"):
        return html("")
    return html('<p class="verdict verdict-{}">rrVAE fit {}: see <a href="#fit-quality">'
                "fit quality</a> before reading these maps</p>", word, word.upper())
