"""The fit-quality panel: the verdict comes first, and a failed fit is never shown as a
finding."""

import json

import numpy as np
import xarray as xr

from symbreak.reporting.fit_quality import FIT_ATTR, fit_quality_html, verdict, warning_html
from symbreak.reporting.html import build_page

RECORD = {"verdict": "failed", "explained_fraction": 0.003, "validation_loss": 18.35,
          "baseline_loss": 18.4, "angle_spread": 0.01, "angle_vs_com": float("nan"),
          "stop_reason": "early_stopping", "epochs": 40, "attempts": 3,
          "reasons": "explains 0.3 % of the variance", "advice": "more epochs"}


def _results(record):
    ds = xr.Dataset({"bf": (("scan_y", "scan_x"), np.ones((2, 2)))},
                    coords={"scan_y": [0.0, 1.0], "scan_x": [0.0, 1.0]})
    if record is not None:
        ds.attrs[FIT_ATTR] = json.dumps(record)
    return ds


def test_failed_fit_is_said_first_with_numbers():
    page = str(fit_quality_html(_results(RECORD)))
    assert "fit FAILED" in page and "NOT a result" in page
    assert "0.3%" in page and "18.35" in page and "n/a" in page  # NaN agreement: n/a
    assert "explains 0.3 % of the variance" in page and "more epochs" in page
    assert "fit FAILED" in str(warning_html(_results(RECORD)))


def test_ok_fit_has_no_warning_and_missing_record_is_said():
    ok = _results(dict(RECORD, verdict="ok"))
    assert verdict(ok) == "ok" and str(warning_html(ok)) == ""
    assert "no fit diagnostics" in str(fit_quality_html(_results(None)))
    assert verdict(_results(None)) is None


def test_page_puts_fit_quality_first_and_warns_on_the_latent_maps():
    page = str(build_page(_results(RECORD), {"rrvae": b"\x89PNG", "manifold": b"\x89PNG"}))
    sections = [part.split('"')[0] for part in page.split('<section id="')[1:]]
    assert sections[0] == "fit-quality"
    rrvae = page.split('<section id="rrvae">')[1].split("</section>")[0]
    assert "rrVAE fit FAILED" in rrvae
