"""Fit diagnostics as a flat dict of numbers (for ``results.zarr`` attributes and the
report's fit-quality panel) and as a short plain-text summary (for the command line)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .diagnostics import FitDiagnostics


def flat(diag: FitDiagnostics | dict) -> dict[str, Any]:
    """A small flat dict of numbers plus ``verdict`` and ``reasons`` (one string) for
    ``results.zarr`` attributes and the report's fit-quality panel."""
    d = diag.to_dict() if isinstance(diag, FitDiagnostics) else dict(diag)
    out: dict[str, Any] = {}
    for key in ("verdict", "explained_fraction", "pca_explained", "baseline_loss",
                "validation_loss",
                "angle_spread", "angle_vs_moment", "angle_vs_com", "content_drift_turn",
                "content_drift_turn_raw", "angle_shift_turn", "content_drift_interpolated",
                "angle_shift_interpolated", "stop_reason", "epochs"):
        value = d.get(key)
        out[key] = float("nan") if value is None else value
    for name in ("kl_per_latent", "latent_activity", "latent_spread", "latent_explained"):
        for i, v in enumerate(d.get(name, [])):
            out[f"{name.replace('_per_latent', '')}_z{i + 1}"] = float(v)
    out["attempts"] = len(d.get("attempts", [])) or 1
    out["reasons"] = "; ".join(d.get("reasons", []))
    out["advice"] = "; ".join(d.get("advice", []))
    out["notes"] = "; ".join(d.get("notes", []))
    return out


def summary(diag: FitDiagnostics | dict) -> str:
    """A short plain-text summary (a few lines) for the command line and the report."""
    f = flat(diag)
    d = diag.to_dict() if isinstance(diag, FitDiagnostics) else diag
    activity = ", ".join(f"z{i + 1} {e:.2%} (spread/sd {a:.2f})" for i, (e, a) in
                         enumerate(zip(d.get("latent_explained", []),
                                       d.get("latent_activity", []))))
    com = "" if not np.isfinite(f["angle_vs_com"]) else f", vs COM {f['angle_vs_com']:+.3f}"
    lines = [
        f"fit quality: {f['verdict'].upper()} (stopped: {f['stop_reason']} after "
        f"{f['epochs']} epochs, {f['attempts']} attempt(s))",
        f"  explained variance {f['explained_fraction']:.1%} (PCA with as many components: "
        f"{f['pca_explained']:.1%}; validation loss {f['validation_loss']:.4g} vs "
        f"mean-pattern {f['baseline_loss']:.4g})",
        f"  angle latent: spread {f['angle_spread']:.2f} rad, vs first-moment direction "
        f"{f['angle_vs_moment']:+.3f}{com}",
        f"  variance explained by each content latent: {activity}",
        f"  exact 90-degree turns: content drift {f['content_drift_turn']:.3f} of spread "
        f"(plain encoder {f['content_drift_turn_raw']:.3f}), angle error "
        f"{f['angle_shift_turn']:.2f} deg",
    ]
    if f["reasons"]:
        lines.append("  why: " + f["reasons"])
    if f["advice"]:
        lines.append("  try: " + f["advice"])
    if f["notes"]:
        lines.append("  note: " + f["notes"])
    return "\n".join(lines)
