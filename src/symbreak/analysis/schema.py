"""Every variable of ``results.zarr``: name, dims, units, long name and report section.

This module is the single source of the results' names. Stages build their outputs
with :func:`make`; the report and ``reproduce`` read variables by the names defined here.
A new map is one :class:`Variable` (here, or registered by the module that adds it with
:func:`register`) plus the stage that computes it; ``results.zarr`` and the report's
generic sections follow.

Units marked ``"data"`` depend on the input (counts for integer data, intensity else);
the stage that makes such a variable passes the unit to :func:`make`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import xarray as xr

from ..errors import SettingsError

SCAN = ("scan_y", "scan_x")
DETECTOR = ("ky", "kx")
RAW_DETECTOR = ("detector_ky", "detector_kx")
DATA_UNITS = "data"


@dataclasses.dataclass(frozen=True)
class Variable:
    """One results variable.

    Parameters
    ----------
    name
        Variable name in ``results.zarr``.
    dims
        Dimension names, e.g. ``("scan_y", "scan_x")``.
    units
        Unit string written to the ``units`` attribute (``"1"`` for dimensionless,
        ``"data"`` when the stage supplies it).
    long_name
        One-line description (the ``long_name`` attribute).
    section
        Title of the report section that shows it. Variables of built-in sections are
        drawn by dedicated figures; any other section is drawn as a grid of maps.
    """

    name: str
    dims: tuple[str, ...]
    units: str
    long_name: str
    section: str | None = None

    @property
    def is_map(self) -> bool:
        """True for a scalar map over the scan."""
        return self.dims == SCAN


VARIABLES: dict[str, Variable] = {}


def register(*variables: Variable, replace: bool = False) -> None:
    """Add variables to the schema; a name already taken is refused unless ``replace``."""
    for var in variables:
        if var.name in VARIABLES and not replace and VARIABLES[var.name] != var:
            raise SettingsError(f"results variable {var.name!r} is already in the schema")
        VARIABLES[var.name] = var


def unregister(*names: str) -> None:
    """Remove variables (used by tests that register toy stages)."""
    for name in names:
        VARIABLES.pop(name, None)


def _var(name: str, dims: tuple[str, ...], units: str, long_name: str,
         section: str | None = None) -> str:
    register(Variable(name, dims, units, long_name, section))
    return name


def get(name: str) -> Variable:
    """The schema entry of ``name``; a clear error for a name not in the schema."""
    try:
        return VARIABLES[name]
    except KeyError:
        raise SettingsError(f"{name!r} is not a results variable; register it in "
                            "symbreak.analysis.schema first") from None


def make(name: str, values: Any, *, units: str | None = None, **attrs: Any) -> xr.Variable:
    """An ``xarray.Variable`` for ``name`` with the schema's dims, units and long name.

    ``units`` is required for variables whose schema unit is ``"data"`` and overrides
    the schema otherwise; extra ``attrs`` are added as they are.
    """
    var = get(name)
    array = np.asarray(getattr(values, "values", values))
    if array.ndim != len(var.dims):
        raise ValueError(f"results variable {name!r} needs dims {var.dims}, got an array of "
                         f"shape {array.shape}")
    unit = units if units is not None else var.units
    if unit == DATA_UNITS:
        raise ValueError(f"results variable {name!r} takes its unit from the data: pass units=")
    return xr.Variable(var.dims, array, attrs={"units": unit, "long_name": var.long_name,
                                               **attrs})


def variables_in(section: str) -> list[Variable]:
    """Schema variables shown in one report section, in registration order."""
    return [v for v in VARIABLES.values() if v.section == section]


# ------------------------------------------------------------------ built-in variables
RAW_MEAN_PATTERN = _var("raw_mean_pattern", RAW_DETECTOR, DATA_UNITS,
                        "mean pattern, whole detector", "Mean pattern and detectors")
MEAN_PATTERN = _var("mean_pattern", DETECTOR, DATA_UNITS, "mean pattern on the analysis grid",
                    "Mean pattern and detectors")
BF = _var("bf", SCAN, DATA_UNITS, "virtual bright-field image", "Virtual images")
ADF = _var("adf", SCAN, DATA_UNITS, "virtual annular dark-field image", "Virtual images")
COM_X = _var("com_x", SCAN, DATA_UNITS, "centre of mass, x component", "COM")
COM_Y = _var("com_y", SCAN, DATA_UNITS, "centre of mass, y component", "COM")
COM_MAGNITUDE = _var("com_magnitude", SCAN, DATA_UNITS, "centre of mass, magnitude", "COM")
COM_ANGLE = _var("com_angle", SCAN, "rad", "centre of mass, direction arctan2(y, x)", "COM")
PCA_SCORES = _var("pca_scores", ("component",) + SCAN, "a.u.", "PCA scores", "PCA")
PCA_COMPONENTS = _var("pca_components", ("component",) + DETECTOR, "a.u.", "PCA components",
                      "PCA")
PCA_EXPLAINED = _var("pca_explained_variance_ratio", ("component",), "1",
                     "fraction of the variance explained by each PCA component", "PCA")
LATENT_ANGLE = _var("latent_angle", SCAN, "rad", "rrVAE angle latent, wrapped to (-pi, pi]",
                    "rrVAE")
LATENT_ANGLE_SD = _var("latent_angle_sd", SCAN, "rad", "posterior sd of the rrVAE angle latent",
                       "rrVAE")
LATENT_ANGLE_UNWRAPPED = _var("latent_angle_unwrapped", SCAN, "rad",
                              "rrVAE angle latent, not wrapped", "rrVAE")
LATENT_Z = _var("latent_z", ("latent",) + SCAN, "1", "rrVAE content latents", "rrVAE")
LATENT_Z_SD = _var("latent_z_sd", ("latent",) + SCAN, "1",
                   "posterior sd of the rrVAE content latents", "rrVAE")
RECONSTRUCTION_ERROR = _var("reconstruction_error", SCAN, "a.u.",
                            "reconstruction error per pattern", "rrVAE")
MANIFOLD = _var("manifold", ("manifold_y", "manifold_x") + DETECTOR, "a.u.",
                "decoded patterns over a grid of the content latents", "Decoded manifold")
HISTORY_PREFIX = "history_"
TRUTH_PREFIX = "truth_"
