"""Simulation options: defaults, presets, and validation before any computation.

:func:`resolve` turns ``simulate(system_or_preset, **options)`` into one immutable
:class:`Settings`, raising a :class:`~symbreak.errors.SettingsError` that names the
option, its value and the fix for anything it cannot simulate.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from .presets import PRESETS
from .structures import DEFECT_KINDS, SYSTEMS, ZONE_AXES, validate_element

PARAMETRIZATIONS = ("lobato", "kirkland")
CELL_SCAN_STEP = 0.2  # [Å] default step of a one-cell scan given without scan_shape


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every option of a simulation, with units. See docs/simulation.md."""

    system: str = "graphene"
    zone_axis: str = "001"
    thickness: int = 1
    defect: str | None = None
    defect_site: Any = None
    tiling: tuple[int, int] | None = None
    energy: float = 60e3  # [eV]
    semiangle: float = 32.0  # [mrad]
    defocus: float = 0.0  # [Å], abTEM convention: positive = underfocus (C10 = -defocus)
    cs: float = 0.0  # [mm]
    max_angle: float | None = 48.0  # detector half-width [mrad]; None = native pixels
    detector_pixels: int = 64
    scan_region: Any = None  # None (centred window), "cell", or (y0, x0, y1, x1) [Å]
    scan_shape: tuple[int, int] = (40, 40)
    scan_step: tuple[float, float] | None = (0.25, 0.25)  # [Å]
    periodic: bool = True
    source_size: float = 0.0  # Gaussian sigma [Å]
    phonons: int = 0
    phonon_sigma: float = 0.08  # [Å]
    dose: float | None = None  # [e/Å^2]
    sampling: float | None = None  # potential sampling [Å]; None = automatic
    slice_thickness: float | None = None  # [Å]; None = 2 Å graphene, 1 Å otherwise
    parametrization: str = "lobato"
    seed: int = 0
    preset: str | None = None

    @property
    def defect_kind(self) -> str | None:
        if self.defect in (None, "vacancy", "divacancy"):
            return self.defect
        return "substitution"

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}


FIELDS = tuple(f.name for f in dataclasses.fields(Settings) if f.name != "preset")


def resolve(system_or_preset: str | Path, options: dict[str, Any]) -> Settings:
    """Merge preset and options into validated :class:`Settings`."""
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
    return _validate(Settings(**values))


def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = "zero or positive" if allow_zero else "positive"
        raise SettingsError(f"{name} must be {bound} and finite, got {value!r}")
    return v


def _int_pair(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(int(v) for v in value)
        ok = len(pair) == 2 and all(p >= 1 and p == v for p, v in zip(pair, value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SettingsError(f"{name} must be a positive integer or a (y, x) pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def _float_pair(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(math.isfinite(p) and p > 0 for p in pair):
        raise SettingsError(f"{name} must be a positive number or a (y, x) pair [Å], got {value!r}")
    return pair  # type: ignore[return-value]


def _validate(s: Settings) -> Settings:
    ch: dict[str, Any] = {}
    system = s.system
    if system not in SYSTEMS and not Path(system).is_file():
        raise SettingsError(
            f"unknown system {system!r}: not one of {', '.join(SYSTEMS)} and no such structure "
            "file; give graphene, zns or the path of a file ASE can read"
        )
    if str(s.zone_axis) not in ZONE_AXES:
        raise SettingsError(f"zone_axis must be one of {ZONE_AXES}, got {s.zone_axis!r}")
    ch["zone_axis"] = str(s.zone_axis)
    if system == "graphene" and ch["zone_axis"] != "001":
        raise SettingsError("graphene is simulated along [001] only; remove zone_axis")
    thickness = _int_pair("thickness", (s.thickness, s.thickness))[0]
    if system == "graphene" and thickness != 1:
        raise SettingsError(
            f"graphene is a single layer, thickness must be 1, got {s.thickness!r}; use a "
            "structure file for multilayers"
        )
    ch["thickness"] = thickness
    if s.defect is not None and s.defect not in DEFECT_KINDS[:2]:
        validate_element(str(s.defect))
    energy = _positive("energy [eV]", s.energy)
    if energy < 1e3:
        raise SettingsError(
            f"energy is in eV and must be at least 1000 eV, got {s.energy!r}; for 60 kV "
            "write energy=60e3 (--energy 60e3)"
        )
    ch["energy"] = energy
    ch["semiangle"] = _positive("semiangle [mrad]", s.semiangle)
    ch["defocus"] = float(s.defocus)
    ch["cs"] = float(s.cs)
    if s.max_angle is not None:
        ch["max_angle"] = _positive("max_angle [mrad]", s.max_angle)
    ch["detector_pixels"] = _int_pair("detector_pixels", (s.detector_pixels, s.detector_pixels))[0]
    if ch["detector_pixels"] < 8:
        raise SettingsError(f"detector_pixels must be at least 8, got {s.detector_pixels!r}")
    ch["scan_shape"] = _int_pair("scan_shape", s.scan_shape)
    if s.scan_step is not None:
        ch["scan_step"] = _float_pair("scan_step", s.scan_step)
    elif s.scan_region != "cell":
        raise SettingsError("scan_step [Å] is needed unless scan_region='cell'")
    ch["scan_region"] = _scan_region(s.scan_region)
    if s.tiling is not None:
        ch["tiling"] = _int_pair("tiling", s.tiling)
    ch["source_size"] = _positive("source_size [Å]", s.source_size, allow_zero=True)
    ch["phonons"] = int(_positive("phonons", s.phonons, allow_zero=True))
    ch["phonon_sigma"] = _positive("phonon_sigma [Å]", s.phonon_sigma, allow_zero=True)
    if s.dose is not None:
        ch["dose"] = _positive("dose [e/Å^2]", s.dose)
    if s.sampling is not None:
        ch["sampling"] = _positive("sampling [Å]", s.sampling)
    if s.slice_thickness is not None:
        ch["slice_thickness"] = _positive("slice_thickness [Å]", s.slice_thickness)
    if s.parametrization not in PARAMETRIZATIONS:
        raise SettingsError(
            f"parametrization must be one of {PARAMETRIZATIONS}, got {s.parametrization!r}"
        )
    if not isinstance(s.seed, int) or isinstance(s.seed, bool) or s.seed < 0:
        raise SettingsError(f"seed must be a non-negative integer, got {s.seed!r}")
    return dataclasses.replace(s, **ch)


def _scan_region(region: Any) -> Any:
    if region is None or region == "cell":
        return region
    try:
        y0, x0, y1, x1 = (float(v) for v in region)
    except (TypeError, ValueError):
        raise SettingsError(
            f"scan_region must be None (a window centred on the defect), 'cell', or "
            f"(y0, x0, y1, x1) in Å, got {region!r}"
        ) from None
    if not (y1 > y0 and x1 > x0):
        raise SettingsError(f"scan_region (y0, x0, y1, x1) needs y1 > y0 and x1 > x0, got {region!r}")
    return (y0, x0, y1, x1)
