"""Where is the crystal's symmetry broken? The lattice of a scan from its maps, a
lattice-periodic reference for any map, residuals in units of their robust spread, and
symmetry-breaking scores per descriptor family (see docs/analyze.md)."""

from .api import FAMILIES, Descriptor, SymmetryResult, symmetry_breaking
from .lattice import Lattice, find_lattice, gauss_reduce, lattice_from_setting

__all__ = ["FAMILIES", "Descriptor", "Lattice", "SymmetryResult", "find_lattice",
           "gauss_reduce", "lattice_from_setting", "symmetry_breaking"]
