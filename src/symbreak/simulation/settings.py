"""Simulation settings: defaults, units, presets, and validation before any computation.

:func:`simulation_settings` turns ``simulate(system_or_preset, **options)`` into one
immutable :class:`SimulationSettings`, raising a :class:`~symbreak.errors.SettingsError`
that names the option, its value and the fix for anything it cannot simulate. Every field
carries its help text, unit and bounds (:func:`symbreak.options.setting`), from which
``symbreak simulate`` builds its options. Light: no abTEM import.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from ..options import check_fields, setting
from ..quantities import parse_energy
from .presets import PRESETS

SYSTEMS = ("graphene", "hbn", "zns")
MONOLAYERS = ("graphene", "hbn")  # one atomic layer, simulated along [001] in one slice
ZONE_AXES = ("001", "110")
DEFECT_KINDS = ("vacancy", "divacancy", "substitution")
PARAMETRIZATIONS = ("lobato", "kirkland")
CELL_SCAN_STEP = 0.2  # [Å] default step of a one-cell scan given without scan_shape
MIN_DETECTOR_PIXELS = 8
MAX_DETECTOR_PIXELS = 4096  # detector pixels per side
MAX_POSITION = 1e5  # [Å] of any position given (scan region, defect site): 10 µm
# Ranges of the physical settings: the widest any (S)TEM reaches, and within them every
# size derived later (grids, slices, probes, counts) stays finite; simulation.bounds
# bounds those sizes themselves.
MAX_ENERGY = 3e6  # [eV]
MAX_ANGLE = 500.0  # [mrad] of the probe and of the detector (abTEM is paraxial)
MAX_DEFOCUS = 1e5  # [Å] (10 µm)
MAX_CS = 1e3  # [mm]
MIN_LENGTH = 1e-3  # [Å] of a scan step, a sampling or a slice
MAX_CELLS = 100_000  # unit cells of a tiling or a thickness
MAX_SCAN_SIDE = 65536  # probe positions per side
MAX_SOURCE_SIZE = 100.0  # [Å]
MAX_PHONONS = 1000  # frozen-phonon configurations
MAX_PHONON_SIGMA = 1.0  # [Å] thermal rms displacement
MAX_DOSE = 1e12  # [e/Å^2]


def _as_given(name: str, value: Any) -> Any:
    """An atom index, or a finite (y, x) position [Å]; checked against the supercell when
    the geometry is planned."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return _finite_position(name, value, 2, "an atom index or a (y, x) position in Å")


def _finite_position(name: str, value: Any, length: int, what: str) -> tuple[float, ...]:
    """``length`` finite numbers, each within +/- MAX_POSITION [Å]."""
    try:
        items = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        items = ()
    if len(items) != length or not all(math.isfinite(v) and abs(v) <= MAX_POSITION
                                       for v in items):
        raise SettingsError(f"{name} must be {what}, each number finite and within "
                            f"+/-{MAX_POSITION:g} Å, got {value!r}")
    return items


def _defects(name: str, value: Any) -> Any:
    """``((kind, site), ...)``: kind vacancy, divacancy or an element; site as ``defect_site``."""
    fix = ("give ((kind, site), ...), e.g. (('vacancy', None), ('Si', (17.2, 20.8))): kind "
           "vacancy, divacancy or an element, site an atom index, a (y, x) position [Å] or None")
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise SettingsError(f"{name} must be a non-empty sequence of (kind, site); {fix}; "
                            f"got {value!r}")
    pairs = []
    for item in value:
        if isinstance(item, (str, bytes)) or not isinstance(item, (list, tuple)) \
                or len(item) != 2 or not isinstance(item[0], str):
            raise SettingsError(f"{name}: {item!r} is not a (kind, site) pair; {fix}")
        kind, site = item
        if site is not None:
            site = _as_given(name, site)
        pairs.append((kind, site))
    return tuple(pairs)


def _scan_region(name: str, region: Any) -> Any:
    if region is None or region == "cell":
        return region
    y0, x0, y1, x1 = _finite_position(
        name, region, 4, "None (a window centred on the defect), 'cell', or (y0, x0, y1, x1) "
        "in Å")
    if not (y1 > y0 and x1 > x0):
        raise SettingsError(f"{name} (y0, x0, y1, x1) needs y1 > y0 and x1 > x0, got {region!r}")
    return (y0, x0, y1, x1)


