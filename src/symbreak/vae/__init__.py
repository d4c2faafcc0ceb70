"""Rotationally invariant variational autoencoders (rrVAE / rVAE) for 4D-STEM patterns.

The names are imported on first use, so that the light :mod:`symbreak.vae.parameters`
(read by ``symbreak --help``) does not pull in PyTorch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.pt"  # the epoch checkpoint in a checkpoint folder
_EXPORTS = {"RotationalVAE": ("api", "RotationalVAE"),
            "FitDiagnostics": ("diagnostics", "FitDiagnostics"),
            "diagnostics_with_com": ("diagnostics", "with_com"),
            "diagnostics_dict": ("diagnostics_text", "flat"),
            "diagnostics_summary": ("diagnostics_text", "summary"),
            "world_size": ("parallel", "environment_world")}
__all__ = sorted(_EXPORTS) + ["has_checkpoint"]


def has_checkpoint(checkpoint_dir: str | Path) -> bool:
    """True when ``checkpoint_dir`` holds an epoch checkpoint that ``fit(resume=True)``
    continues from."""
    return (Path(checkpoint_dir) / CHECKPOINT).exists()


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'symbreak.vae' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    return getattr(importlib.import_module(f".{module}", __name__), attr)
