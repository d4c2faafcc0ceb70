"""Physical quantities written as text: beam energies, angles, (y, x) pairs.

An energy is ``60kV``, ``60keV``, ``300 kV`` or a plain number of eV (``60000``); an
angle is ``12deg`` or radians (``0.21`` or ``0.21rad``); a pair is ``Y,X`` or one number
for both. The command line and settings files read values with these parsers.
"""

from __future__ import annotations

import math
import re

from .errors import SettingsError

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
