"""Hand-over to and from HyperSpy / pyxem signals, field by field.

What goes where (a round trip gives back every value, with its source):

* the array (scan_y, scan_x, ky, kx): ``signal.data`` (HyperSpy's order is the same;
  navigation axes (x, y), signal axes (kx, ky)); a dask array stays the same dask array
  (a Lazy signal), a numpy array is not copied
* ``energy`` [eV]: ``metadata.Acquisition_instrument.TEM.beam_energy`` [keV]
* ``semiangle`` [mrad]: ``metadata.Acquisition_instrument.TEM.convergence_angle`` [mrad]
* ``scan_step`` [Å]: navigation axes ``scale`` in ``Å``
* ``angular_sampling`` [mrad] (else ``k_sampling`` [1/Å]): signal axes ``scale``
* ``detector_center`` [px]: signal axes ``offset = -centre * scale``
* ``scan_rotation``, ``scan_flip`` and every value's source: ``metadata.Symbreak.calibration``
  (JSON; HyperSpy and pyxem have no field for them)
* ``metadata``, ``provenance``: ``metadata.Symbreak.metadata`` / ``.provenance`` (JSON)
* ``metadata.Signal.signal_type = "electron_diffraction"`` (pyxem's ElectronDiffraction2D)

Values edited in HyperSpy after the hand-over (axes, beam energy, convergence angle) win
over the stored copy when the signal comes back; they are recorded with source ``file``.
"""

from __future__ import annotations

import importlib.util
import json
import math
from typing import Any, Mapping

from ..calibration import FIELD_UNITS, Calibration
from ..dataset import AXES, Dataset4D
from ..errors import CalibrationError, DataError
from ..calibration.axes import calibration_from_axes
from ..jsonable import dumps

SIGNAL_TYPE = "electron_diffraction"
STORED = "Symbreak"  # the metadata node holding what HyperSpy has no field for


def hyperspy_axes(data: Dataset4D) -> list[dict[str, Any]]:
    """HyperSpy axis dicts (name, size, scale, offset, units, navigate) in array order.

    Scan axes in Å from ``scan_step`` (else px); detector axes in mrad, else 1/Å (else
    px), zero at the detector centre when it is known (else offset 0).
    """
    cal = data.calibration
    axes = []
    for i, name in enumerate(AXES):
        scale, units, offset = 1.0, "px", 0.0
        if i < 2:
            if cal.scan_step is not None:
                scale, units = cal.scan_step[i], "Å"
        else:
            j = i - 2
            if cal.angular_sampling is not None:
                scale, units = cal.angular_sampling[j], "mrad"
            elif cal.k_sampling is not None:
                scale, units = cal.k_sampling[j], "1/Å"
            if cal.detector_center is not None:
                offset = -cal.detector_center[j] * scale
        axes.append({"name": name, "size": data.shape[i], "scale": float(scale),
                     "offset": float(offset), "units": units, "navigate": i < 2})
    return axes


def hyperspy_metadata(data: Dataset4D, title: str | None = None) -> dict[str, Any]:
    """HyperSpy metadata: title, signal type, TEM beam energy [keV] and convergence
    semi-angle [mrad], and the full symbreak calibration, metadata and provenance."""
    cal = data.calibration
    tem: dict[str, Any] = {}
    if cal.energy is not None:
        tem["beam_energy"] = cal.energy / 1e3
    if cal.semiangle is not None:
        tem["convergence_angle"] = cal.semiangle
    meta = {"General": {"title": title or _title(data)},
            "Signal": {"signal_type": SIGNAL_TYPE},
            STORED: {"calibration": dumps(cal.to_dict()),
                     "metadata": dumps(dict(data.metadata)),
                     "provenance": dumps(list(data.provenance))}}
    if tem:
        meta["Acquisition_instrument"] = {"TEM": tem}
    return meta


def _title(data: Dataset4D) -> str:
    title = data.metadata.get("hyperspy_title") if isinstance(data.metadata, Mapping) else None
    if title:
        return str(title)
    return data.source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if data.source else ""


