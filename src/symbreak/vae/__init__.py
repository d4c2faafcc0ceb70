"""Rotationally invariant variational autoencoders (rrVAE / rVAE) for 4D-STEM patterns."""

from .api import RotationalVAE
from .diagnostics import FitDiagnostics, flat as diagnostics_dict, summary as diagnostics_summary
from .diagnostics import with_com as diagnostics_with_com

__all__ = ["RotationalVAE", "FitDiagnostics", "diagnostics_dict", "diagnostics_summary",
           "diagnostics_with_com"]
