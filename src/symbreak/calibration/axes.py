"""Calibration from per-axis (scale, offset, units) descriptions.

HyperSpy signals, RosettaSciIO readers, Nion Swift and EMD files describe each axis by a
scale, an offset and a unit string. :func:`calibration_from_axes` turns four such axes, in
array order (scan_y, scan_x, ky, kx), into a :class:`~symbreak.calibration.Calibration`:
scan axes in Å / nm / pm / µm give the scan step [Å]; detector axes in mrad / rad give
``angular_sampling``, in 1/Å or 1/nm give ``k_sampling``; a non-zero detector offset gives
the detector centre (``-offset / scale`` [px]). Axes in pixels or without units leave the
value unknown.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from . import Calibration
from ..errors import CalibrationError

SCAN_UNITS = {"å": 1.0, "a": 1.0, "angstrom": 1.0, "ang": 1.0, "nm": 10.0, "pm": 0.01,
              "µm": 1e4, "um": 1e4, "μm": 1e4, "m": 1e10}
ANGLE_UNITS = {"mrad": 1.0, "rad": 1e3, "µrad": 1e-3, "urad": 1e-3}
K_UNITS = {"1/å": 1.0, "å^-1": 1.0, "a^-1": 1.0, "1/a": 1.0, "å-1": 1.0, "a-1": 1.0,
           "1/nm": 0.1, "nm^-1": 0.1, "nm-1": 0.1, "1/m": 1e-10, "1/pm": 100.0}


def normalize_units(units: Any) -> str:
    """Lower-case unit string without TeX decoration (``$\\AA^{-1}$`` -> ``å^-1``)."""
    if units is None:
        return ""
    text = str(units).strip().lower()
    for old, new in (("$", ""), ("{", ""), ("}", ""), ("\\aa", "å"), ("\\mu", "µ"),
                     (" ", ""), ("ångström", "å"), ("angstroms", "å"), ("angstrom", "å"),
                     ("**", "^")):
        text = text.replace(old, new)
    return text


def _finite(values: tuple[float, ...]) -> bool:
    """All finite and non-zero (a product of a huge scale and a unit factor can overflow)."""
    return all(math.isfinite(v) and v != 0 for v in values)


def _scale(axis: Mapping[str, Any]) -> float | None:
    try:
        value = float(axis.get("scale", 1.0))
    except (TypeError, ValueError, OverflowError):
        return None
    return abs(value) if math.isfinite(value) and value != 0 else None


def _offset(axis: Mapping[str, Any]) -> float:
    try:
        value = float(axis.get("offset", 0.0) or 0.0)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def _scan_step(axes: Sequence[Mapping[str, Any]]) -> tuple[float, float] | None:
    steps = []
    for axis in axes:
        factor = SCAN_UNITS.get(normalize_units(axis.get("units")))
        scale = _scale(axis)
        if factor is None or scale is None:
            return None
        steps.append(scale * factor)
    return (steps[0], steps[1]) if _finite(tuple(steps)) else None


def _detector(axes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    units = [normalize_units(a.get("units")) for a in axes]
    scales = [_scale(a) for a in axes]
    out: dict[str, Any] = {}
    if None not in scales:
        if all(u in ANGLE_UNITS for u in units):
            out["angular_sampling"] = tuple(s * ANGLE_UNITS[u] for s, u in zip(scales, units))
        elif all(u in K_UNITS for u in units):
            out["k_sampling"] = tuple(s * K_UNITS[u] for s, u in zip(scales, units))
    offsets = [_offset(a) for a in axes]
    if None not in scales and any(o != 0 for o in offsets):
        out["detector_center"] = tuple(-o / s for o, s in zip(offsets, scales))
        if not all(math.isfinite(c) for c in out["detector_center"]):
            del out["detector_center"]
    return {k: v for k, v in out.items() if k == "detector_center" or _finite(v)}


def _lookup(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _positive(value: Any) -> float | None:
    if isinstance(value, (str, bytes)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def calibration_from_axes(
    axes: Sequence[Mapping[str, Any]], metadata: Mapping[str, Any] | None = None
) -> Calibration:
    """Calibration from four axis dicts in array order (scan_y, scan_x, ky, kx).

    Parameters
    ----------
    axes
        Four mappings with keys ``scale``, ``offset``, ``units`` (``name``, ``size`` and
        ``navigate`` are ignored), as RosettaSciIO readers and HyperSpy axes give them.
    metadata
        HyperSpy-style metadata; ``Acquisition_instrument.TEM.beam_energy`` [kV] gives the
        energy and ``Acquisition_instrument.TEM.convergence_angle`` [mrad] the semi-angle.

    Returns
    -------
    Calibration
        Values found, each with source ``"file"``; everything else unknown (also values
        that are not numbers, not finite, or not physical: a file cannot make this fail).
    """
    try:
        axes = [a if isinstance(a, Mapping) else {} for a in axes]
    except TypeError:
        axes = []
    values: dict[str, Any] = {}
    if len(axes) == 4:
        step = _scan_step(axes[:2])
        if step is not None:
            values["scan_step"] = step
        values.update(_detector(axes[2:]))
    tem = _lookup(metadata or {}, "Acquisition_instrument", "TEM") or {}
    kv = _positive(_lookup(tem, "beam_energy"))
    if kv is not None and math.isfinite(kv * 1e3):
        values["energy"] = kv * 1e3
    semiangle = _positive(_lookup(tem, "convergence_angle"))
    if semiangle is not None:
        values["semiangle"] = semiangle
    try:
        return Calibration(**values, sources={k: "file" for k in values})
    except CalibrationError:
        # e.g. an energy whose wavelength underflows, or a derived sampling that
        # overflows: keep the geometry, drop the energy
        values.pop("energy", None)
        return Calibration(**values, sources={k: "file" for k in values})
