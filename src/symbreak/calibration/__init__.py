"""Calibration of a 4D-STEM data set: beam energy, angles, scan and detector sampling.

Conventions
-----------
* Axis order is (scan_y, scan_x, ky, kx). Pixel (0, 0) is top-left, y points down.
* Angles inside symbreak are radians; detector sampling is given per pixel in mrad
  (``angular_sampling``) and in Å^-1 (``k_sampling``). With a known beam energy one is
  derived from the other through the relativistic electron wavelength:
  ``k [Å^-1] = angle [rad] / wavelength [Å]``.
* ``scan_rotation`` [rad] is the angle from the scan x axis to the detector kx axis,
  counter-clockwise in the (x right, y down) image frame as displayed; ``scan_flip``
  means the scan y axis is mirrored relative to the detector before rotating.
* Unknown values are ``None``: nothing is silently set to zero or one.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Mapping

from ..errors import CalibrationError

# CODATA 2018
_H = 6.62607015e-34  # J s
_M0 = 9.1093837015e-31  # kg
_E = 1.602176634e-19  # C
_C = 299792458.0  # m / s

FIELD_UNITS = {
    "energy": "eV",
    "semiangle": "mrad",
    "scan_step": "Å",
    "angular_sampling": "mrad/px",
    "k_sampling": "1/Å per px",
    "detector_center": "px",
    "scan_rotation": "rad",
    "scan_flip": "",
}


def electron_wavelength(energy: float) -> float:
    """Relativistic electron wavelength.

    Parameters
    ----------
    energy
        Beam (kinetic) energy [eV].

    Returns
    -------
    float
        Wavelength [Å].
    """
    if energy is None or not math.isfinite(energy) or energy <= 0:
        raise CalibrationError(f"beam energy must be a positive number of eV, got {energy!r}")
    p = math.sqrt(2 * _M0 * _E * energy * (1 + _E * energy / (2 * _M0 * _C**2)))
    wavelength = _H / p * 1e10 if p > 0 else math.inf  # p underflows for tiny energies
    if not math.isfinite(wavelength) or wavelength <= 0:
        raise CalibrationError(f"beam energy {energy!r} eV is out of range (no finite "
                               "wavelength); give the energy in eV, e.g. 300e3")
    return wavelength


def _number(name: str, value: Any, unit: str) -> float:
    """``value`` as a finite float, or a CalibrationError naming the field."""
    if isinstance(value, (str, bytes, bool)) or not isinstance(value, numbers.Real):
        raise CalibrationError(f"{name} must be a number [{unit}], got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise CalibrationError(f"{name} must be finite [{unit}], got {value!r}")
    return number


def _flag(name: str, value: Any) -> bool:
    """True/False (also 1/0 and numpy booleans), or a CalibrationError: ``bool("no")``
    would be True."""
    if isinstance(value, (str, bytes)) or hasattr(value, "__len__"):
        raise CalibrationError(f"{name} must be True or False, got {value!r}")
    try:
        valid = value in (0, 1)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise CalibrationError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _pair(name: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    unit = FIELD_UNITS.get(name, "")
    try:
        items = [] if isinstance(value, (str, bytes, Mapping)) else list(value)
    except TypeError:
        items = []
    if len(items) != 2:
        raise CalibrationError(
            f"{name} must be a number or a (y, x) pair of numbers [{unit}], got {value!r}")
    y, x = (_number(name, v, unit) for v in items)
    return (y, x)


def _positive_pair(name: str, value: Any) -> tuple[float, float] | None:
    pair = _pair(name, value)
    if pair is not None and not all(math.isfinite(v) and v > 0 for v in pair):
        raise CalibrationError(f"{name} must be positive and finite, got {value!r}")
    return pair


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Physical calibration of a 4D-STEM data set. Unknown values are ``None``.

    Parameters
    ----------
    energy
        Beam energy [eV].
    semiangle
        Probe convergence semi-angle [mrad].
    scan_step
        Probe step (y, x) [Å]; a single number means both.
    angular_sampling
        Detector sampling (ky, kx) [mrad per pixel].
    k_sampling
        Detector sampling (ky, kx) [Å^-1 per pixel]. Given with a known energy, the
        other of ``angular_sampling`` / ``k_sampling`` is derived.
    detector_center
        Position of the undeflected beam on the detector (ky, kx) [px].
    scan_rotation
        Rotation from scan axes to detector axes [rad]; see the module docstring.
    scan_flip
        Whether scan y is mirrored relative to the detector.
    sources
        Where each known value came from (``"file"``, ``"user"``, ``"derived"`` ...).
    """

    energy: float | None = None
    semiangle: float | None = None
    scan_step: tuple[float, float] | None = None
    angular_sampling: tuple[float, float] | None = None
    k_sampling: tuple[float, float] | None = None
    detector_center: tuple[float, float] | None = None
    scan_rotation: float | None = None
    scan_flip: bool | None = None
    sources: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.sources, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.sources.items()):
            raise CalibrationError(f"sources must map field names to text, got {self.sources!r}")
        set_(self, "sources", dict(self.sources))
        if self.energy is not None:
            energy = _number("energy", self.energy, "eV")
            electron_wavelength(energy)
            set_(self, "energy", energy)
        if self.semiangle is not None:
            s = _number("semiangle", self.semiangle, "mrad")
            if s <= 0:
                raise CalibrationError(f"semiangle must be positive [mrad], got {self.semiangle!r}")
            set_(self, "semiangle", s)
        set_(self, "scan_step", _positive_pair("scan_step", self.scan_step))
        set_(self, "angular_sampling", _positive_pair("angular_sampling", self.angular_sampling))
        set_(self, "k_sampling", _positive_pair("k_sampling", self.k_sampling))
        set_(self, "detector_center", _pair("detector_center", self.detector_center))
        if self.scan_rotation is not None:
            set_(self, "scan_rotation", _number("scan_rotation", self.scan_rotation, "rad"))
        if self.scan_flip is not None:
            set_(self, "scan_flip", _flag("scan_flip", self.scan_flip))
        self._derive_sampling()

    def _derive_sampling(self) -> None:
        if self.energy is None:
            return
        lam = self.wavelength
        ang, k = self.angular_sampling, self.k_sampling
        sources = dict(self.sources)
        if ang is not None and k is None:
            object.__setattr__(self, "k_sampling",
                               _positive_pair("derived k_sampling", [a * 1e-3 / lam for a in ang]))
            sources["k_sampling"] = "derived"
        elif k is not None and ang is None:
            object.__setattr__(self, "angular_sampling", _positive_pair(
                "derived angular_sampling", [q * lam * 1e3 for q in k]))
            sources["angular_sampling"] = "derived"
        elif ang is not None and k is not None:
            for a, q in zip(ang, k):
                if not math.isclose(a * 1e-3 / lam, q, rel_tol=1e-3):
                    raise CalibrationError(
                        f"angular_sampling {ang} mrad/px and k_sampling {k} 1/Å/px disagree "
                        f"at {self.energy:g} eV (wavelength {lam:.5g} Å); give only one of them"
                    )
        object.__setattr__(self, "sources", sources)

    @property
    def wavelength(self) -> float | None:
        """Relativistic electron wavelength [Å], or None when the energy is unknown."""
        return None if self.energy is None else electron_wavelength(self.energy)

    def replace(self, source: str = "user", **changes: Any) -> "Calibration":
        """Return a copy with ``changes`` applied, recording ``source`` for each.

        A changed energy or sampling re-derives the dependent sampling.
        """
        unknown = set(changes) - set(FIELD_UNITS)
        if unknown:
            raise CalibrationError(
                f"unknown calibration field(s) {sorted(unknown)}; known: {sorted(FIELD_UNITS)}"
            )
        values = {f: getattr(self, f) for f in FIELD_UNITS}
        sources = dict(self.sources)
        for name in ("angular_sampling", "k_sampling"):
            if sources.get(name) == "derived" and (
                "energy" in changes or "angular_sampling" in changes or "k_sampling" in changes
            ):
                values[name] = None
                sources.pop(name)
        if "angular_sampling" in changes and "k_sampling" not in changes:
            values["k_sampling"] = None
        if "k_sampling" in changes and "angular_sampling" not in changes:
            values["angular_sampling"] = None
        for name, value in changes.items():
            values[name] = value
            sources[name] = source
        return Calibration(**values, sources=sources)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the values (lists for pairs) and their sources."""
        out: dict[str, Any] = {}
        for name in FIELD_UNITS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        out["sources"] = dict(self.sources)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Calibration":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(values, Mapping):
            raise CalibrationError(f"calibration must be a mapping of field -> value, got "
                                   f"{type(values).__name__}")
        values = dict(values)
        sources = values.pop("sources", {}) or {}
        if not isinstance(sources, Mapping):
            raise CalibrationError(f"calibration sources must be a mapping, got {sources!r}")
        unknown = set(values) - set(FIELD_UNITS)
        if unknown:
            raise CalibrationError(f"unknown calibration field(s) {sorted(unknown)}")
        derived = [k for k, v in sources.items() if v == "derived"]
        for name in derived:
            values.pop(name, None)
        return cls(**values, sources={k: v for k, v in sources.items() if v != "derived"})

    def describe(self) -> list[tuple[str, str, str]]:
        """Rows of (field, value with unit, source) for display; unknown shown as such."""
        rows = []
        for name, unit in FIELD_UNITS.items():
            value = getattr(self, name)
            if value is None:
                text = "unknown"
            elif isinstance(value, tuple):
                text = f"({value[0]:.6g}, {value[1]:.6g}) {unit}"
            elif isinstance(value, bool):
                text = str(value)
            else:
                text = f"{value:.6g} {unit}"
            rows.append((name, text.strip(), self.sources.get(name, "") if value is not None else ""))
        if self.energy is not None:
            rows.insert(1, ("wavelength", f"{self.wavelength:.6g} Å", "derived"))
        return rows
