"""symbreak: atomic-scale symmetry breaking in 4D-STEM data.

Rotationally invariant variational autoencoders (rrVAE) next to centre-of-mass (COM/DPC),
virtual detectors and PCA/NMF, with abTEM simulations of the reference data sets.

The public API is imported on first use, so ``import symbreak`` stays fast and does not
pull in PyTorch or abTEM until they are needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Calibration": "symbreak.calibration",
    "electron_wavelength": "symbreak.calibration",
    "Dataset4D": "symbreak.dataset",
    "as_dataset": "symbreak.convert",
    "to_hyperspy": "symbreak.convert",
    "to_py4dstem": "symbreak.convert",
    "from_hyperspy": "symbreak.convert",
    "from_py4dstem": "symbreak.convert",
    "load": "symbreak.io",
    "save": "symbreak.io",
    "simulate": "symbreak.simulation",
    "com": "symbreak.classical",
    "virtual_image": "symbreak.classical",
    "virtual_images": "symbreak.classical",
    "check_input": "symbreak.sanitize",
    "decompose": "symbreak.classical",
    "RotationalVAE": "symbreak.vae",
    "analyze": "symbreak.analysis",
    "report": "symbreak.reporting",
    "SymbreakError": "symbreak.errors",
    "use_cluster": "symbreak.engine",
}

_SUBMODULES = ("plot",)  # symbreak.plot: the report's figures as functions

__all__ = sorted(_EXPORTS) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f"symbreak.{name}")
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symbreak' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