@dataclasses.dataclass(frozen=True)
class SimulationSettings:
    """Every option of a simulation, with units. See docs/simulation.md."""

    system: str = setting("graphene", cli=False,
                          help="graphene, hbn, zns, or a structure file ASE can read")
    zone_axis: str = setting("001", choices=ZONE_AXES, help="zone axis (ZnS)")
    thickness: int = setting(1, minimum=1, maximum=MAX_CELLS,
                             help="unit cells along the beam (ZnS, files)")
    defect: str | None = setting(None, kind=str, help="vacancy, divacancy, or an element to "
                                 "substitute (Si, N, B, C)")
    defect_site: Any = setting(None, kind=float, length=2, check=_as_given, unit="Å",
                               metavar="Y,X", help="defect position (the nearest atom is "
                               "used), or an atom index in the API")
    defects: Any = setting(None, kind=str, cli=False, check=_defects,
                           help="several defects, ((kind, site), ...): kind and site as "
                           "defect and defect_site (instead of defect)")
    tiling: tuple[int, int] | None = setting(None, kind=int, length=2, scalar_pair=True,
                                             minimum=1, maximum=MAX_CELLS, metavar="NY,NX",
                                             help="unit cells in the supercell (default: "
                                             "automatic)")
    energy: float = setting(60e3, above=0.0, maximum=MAX_ENERGY, unit="eV",
                            parse=parse_energy, metavar="E",
                            help="beam energy: 60kV, 300keV or a plain number of eV")
    semiangle: float = setting(32.0, above=0.0, maximum=MAX_ANGLE, unit="mrad",
                               help="probe convergence semi-angle")
    defocus: float = setting(0.0, minimum=-MAX_DEFOCUS, maximum=MAX_DEFOCUS, unit="Å",
                             help="defocus (abTEM convention: positive = underfocus, "
                             "C10 = -defocus)")
    cs: float = setting(0.0, minimum=-MAX_CS, maximum=MAX_CS, unit="mm",
                        help="spherical aberration Cs")
    max_angle: float | None = setting(48.0, above=0.0, maximum=MAX_ANGLE, optional=True,
                                      unit="mrad",
                                      help="detector half-width (None in the API: native "
                                      "pixels)")
    detector_pixels: int = setting(64, minimum=1, maximum=MAX_DETECTOR_PIXELS,
                                   help="detector pixels per side (at least "
                                   f"{MIN_DETECTOR_PIXELS})")
    scan_region: Any = setting(None, kind=float, length=4, check=_scan_region, unit="Å",
                               metavar="Y0,X0,Y1,X1", help="scan region (default: a window "
                               "centred on the defect)")
    scan_shape: tuple[int, int] = setting((40, 40), scalar_pair=True, minimum=1,
                                          maximum=MAX_SCAN_SIDE,
                                          metavar="NY,NX", help="probe positions")
    scan_step: tuple[float, float] | None = setting((0.25, 0.25), scalar_pair=True,
                                                    above=0.0, minimum=MIN_LENGTH,
                                                    optional=True, unit="Å",
                                                    help="probe step: one number or Y,X")
    periodic: bool = setting(True, help="periodic boundaries of the potential")
    source_size: float = setting(0.0, minimum=0.0, maximum=MAX_SOURCE_SIZE, unit="Å",
                                 help="Gaussian source size sigma")
    phonons: int = setting(0, minimum=0, maximum=MAX_PHONONS,
                           help="frozen-phonon configurations (0: none)")
    phonon_sigma: float = setting(0.08, minimum=0.0, maximum=MAX_PHONON_SIGMA, unit="Å",
                                  help="thermal rms displacement")
    dose: float | None = setting(None, kind=float, above=0.0, maximum=MAX_DOSE,
                                 unit="e/Å^2",
                                 help="dose for Poisson noise (default: no noise)")
    sampling: float | None = setting(None, kind=float, above=0.0, minimum=MIN_LENGTH, unit="Å",
                                     help="potential sampling (default: automatic)")
    slice_thickness: float | None = setting(None, kind=float, above=0.0, minimum=MIN_LENGTH,
                                            unit="Å",
                                            help="slice thickness (default: 2 Å graphene and "
                                            "hbn, 1 Å otherwise)")
    parametrization: str = setting("lobato", choices=PARAMETRIZATIONS,
                                   help="potential parametrization")
    seed: int = setting(0, minimum=0, maximum=2**32 - 1, help="seed of noise and frozen phonons")
    preset: str | None = setting(None, kind=str, cli=False, help="the preset used, if any")

    def __post_init__(self) -> None:
        if isinstance(self.zone_axis, int) and not isinstance(self.zone_axis, bool):
            object.__setattr__(self, "zone_axis", f"{self.zone_axis:03d}")
        check_fields(self)

    @property
    def defect_kind(self) -> str | None:
        return None if self.defect is None else defect_kind(self.defect)

    @property
    def defect_list(self) -> tuple[tuple[str, Any], ...]:
        """Every defect as (kind or element, site): ``defects``, else ``defect``."""
        if self.defects:
            return self.defects
        return () if self.defect is None else ((self.defect, self.defect_site),)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}


