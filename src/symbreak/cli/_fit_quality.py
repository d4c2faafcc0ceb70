"""Printing the rrVAE's fit diagnostics and verdict at the end of a command."""

from __future__ import annotations

import os
import sys
from typing import Any

STRICT_EXIT = 3  # exit status of --strict when the fit is judged failed


def add_strict_option(parser: Any) -> None:
    """``--strict``: a failed rrVAE fit makes the command exit with STRICT_EXIT."""
    parser.add_argument("--strict", action="store_true",
                        help=f"exit with status {STRICT_EXIT} when the rrVAE fit is judged failed")


def report_fit(model: Any, strict: bool = False, diag: Any = None) -> int:
    """Print the fit-quality summary of a fitted RotationalVAE (or ``diag``); returns the
    exit status (STRICT_EXIT for a failed fit under ``strict``, else 0)."""
    from symbreak.vae import diagnostics_summary

    diag = diag if diag is not None else getattr(model, "diagnostics_", None)
    if diag is None:
        print("fit quality: unknown (this model was saved without diagnostics)")
        return 0
    print(diagnostics_summary(diag))
    if diag.verdict == "failed":
        print("WARNING: the rrVAE fit failed; its latent maps are not a result.",
              file=sys.stderr)
        return STRICT_EXIT if strict else 0
    return 0


def print_fit_quality(out: str | os.PathLike, strict: bool = False) -> int:
    """:func:`report_fit` for the model of an ``analyze`` folder, with the agreement of the
    angle latent map and the COM angle map of ``results.zarr`` added."""
    from pathlib import Path

    import xarray as xr

    from symbreak.vae import RotationalVAE, diagnostics_with_com

    model = RotationalVAE.load(Path(out) / "model", device="cpu")
    diag = getattr(model, "diagnostics_", None)
    results = Path(out) / "results.zarr"
    if diag is not None and results.exists():
        with xr.open_zarr(results) as r:
            if "latent_angle" in r and "com_angle" in r:
                diag = diagnostics_with_com(diag, r["latent_angle"].values,
                                            r["com_angle"].values)
    return report_fit(model, strict, diag)
