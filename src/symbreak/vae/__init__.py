"""Rotationally invariant variational autoencoders (rrVAE / rVAE) for 4D-STEM patterns."""

from .api import RotationalVAE
from .diagnostics import FitDiagnostics
from .diagnostics import with_com as diagnostics_with_com
from .diagnostics_text import flat as diagnostics_dict, summary as diagnostics_summary

__all__ = ["RotationalVAE", "FitDiagnostics", "diagnostics_dict", "diagnostics_summary",
           "diagnostics_with_com"]