def defect_kind(name: str) -> str:
    """``vacancy``, ``divacancy`` or ``substitution`` (an element's name)."""
    return name if name in DEFECT_KINDS[:2] else "substitution"


FIELDS = tuple(f.name for f in dataclasses.fields(SimulationSettings) if f.name != "preset")


def simulation_settings(system_or_preset: str | Path, options: dict[str, Any]
                        ) -> SimulationSettings:
    """Merge preset and options into validated :class:`SimulationSettings`."""
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        raise SettingsError(
            f"unknown simulation option(s) {unknown}; known options: {', '.join(FIELDS)}"
        )
    name = str(system_or_preset)
    values: dict[str, Any] = {}
    if name in PRESETS:
        values.update(PRESETS[name])
        values["preset"] = name
    elif name.lower() in SYSTEMS:
        values["system"] = name.lower()
    elif Path(name).suffix or Path(name).exists() or "/" in name:
        values["system"] = name
    else:
        raise SettingsError(
            f"unknown system or preset {name!r}; choose a preset ({', '.join(PRESETS)}), a "
            f"system ({', '.join(SYSTEMS)}) or a structure file ASE can read"
        )
    values.update(options)
    if values.get("scan_region") == "cell" and "scan_step" not in options:
        # a cell scan is given by positions per cell; without them, 0.2 Å steps
        values["scan_step"] = None if "scan_shape" in values else CELL_SCAN_STEP
    return _check_combination(SimulationSettings(**values))


def _check_combination(s: SimulationSettings) -> SimulationSettings:
    """What single fields cannot say: the system exists, fits the zone axis and thickness,
    the beam is a TEM beam, a one-cell scan may go without a step."""

    system = s.system
    if system not in SYSTEMS and not Path(system).is_file():
        raise SettingsError(
            f"unknown system {system!r}: not one of {', '.join(SYSTEMS)} and no such structure "
            "file; give graphene, hbn, zns or the path of a file ASE can read"
        )
    if system in MONOLAYERS and s.zone_axis != "001":
        raise SettingsError(f"{system} is simulated along [001] only; remove zone_axis "
                            f"(got {s.zone_axis!r})")
    if system in MONOLAYERS and s.thickness != 1:
        raise SettingsError(
            f"{system} is a single layer, thickness must be 1, got {s.thickness!r}; use a "
            "structure file for multilayers"
        )
    if s.defects and (s.defect is not None or s.defect_site is not None):
        raise SettingsError("give either defect (and defect_site) or defects, not both; "
                            "defects=((kind, site), ...) holds every defect")
    for kind, _ in s.defect_list:
        if kind not in DEFECT_KINDS[:2]:
            validate_element(str(kind))
    if s.energy < 1e3:
        raise SettingsError(
            f"energy is in eV and must be at least 1000 eV, got {s.energy!r}; for 60 kV "
            "write energy=60e3"
        )
    if s.detector_pixels < MIN_DETECTOR_PIXELS:
        raise SettingsError(f"detector_pixels must be at least {MIN_DETECTOR_PIXELS}, got "
                            f"{s.detector_pixels!r}")
    if s.scan_step is None and s.scan_region != "cell":
        raise SettingsError("scan_step [Å] is needed unless scan_region='cell'")
    return s


def validate_element(element: str) -> str:
    """The chemical symbol ``element`` if ASE knows it, else a SettingsError."""
    import ase.data

    if element not in ase.data.atomic_numbers or element == "X":
        raise SettingsError(
            f"unknown element {element!r} for a substitution; give a chemical symbol such "
            "as Si, N or B"
        )
    return element
