"""Printing the rrVAE's fit diagnostics and verdict at the end of a command."""

from __future__ import annotations

import os
import sys
from typing import Any

STRICT_EXIT = 3  # exit status of --strict when the fit is judged failed


def report_fit(model: Any, strict: bool = False) -> int:
    """Print the fit-quality summary of a fitted RotationalVAE; returns the exit status
    (STRICT_EXIT for a failed fit under ``strict``, else 0)."""
    from symbreak.vae import diagnostics_summary

    diag = getattr(model, "diagnostics_", None)
    if diag is None:
        print("fit quality: unknown (this model was saved without diagnostics)")
        return 0
    print(diagnostics_summary(diag))
    if diag.verdict == "failed":
        print("WARNING: the rrVAE fit failed; its latent maps are not a result.",
              file=sys.stderr)
        return STRICT_EXIT if strict else 0
    return 0


def print_fit_quality(model_dir: str | os.PathLike, strict: bool = False) -> int:
    """:func:`report_fit` for a model folder written by ``save``."""
    from symbreak.vae import RotationalVAE

    return report_fit(RotationalVAE.load(model_dir, device="cpu"), strict)
