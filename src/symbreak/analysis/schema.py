"""Every variable of ``results.zarr``: name, dims, units, long name and report section.

This module is the single source of the results' names. Stages build their outputs
with :func:`make`; the report and ``reproduce`` read variables by the names defined here.
A new map is one :class:`Variable` (here, or registered by the module that adds it with
:func:`register`) plus the stage that computes it; ``results.zarr`` and the report's
generic sections follow.

Units marked ``"data"`` depend on the input (:func:`data_units`: counts for integer
data, fractions of the incident beam for beam-normalised simulations, intensity else);
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
SYMMETRY_SECTION = "Where is the symmetry broken?"  # report section of the symmetry stages
BEAM_FRACTION = "fraction of incident beam"
BEAM_NORMALISED = "beam-normalised intensity"  # the simulation's word in its metadata


def data_units(dtype: Any, metadata: Any = None) -> str:
    """Unit of pattern intensities (and of detector sums such as BF/ADF) for data of
    ``dtype`` with the file's ``metadata``: ``"counts"`` for integers and for simulations
    with shot noise, :data:`BEAM_FRACTION` for beam-normalised simulations (a whole
    pattern sums to at most 1), ``"intensity"`` for other floating-point data."""
    if np.dtype(dtype).kind in "biu":
        return "counts"
    simulation = (metadata or {}).get("simulation", {}) if isinstance(metadata, dict) else {}
    unit = simulation.get("units") if isinstance(simulation, dict) else None
    if unit == BEAM_NORMALISED:
        return BEAM_FRACTION
    return "counts" if unit == "electron counts" else "intensity"


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
        Report section that shows it: the anchor of a built-in section ("com", "rrvae",
        ...), drawn by its own figure, or any other title, which the report draws as a
        section of its own with one map per variable.
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


def define(name: str, dims: tuple[str, ...], units: str, long_name: str,
           section: str | None = None) -> str:
    """Register a :class:`Variable` and return its name (for a module-level constant)."""
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


def sections_of(names: Any) -> list[str]:
    """Report sections of the schema variables among ``names``, in registration order."""
    present = {str(n) for n in names}
    return list(dict.fromkeys(v.section for v in VARIABLES.values()
                              if v.name in present and v.section is not None))


# ------------------------------------------------------------------ built-in variables
RAW_MEAN_PATTERN = define("raw_mean_pattern", RAW_DETECTOR, DATA_UNITS,
                          "mean pattern, whole detector", "mean-pattern")
MEAN_PATTERN = define("mean_pattern", DETECTOR, DATA_UNITS, "mean pattern on the analysis grid",
                      "mean-pattern")
BF = define("bf", SCAN, DATA_UNITS, "virtual bright-field image", "virtual-images")
ADF = define("adf", SCAN, DATA_UNITS, "virtual annular dark-field image", "virtual-images")
DF = define("df", SCAN, DATA_UNITS, "virtual dark-field image: every electron outside the "
            "bright-field disk, the detector's corners included", "virtual-images")
COM_X = define("com_x", SCAN, DATA_UNITS, "centre of mass, x component", "com")
COM_Y = define("com_y", SCAN, DATA_UNITS, "centre of mass, y component", "com")
COM_MAGNITUDE = define("com_magnitude", SCAN, DATA_UNITS, "centre of mass, magnitude", "com")
COM_ANGLE = define("com_angle", SCAN, "rad", "centre of mass, direction arctan2(y, x)", "com")
PCA_SCORES = define("pca_scores", ("component",) + SCAN, "a.u.", "PCA scores", "pca")
PCA_COMPONENTS = define("pca_components", ("component",) + DETECTOR, "a.u.", "PCA components",
                        "pca")
PCA_EXPLAINED = define("pca_explained_variance_ratio", ("component",), "1",
                       "fraction of the variance explained by each PCA component", "pca")
LATENT_ANGLE = define("latent_angle", SCAN, "rad", "rrVAE angle latent, wrapped to (-pi, pi]",
                      "rrvae")
LATENT_ANGLE_SD = define("latent_angle_sd", SCAN, "rad", "posterior sd of the rrVAE angle latent",
                         "rrvae")
LATENT_ANGLE_UNWRAPPED = define("latent_angle_unwrapped", SCAN, "rad",
                                "rrVAE angle latent, not wrapped", "rrvae")
LATENT_Z = define("latent_z", ("latent",) + SCAN, "1", "rrVAE content latents", "rrvae")
LATENT_Z_SD = define("latent_z_sd", ("latent",) + SCAN, "1",
                     "posterior sd of the rrVAE content latents", "rrvae")
RECONSTRUCTION_ERROR = define("reconstruction_error", SCAN, "a.u.",
                              "reconstruction error per pattern", "rrvae")
MANIFOLD = define("manifold", ("manifold_y", "manifold_x") + DETECTOR, "a.u.",
                  "decoded patterns over a grid of the content latents", "manifold")
HISTORY_PREFIX = "history_"
FIT_ATTR = "rrvae_fit"  # results attribute: the rrVAE's fit diagnostics and verdict (JSON)
TRUTH_PREFIX = "truth_"

# ground truth of simulated data (copied from the simulation, with its own attributes)
TRUTH_ATOM_NUMBER = define("truth_atom_number", ("atom",), "", "atomic number of each atom")
TRUTH_ATOM_SITE = define("truth_atom_site", ("atom",), "", "site class of each atom")
TRUTH_ATOM_X = define("truth_atom_x", ("atom",), "Å", "atom position x")
TRUTH_ATOM_Y = define("truth_atom_y", ("atom",), "Å", "atom position y")
TRUTH_ATOM_Z = define("truth_atom_z", ("atom",), "Å", "atom position z")
TRUTH_DEFECT_KIND = define("truth_defect_kind", ("defect",), "", "kind of each defect")
TRUTH_DEFECT_X = define("truth_defect_x", ("defect",), "Å", "defect position x")
TRUTH_DEFECT_Y = define("truth_defect_y", ("defect",), "Å", "defect position y")
TRUTH_DISTANCE_TO_DEFECT = define("truth_distance_to_defect", SCAN, "Å",
                                  "distance from the probe to the nearest defect")
TRUTH_DISTANCE_TO_NEAREST_ATOM = define("truth_distance_to_nearest_atom", SCAN, "Å",
                                        "distance from the probe to the nearest atom")
TRUTH_NEAREST_ATOM = define("truth_nearest_atom", SCAN, "", "index of the nearest atom")
TRUTH_PROBE_X = define("truth_probe_x", SCAN, "Å", "probe position x in the simulation frame")
TRUTH_PROBE_Y = define("truth_probe_y", SCAN, "Å", "probe position y in the simulation frame")
TRUTH_SITE_LABEL = define("truth_site_label", SCAN, "", "site class of the nearest atom")
