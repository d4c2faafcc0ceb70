"""Classical 4D-STEM analysis: centre of mass (COM/DPC) with scan-rotation calibration,
derived field maps, virtual detectors and PCA/NMF decomposition, all chunk by chunk.

Conventions (pixel (0, 0) top-left, y down; scan rotation and flip) are written once in
:mod:`symbreak.classical.rotation` and in docs/classical.md. ``decompose`` and
``pca_denoise`` are imported on first use, so ``symbreak.com`` does not load scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from .com import com, mean_pattern_center
from .fields import charge_density, curl, divergence, electric_field, icom, interaction_constant
from .results import load_results, save_results
from .rotation import RotationFit, detector_to_scan, find_rotation, rotation_matrix
from .virtual import default_detectors, virtual_image, virtual_images

_LAZY = {"decompose": "decompose", "pca_denoise": "decompose"}

__all__ = [
    "com", "mean_pattern_center", "find_rotation", "RotationFit", "detector_to_scan",
    "rotation_matrix", "electric_field", "divergence", "curl", "icom", "charge_density",
    "interaction_constant", "virtual_image", "virtual_images", "default_detectors",
    "decompose", "pca_denoise", "save_results", "load_results",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symbreak.classical' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
