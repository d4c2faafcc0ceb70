"""Hand-over to and from py4DSTEM DataCubes (0.14), field by field.

py4DSTEM's axis order (Rx, Ry, Qx, Qy) is symbreak's (scan_y, scan_x, ky, kx). What goes
where in ``cube.calibration``:

* ``scan_step`` [Å]: ``R_pixel_size`` with ``R_pixel_units = "A"`` (one value)
* ``k_sampling`` [1/Å] (else ``angular_sampling`` [mrad]): ``Q_pixel_size`` with
  ``Q_pixel_units = "A^-1"`` (else ``"mrad"``; one value)
* ``detector_center`` [px]: the origin ``(qx0, qy0)`` (its mean when set per position)
* ``semiangle`` [mrad]: ``convergence_semiangle_mrad``
* ``scan_rotation`` θ [rad], ``scan_flip``: ``QR_rotation_degrees`` φ and ``QR_flip``;
  φ = θ without flip, φ = 90° - θ with flip (below)
* ``energy`` [eV]: ``calibration["energy"]`` (py4DSTEM has no field; its phase classes
  take ``energy=`` in eV)
* everything, with sources: ``calibration["symbreak_calibration"]`` (JSON; restores the
  values py4DSTEM holds as one number)

Rotation: symbreak maps a scan vector v to the detector as d = R(θ) F v in (x, y) order,
F = diag(1, -1) when flipped (:mod:`symbreak.classical.rotation`). py4DSTEM maps a
detector vector to the scan as v = R(φ) d, or R(φ) applied to (qy, qx) when
``QR_flip``, in its (x, y) = (rows, columns) order (``BraggVectors`` calibration). In
(rows, columns) order symbreak's map is d = R(-θ) F' v with F' = diag(-1, 1), so
φ = θ without flip and φ = π/2 - θ with flip.

Values changed in py4DSTEM after the hand-over win over the stored copy when the cube
comes back (source ``file``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..calibration import Calibration
from ..dataset import Dataset4D
from ..errors import CalibrationError, DataError
from ..jsonable import dumps

STORED = "symbreak_calibration"
R_UNITS = {"A": 1.0, "nm": 10.0}
Q_UNITS = {"A^-1": "k_sampling", "mrad": "angular_sampling"}


def qr_rotflip(rotation: float, flip: bool) -> tuple[float, bool]:
    """symbreak's scan rotation θ [rad] and flip as py4DSTEM's (QR rotation [deg], flip)."""
    phi = math.pi / 2 - rotation if flip else rotation
    return math.degrees(phi), bool(flip)


def scan_rotflip(qr_degrees: float, flip: bool) -> tuple[float, bool]:
    """py4DSTEM's QR rotation [deg] and flip as symbreak's (scan rotation θ [rad], flip)."""
    phi = math.radians(qr_degrees)
    return (math.pi / 2 - phi if flip else phi), bool(flip)


def py4dstem_fields(cal: Calibration) -> dict[str, Any]:
    """The py4DSTEM calibration groups symbreak can fill from ``cal`` (unknown: absent)."""
    out: dict[str, Any] = {}
    if cal.scan_step is not None:
        out["R"] = (cal.scan_step[1], "A")
    if cal.k_sampling is not None:
        out["Q"] = (cal.k_sampling[1], "A^-1")
    elif cal.angular_sampling is not None:
        out["Q"] = (cal.angular_sampling[1], "mrad")
    if cal.detector_center is not None:
        out["origin"] = tuple(cal.detector_center)
    if cal.semiangle is not None:
        out["semiangle"] = cal.semiangle
    if cal.scan_rotation is not None:
        out["QR"] = qr_rotflip(cal.scan_rotation, bool(cal.scan_flip))
    if cal.energy is not None:
        out["energy"] = cal.energy
    return out


def _read_fields(c: Any) -> dict[str, Any]:
    """The same groups as :func:`py4dstem_fields`, read from a py4DSTEM Calibration."""
    out: dict[str, Any] = {}
    size, units = c.get_R_pixel_size(), c.get_R_pixel_units()
    if units in R_UNITS and size:
        out["R"] = (float(size), units)
    size, units = c.get_Q_pixel_size(), c.get_Q_pixel_units()
    if units in Q_UNITS and size:
        out["Q"] = (float(size), units)
    origin = c.get_origin_mean()
    if origin is not None and None not in origin:
        out["origin"] = (float(origin[0]), float(origin[1]))
    if c.get_convergence_semiangle_mrad() is not None:
        out["semiangle"] = float(c.get_convergence_semiangle_mrad())
    if c.get_QR_rotation_degrees() is not None:
        out["QR"] = (float(c.get_QR_rotation_degrees()), bool(c.get_QR_flip()))
    if _param(c, "energy") is not None:
        out["energy"] = float(_param(c, "energy"))
    return out


def _param(c: Any, name: str) -> Any:
    try:
        return c[name]
    except (KeyError, AttributeError, TypeError):
        return None


def _values(group: str, value: Any) -> dict[str, Any]:
    """Calibration values from one py4DSTEM group."""
    if group == "R":
        return {"scan_step": value[0] * R_UNITS[value[1]]}
    if group == "Q":
        return {Q_UNITS[value[1]]: value[0]}
    if group == "origin":
        return {"detector_center": value}
    if group == "semiangle":
        return {"semiangle": value}
    if group == "QR":
        rotation, flip = scan_rotflip(*value)
        return {"scan_rotation": rotation, "scan_flip": flip}
    return {"energy": value}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def to_py4dstem(data: Dataset4D) -> Any:
    """A py4DSTEM DataCube with every calibration value symbreak knows.

    A numpy array or memory map is handed over without a copy (py4DSTEM reads memory
    maps lazily); a lazy (dask) array is read into memory once, after a check that it
    fits (py4DSTEM's DataCube holds a numpy array).
    """
    try:
        import py4DSTEM
    except ImportError:  # optional dependency
        raise DataError("to_py4dstem needs py4DSTEM: pip install 'symbreak[py4dstem]' "
                        "(py4DSTEM 0.14 needs NumPy < 2)") from None
    array = data.array if isinstance(data.array, np.ndarray) else data.to_numpy()
    cube = py4DSTEM.DataCube(data=array)
    c = cube.calibration
    fields = py4dstem_fields(data.calibration)
    if "R" in fields:
        c.set_R_pixel_size(fields["R"][0])
        c.set_R_pixel_units(fields["R"][1])
    if "Q" in fields:
        c.set_Q_pixel_size(fields["Q"][0])
        c.set_Q_pixel_units(fields["Q"][1])
    if "origin" in fields:
        c.set_origin(fields["origin"])
    if "semiangle" in fields:
        c.set_convergence_semiangle_mrad(fields["semiangle"])
    if "QR" in fields:
        c.set_QR_rotflip_degrees(fields["QR"])
    if "energy" in fields:
        c["energy"] = fields["energy"]
    c[STORED] = dumps(data.calibration.to_dict())
    return cube


def _stored(c: Any) -> Calibration:
    text = _param(c, STORED)
    if not isinstance(text, str):
        return Calibration()
    try:
        return Calibration.from_dict(json.loads(text))
    except (ValueError, CalibrationError):
        return Calibration()


def from_py4dstem(cube: Any) -> Dataset4D:
    """A py4DSTEM DataCube as a Dataset4D, with its calibration (see the module table).

    The cube's array (numpy or memory map) is used without a copy.
    """
    c = getattr(cube, "calibration", None)
    stored = _stored(c) if c is not None else Calibration()
    expected = py4dstem_fields(stored)
    changes: dict[str, Any] = {}
    for group, value in (_read_fields(c) if c is not None else {}).items():
        if group not in expected or not _same(value, expected[group]):
            changes.update(_values(group, value))
    try:
        cal = stored.replace(source="file", **changes) if changes else stored
    except CalibrationError as exc:
        raise DataError(f"the DataCube's calibration is not usable ({exc}); fix it in "
                        "py4DSTEM or pass the values to symbreak.as_dataset") from None
    return Dataset4D(array=cube.data, calibration=cal)
