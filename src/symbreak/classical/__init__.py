"""Classical 4D-STEM analysis: centre of mass (COM/DPC) with scan-rotation calibration,
derived field maps, virtual detectors and PCA/NMF decomposition, all chunk by chunk.

Conventions (pixel (0, 0) top-left, y down; scan rotation and flip) are written once in
:mod:`symbreak.classical.rotation` and in docs/classical.md.

The names are imported on first use, so that the light :mod:`symbreak.classical.settings`
(read by ``symbreak --help``) does not pull in numpy, xarray and scikit-learn.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_EXPORTS = {
    "com": "com", "mean_pattern_center": "com",
    "decompose": "decompose", "pca_denoise": "decompose",
    "charge_density": "fields", "curl": "fields", "divergence": "fields",
    "electric_field": "fields", "icom": "fields", "interaction_constant": "fields",
    "load_results": "results", "save_results": "results",
    "RotationFit": "rotation", "detector_to_scan": "rotation", "find_rotation": "rotation",
    "rotation_matrix": "rotation",
    "default_detectors": "virtual", "virtual_image": "virtual", "virtual_images": "virtual",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symbreak.classical' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _Package(types.ModuleType):
    """Keeps the functions ``com`` and ``decompose`` the package's attributes of those
    names: importing the submodules of the same names would otherwise replace them."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
