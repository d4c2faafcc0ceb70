"""Classical 4D-STEM analysis: centre of mass (COM/DPC) with scan-rotation calibration,
derived field maps, virtual detectors and PCA/NMF decomposition, all chunk by chunk.

Conventions (pixel (0, 0) top-left, y down; scan rotation and flip) are written once in
:mod:`symbreak.classical.rotation` and in docs/classical.md. """

from __future__ import annotations

from .com import com, mean_pattern_center
from .decompose import decompose, pca_denoise
from .fields import charge_density, curl, divergence, electric_field, icom, interaction_constant
from .results import load_results, save_results
from .rotation import RotationFit, detector_to_scan, find_rotation, rotation_matrix
from .virtual import default_detectors, virtual_image, virtual_images

__all__ = [
    "com", "mean_pattern_center", "find_rotation", "RotationFit", "detector_to_scan",
    "rotation_matrix", "electric_field", "divergence", "curl", "icom", "charge_density",
    "interaction_constant", "virtual_image", "virtual_images", "default_detectors",
    "decompose", "pca_denoise", "save_results", "load_results",
]
