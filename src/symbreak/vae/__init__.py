"""Rotationally invariant variational autoencoders (rrVAE / rVAE) for 4D-STEM patterns.

:class:`RotationalVAE` is imported on first use, so that the light
:mod:`symbreak.vae.parameters` (read by ``symbreak --help``) does not pull in PyTorch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RotationalVAE"]


def __getattr__(name: str) -> Any:
    if name == "RotationalVAE":
        from .api import RotationalVAE

        return RotationalVAE
    raise AttributeError(f"module 'symbreak.vae' has no attribute {name!r}")