def to_hyperspy(data: Dataset4D, title: str | None = None) -> Any:
    """A HyperSpy Signal2D (pyxem's ElectronDiffraction2D when pyxem is installed) with
    calibrated axes and metadata; lazy (dask, nothing read) when ``data`` is lazy.

    Parameters
    ----------
    data
        The data set; its array is handed over without a copy.
    title
        ``metadata.General.title``; default: the source file's name.
    """
    try:
        import hyperspy.api as hs
    except ImportError:  # optional dependency
        raise DataError("to_hyperspy needs HyperSpy: pip install 'symbreak[hyperspy]' "
                        "(or 'symbreak[pyxem]')") from None
    meta = hyperspy_metadata(data, title)
    signal_md = meta.pop("Signal")
    sig = hs.signals.Signal2D(data.array, axes=hyperspy_axes(data), metadata=meta)
    if data.is_lazy:
        sig = sig.as_lazy()
    if importlib.util.find_spec("pyxem") is not None:
        sig.set_signal_type(signal_md["signal_type"])  # pyxem's class for it
    else:  # set the field only: HyperSpy alone does not know the type and would warn
        sig.metadata.set_item("Signal.signal_type", signal_md["signal_type"])
    return sig


def _axis(axis: Any) -> dict[str, Any]:
    """One HyperSpy axis as a dict (a non-uniform axis has no scale: left unknown)."""
    return {"name": getattr(axis, "name", None), "scale": getattr(axis, "scale", None),
            "offset": getattr(axis, "offset", 0.0), "units": getattr(axis, "units", None)}


def _stored(node: Any, key: str, default: Any) -> Any:
    text = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(text, str):
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _differs(a: Any, b: Any) -> bool:
    if a is None:
        return True
    pairs = zip(a, b) if isinstance(a, tuple) else [(a, b)]
    return not all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x, y in pairs)


def merge_calibration(stored: Calibration, found: Calibration) -> Calibration:
    """``stored`` with every value that ``found`` read from the signal (source ``file``)
    and that is new or different there put in, as source ``file``."""
    changes = {name: getattr(found, name) for name in FIELD_UNITS
               if found.sources.get(name) == "file"
               and _differs(getattr(stored, name), getattr(found, name))}
    if "angular_sampling" in changes and "k_sampling" in changes:
        changes.pop("k_sampling")  # one detector sampling; the other is derived
    return stored.replace(source="file", **changes) if changes else stored


def signal_calibration(axes: list[Mapping[str, Any]],
                       metadata: Mapping[str, Any]) -> Calibration:
    """Calibration of a HyperSpy signal from its four axes in array order and its
    metadata: what symbreak stored in ``metadata.Symbreak.calibration`` (if anything),
    updated with every value the axes and ``Acquisition_instrument.TEM`` hold."""
    try:
        stored = Calibration.from_dict(_stored(metadata.get(STORED, {}), "calibration", {}))
    except CalibrationError:
        stored = Calibration()
    return merge_calibration(stored, calibration_from_axes(axes, metadata))


def from_hyperspy(signal: Any) -> Dataset4D:
    """A HyperSpy/pyxem signal with 2 navigation and 2 signal axes as a Dataset4D.

    HyperSpy's data order (nav_y, nav_x, sig_y, sig_x) is symbreak's. A lazy signal
    gives a lazy Dataset4D (its dask array, nothing read).
    """
    am = signal.axes_manager
    nav, sig = list(am.navigation_axes), list(am.signal_axes)
    if len(nav) != 2 or len(sig) != 2:
        raise DataError(f"expected a signal with 2 navigation and 2 signal axes (a 4D-STEM "
                        f"scan), got {len(nav)} and {len(sig)}; reshape or transpose it "
                        "(signal.transpose(signal_axes=2)) first")
    try:
        metadata = signal.metadata.as_dictionary()
    except AttributeError:
        metadata = {}
    node = metadata.get(STORED, {})
    cal = signal_calibration([_axis(a) for a in nav[::-1] + sig[::-1]], metadata)
    meta = dict(_stored(node, "metadata", {}))
    title = str(metadata.get("General", {}).get("title", "") or "")
    if title:
        meta["hyperspy_title"] = title
    return Dataset4D(array=signal.data, calibration=cal,
                     metadata=meta, provenance=tuple(_stored(node, "provenance", [])))
