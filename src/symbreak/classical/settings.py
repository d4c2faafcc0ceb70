"""Settings of :func:`~symbreak.classical.com`, :func:`~symbreak.classical.virtual_images`
and :func:`~symbreak.classical.decompose`, described once (:func:`symbreak.options.setting`).

Each class lists the keyword arguments of its function with the same names and defaults
(a test checks that the signatures agree); ``symbreak com``, ``virtual`` and
``decompose`` build their options from them, and the functions check their arguments
against the same choices (:data:`COM_REFERENCES`, :data:`RADIUS_UNITS`, ...).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from ..errors import SettingsError
from ..options import MAX_SEED, check_fields, setting

COM_REFERENCES = ("mean", "center", "plane")  # see com(): mean pattern, calibration, descan
RADIUS_UNITS = ("px", "mrad", "1/A")
COM_UNITS = RADIUS_UNITS
SHIFTS = ("com",)
DECOMPOSITION_METHODS = ("pca", "nmf")


def parse_radii(text: str) -> float | tuple[float, float]:
    """``R`` (disk) or ``INNER,OUTER`` (annulus); ``inf`` allowed as outer."""
    try:
        values = [float(v) for v in str(text).replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise SettingsError(f"cannot read radii {text!r}; write R or INNER,OUTER, e.g. 20 or 40,120")


def _annulus(pair: Any) -> tuple[float, float]:
    """``(inner, outer)`` as floats; NaN for values that are not two numbers."""
    try:
        inner, outer = (float(v) for v in pair)
    except (TypeError, ValueError):
        return math.nan, math.nan
    return inner, outer


def check_radii(name: str, value: Any) -> float | tuple[float, float]:
    """A radius or an ``(inner, outer)`` pair with 0 <= inner < outer (outer may be inf)."""
    pair = value if isinstance(value, (tuple, list)) else (0.0, value)
    inner, outer = _annulus(pair)
    if not (math.isfinite(inner) and 0 <= inner < outer):
        raise SettingsError(f"{name} must be a radius R > 0 or radii INNER,OUTER with 0 <= "
                            f"INNER < OUTER (OUTER may be inf), got {value!r}")
    return (inner, outer) if isinstance(value, (tuple, list)) else outer


def parse_rotation(text: str) -> float | str:
    """``auto`` or an angle (``12deg``, ``0.21rad``, ``0.21``) [rad]."""
    from ..quantities import parse_angle

    return "auto" if text.strip().lower() == "auto" else parse_angle(text)


def check_rotation(name: str, value: Any) -> float | str:
    """``"auto"`` or a finite angle [rad]."""
    if value == "auto":
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise SettingsError(f"{name} must be 'auto' or an angle such as 12deg or 0.21rad, "
                        f"got {value!r}")


def parse_detector(text: str) -> tuple[str, tuple[float, float]]:
    """``NAME:INNER:OUTER`` -> (name, (inner, outer))."""
    parts = text.split(":")
    try:
        if len(parts) != 3 or not parts[0]:
            raise ValueError
        return parts[0], (float(parts[1]), float(parts[2]))
    except ValueError:
        raise SettingsError(f"cannot read detector {text!r}; write NAME:INNER:OUTER, e.g. "
                            "bf:0:32 or haadf:80:inf") from None


def check_detector(name: str, value: Any) -> tuple[str, tuple[float, float]]:
    """One ``(name, (inner, outer))`` detector with 0 <= inner < outer."""
    try:
        label, radii = value
        ok = isinstance(label, str) and bool(label) and isinstance(radii, (tuple, list)) \
            and len(radii) == 2
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise SettingsError(f"{name} must be NAME:INNER:OUTER, e.g. bf:0:32, got {value!r}")
    inner, outer = _annulus(radii)
    if not (math.isfinite(inner) and 0 <= inner < outer):
        raise SettingsError(f"{name} {label} needs radii 0 <= INNER < OUTER (OUTER may be "
                            f"inf), got {label}:{radii[0]}:{radii[1]}")
    return label, (inner, outer)


@dataclasses.dataclass(frozen=True)
class CenterOfMassSettings:
    """Keyword arguments of :func:`symbreak.classical.com` (same names and defaults)."""

    mask: float | tuple[float, float] | None = setting(
        None, kind=float, parse=parse_radii, check=check_radii, metavar="R|IN,OUT",
        help="disk radius or annulus radii around the detector centre (default: all pixels)")
    mask_units: str = setting("px", choices=RADIUS_UNITS, help="units of the mask radii")
    threshold: float | None = setting(None, kind=float, unit="counts",
                                      help="ignore pixels below this intensity (0 ignores "
                                      "negative values)")
    reference: str = setting("mean", choices=COM_REFERENCES,
                             help="COM origin: mean pattern, detector centre, descan plane")
    units: str = setting("px", choices=COM_UNITS,
                         help="units of the COM (mrad and 1/A need the detector calibration)")
    rotation: float | str | None = setting(
        None, kind=float, parse=parse_rotation, check=check_rotation, metavar="auto|ANGLE",
        help="scan rotation: 'auto' (minimum curl), 12deg or radians (default: the "
        "calibration's)")
    flip: bool | None = setting(None, kind=bool, help="scan flip (default: the calibration's, "
                                "or found with --rotation auto)")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class VirtualImagesSettings:
    """Keyword arguments of :func:`symbreak.classical.virtual_images` (same names and
    defaults); ``detectors`` holds (name, (inner, outer)) pairs."""

    detectors: tuple[tuple[str, tuple[float, float]], ...] | None = setting(
        None, kind=str, repeat=True, parse=parse_detector, check=check_detector,
        flag="--detector", metavar="NAME:INNER:OUTER",
        help="a detector (repeatable); OUTER may be inf (default: BF, ABF, ADF, HAADF from "
        "the semiangle)")
    units: str = setting("mrad", choices=RADIUS_UNITS, help="units of the radii")
    center: tuple[float, float] | None = setting(
        None, kind=float, length=2, unit="px", metavar="KY,KX",
        help="detector centre (default: the calibrated one, else the mean pattern's COM)")
    shifts: str | None = setting(None, kind=str, choices=SHIFTS,
                                 help="move the detector with each pattern's COM (descan)")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class DecomposeSettings:
    """Arguments of :func:`symbreak.classical.decompose` (same names and defaults)."""

    method: str = setting("pca", choices=DECOMPOSITION_METHODS,
                          help="PCA (mean subtracted) or NMF (non-negative data)")
    n_components: int = setting(10, minimum=1, short="-n", help="number of components")
    incremental: bool | None = setting(None, kind=bool, help="force out-of-core (or "
                                       "in-memory) fitting (default: by the memory budget)")
    random_state: int = setting(0, minimum=0, maximum=MAX_SEED, flag="--seed",
                                help="random state of the solvers")
    max_iter: int = setting(200, minimum=1,
                            help="most passes over the data for out-of-core NMF")

    def __post_init__(self) -> None:
        check_fields(self)


def keywords(settings: Any) -> dict[str, Any]:
    """``{name: value}`` of a settings object, to pass to its function."""
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
