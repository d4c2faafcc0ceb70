"""Rotationally invariant variational autoencoders (rrVAE / rVAE) for 4D-STEM patterns."""

from .api import RotationalVAE

__all__ = ["RotationalVAE"]
