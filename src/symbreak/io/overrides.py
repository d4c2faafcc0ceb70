"""Calibration override options shared by commands that read data.

``--energy`` takes ``60kV``, ``60keV``, ``300 kV`` or a plain number of eV (``60000``);
``--scan-rotation`` takes ``12deg`` or radians (``0.21`` or ``0.21rad``). Pairs are
``Y,X`` or one number for both.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

from ..errors import SettingsError

MAX_ENERGY = 1e12  # [eV]; far above any electron microscope, below float overflow
_NUMBER = r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"


def parse_energy(text: str) -> float:
    """Beam energy [eV] from ``60kV``, ``60 keV``, ``60000``, ``60000eV``."""
    match = re.fullmatch(_NUMBER + r"(kv|kev|v|ev)?\s*", str(text).lower())
    if not match:
        raise SettingsError(f"cannot read energy {text!r}; write e.g. 60kV, 300keV or 60000 "
                            "(a plain number is eV)")
    value = float(match.group(1))
    unit = match.group(2) or "ev"
    energy = value * (1e3 if unit.startswith("k") else 1.0)
    if not math.isfinite(energy) or not 0 < energy <= MAX_ENERGY:
        raise SettingsError(f"energy {text!r} is out of range (0 to {MAX_ENERGY:g} eV); "
                            "write e.g. 60kV or 300keV")
    if energy < 1000:
        hint = "" if unit.startswith("k") else f"; did you mean {value:g}kV?"
        raise SettingsError(f"energy {text!r} is {energy:g} eV, too low for a TEM beam{hint}")
    return energy


def parse_angle(text: str) -> float:
    """Angle [rad] from ``12deg``, ``12°`` or radians (``0.21``, ``0.21rad``)."""
    match = re.fullmatch(_NUMBER + r"(deg|°|rad)?\s*", str(text).lower())
    if not match:
        raise SettingsError(f"cannot read angle {text!r}; write e.g. 12deg or 0.21rad")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise SettingsError(f"angle {text!r} is not finite; write e.g. 12deg or 0.21rad")
    if match.group(2) in ("deg", "°"):
        return math.radians(value)
    if abs(value) > 2 * math.pi:
        raise SettingsError(f"angle {text!r} is more than 2 pi radians; add 'deg' for degrees")
    return value


def parse_pair(text: str) -> tuple[float, float]:
    """``Y,X`` or a single number for both."""
    parts = [p for p in str(text).replace(" ", "").split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise SettingsError(f"cannot read {text!r}; write one number or Y,X") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise SettingsError(f"cannot read {text!r}; write one finite number or Y,X")
    return (values[0], values[1])


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """Register --dataset, --format and --scan-shape: which array of which file to read."""
    parser.add_argument("--dataset", help="array inside the file (HDF5/zarr path, signal index)")
    parser.add_argument("--format", help="force a reader (see docs/formats.md)")
    parser.add_argument("--scan-shape", metavar="NY,NX", help="reshape a stack of patterns")
    parser.add_argument("--allow-external", action="store_true",
                        help="follow HDF5 external links, virtual datasets and external raw "
                        "storage that point outside the file (off: refused)")


def add_calibration_options(parser: argparse.ArgumentParser) -> None:
    """Register --energy, --semiangle, --scan-step, ... (each overrides the file)."""
    group = parser.add_argument_group("calibration (overrides the file's values)")
    group.add_argument("--energy", metavar="E", help="beam energy: 60kV, 300keV or eV (60000)")
    group.add_argument("--semiangle", metavar="MRAD", type=float,
                       help="probe convergence semi-angle [mrad]")
    group.add_argument("--scan-step", metavar="Y,X", help="scan step [Å]: one number or Y,X")
    group.add_argument("--angular-sampling", metavar="KY,KX",
                       help="detector sampling [mrad/px]: one number or KY,KX")
    group.add_argument("--k-sampling", metavar="KY,KX",
                       help="detector sampling [1/Å per px]: one number or KY,KX")
    group.add_argument("--detector-center", metavar="KY,KX", help="undeflected beam [px]")
    group.add_argument("--scan-rotation", metavar="ANGLE",
                       help="scan-to-detector rotation: 12deg or radians")
    group.add_argument("--scan-flip", action="store_true", default=None,
                       help="scan y is mirrored relative to the detector")


def calibration_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The calibration keywords given on the command line."""
    parsers = {"energy": parse_energy, "semiangle": float, "scan_step": parse_pair,
               "angular_sampling": parse_pair, "k_sampling": parse_pair,
               "detector_center": parse_pair, "scan_rotation": parse_angle,
               "scan_flip": bool}
    return {name: parse(getattr(args, name)) for name, parse in parsers.items()
            if getattr(args, name, None) is not None}
