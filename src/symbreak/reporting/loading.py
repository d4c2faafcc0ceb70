"""Reading ``results.zarr`` for the report, and checking everything the report reads.

``results.zarr`` is a file a user can edit, so the report trusts none of it: at load,
:func:`check_results` checks the types, shapes, dtypes, sizes and JSON nesting of every
variable and attribute the report reads, and refuses with one line naming the variable
or attribute and what was expected. The rule: a part that is missing is left out of the
report (its section says "not in these results"); a part that is present but not as
``symbreak analyze`` writes it is refused (:class:`~symbreak.errors.FormatError`).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..analysis import schema as S
from ..analysis import sites_stage as T
from ..analysis import symmetry_stage as Y
from ..analysis.explorer_stage import PATTERN, RECONSTRUCTION
from ..calibration import Calibration
from ..errors import DataError, FormatError, SymbreakError

MAX_TEXT = 4096  # characters of a text attribute the report shows (paths, units, notes)
MAX_JSON = 4 * 2**20  # characters of a JSON attribute
MAX_DEPTH = 32  # nesting of a JSON attribute
TEXT_ATTRS = ("units", "long_name", "description", "note", "statement")
PAGE_ATTRS = ("input_file", "input_checksum", "input_dtype", "created", "symbreak_version")
AXES = ("scan_y", "scan_x", "ky", "kx", "detector_ky", "detector_kx", "explorer_y",
        "explorer_x", "manifold_y", "manifold_x")
MAY_BE_EMPTY = {"anomaly", "example", "atom", "defect", "site", "other_site", "class",
                "other_class", "epoch"}
GROUPS = (  # present together or not at all: (key variable, the others it needs)
    (Y.ANOMALY_Y, (Y.ANOMALY_X, Y.ANOMALY_SCORE)),
    (Y.ANOMALY_X, (Y.ANOMALY_Y, Y.ANOMALY_SCORE)),
    (Y.THRESHOLD, (Y.ANOMALY_Y, Y.ANOMALY_X, Y.ANOMALY_SCORE)),
    (Y.ANOMALY_PATTERN, (Y.REFERENCE_PATTERN,)),
    (T.CLASS_MAP, (T.SITE_Y, T.SITE_X, T.SITE_CLASS, T.SITE_ADF, T.SITE_LATENT, T.SITE_NOISE,
                   T.CLASS_LATENT, T.THRESHOLD)),
    (S.TRUTH_ATOM_X, (S.TRUTH_ATOM_Y,)),
    (S.TRUTH_DEFECT_X, (S.TRUTH_DEFECT_Y,)),
    (S.TRUTH_PROBE_X, (S.TRUTH_PROBE_Y,)),
    (PATTERN, ("explorer_y", "explorer_x")),
)
VERDICTS = ("ok", "doubtful", "failed")


class _Refused(Exception):
    """One thing wrong with the results: (what, expected)."""


def _refuse(where: str, expected: str, found: Any = None) -> None:
    got = "" if found is None else f", got {_short(found)}"
    raise _Refused(f"{where} must be {expected}{got}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def open_results(results_dir: str | os.PathLike) -> xr.Dataset:
    """The saved results of ``symbreak analyze`` in ``results_dir``, loaded into memory
    and checked (:func:`check_results`)."""
    store = Path(results_dir) / "results.zarr"
    if not store.exists():
        raise DataError(
            f"no results in {results_dir}: {store} does not exist; run symbreak analyze "
            "with --out pointing at this folder first"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with xr.open_zarr(store) as results:
                loaded = results.load()
    except SymbreakError:
        raise
    except (Exception, RecursionError) as error:  # a corrupt store: any reader error
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise FormatError(f"cannot read {store}: {message}; rerun symbreak analyze to "
                          "write it again") from None
    return check_results(loaded, store)


def check_results(results: xr.Dataset, source: Any = "results.zarr") -> xr.Dataset:
    """``results`` when the report can read all of it; else a one-line FormatError that
    names the variable or attribute and what it must be."""
    try:
        _check_axes(results)
        _check_variables(results)
        _check_attrs(results)
    except _Refused as error:
        raise FormatError(f"{source}: {error}; it was not written by symbreak analyze or "
                          "was edited since: rerun symbreak analyze") from None
    return results


# ---------------------------------------------------------------------- arrays
def _numeric(name: str, values: np.ndarray) -> None:
    if values.dtype.kind not in "biuf":
        _refuse(f"variable {name!r}", "real numbers", f"dtype {values.dtype}")


def _check_axes(results: xr.Dataset) -> None:
    for name in ("scan_y", "scan_x"):
        if name not in results.coords:
            _refuse(f"coordinate {name!r}", "present (the scan positions [Å])", "none")
    for name in AXES:
        if name not in results.variables:
            continue
        values = results[name].values
        if values.ndim != 1:
            _refuse(f"coordinate {name!r}", "1-D", f"shape {values.shape}")
        _numeric(name, values)
        if values.size == 0:
            _refuse(f"coordinate {name!r}", "at least one position", "0")
        if not np.isfinite(values).all():
            _refuse(f"coordinate {name!r}", "finite", "NaN or infinite values")
        step = np.diff(values)
        if name not in ("manifold_y", "manifold_x") and not ((step > 0).all() or (step < 0).all()):
            _refuse(f"coordinate {name!r}", "strictly increasing or decreasing",
                    values[:6].tolist())


def _expected_dims(name: str) -> tuple[str, ...] | None:
    if name.startswith(S.HISTORY_PREFIX):
        return ("epoch",)
    var = S.VARIABLES.get(name)
    return None if var is None else var.dims


def _check_variables(results: xr.Dataset) -> None:
    for name in results.data_vars:
        dims = _expected_dims(str(name))
        if dims is None:
            continue  # not read by the report
        var = results[name]
        if var.dims != dims:
            _refuse(f"variable {name!r}", f"of dims {dims}", f"{var.dims}")
        _numeric(str(name), var.values)
        for dim, size in var.sizes.items():
            if size == 0 and dim not in MAY_BE_EMPTY:
                _refuse(f"variable {name!r}", f"non-empty along {dim!r}", "0 entries")
    for key, needed in GROUPS:
        if key in results.variables:
            for other in needed:
                if other not in results.variables:
                    _refuse(f"variable {other!r}", f"present with {key!r}", "none")
    for name in results.variables:
        for attr in TEXT_ATTRS:
            if attr in results[name].attrs:
                _text(f"attribute {attr!r} of {name!r}", results[name].attrs[attr])
    _check_symmetry(results)
    _check_sites(results)
    _check_explorer(results)


def _text(where: str, value: Any) -> None:
    if not isinstance(value, str):
        _refuse(where, "a string", value)
    if len(value) > MAX_TEXT:
        _refuse(where, f"at most {MAX_TEXT} characters", f"{len(value)} characters")


def _check_symmetry(results: xr.Dataset) -> None:
    if Y.SCORE in results:
        names = results[Y.SCORE].coords.get(Y.MAP_DIM)
        if names is None or "combined" not in [str(v) for v in names.values]:
            _refuse(f"coordinate {Y.MAP_DIM!r}", "present with the map 'combined'",
                    None if names is None else names.values.tolist())
    if Y.LATTICE in results and results[Y.LATTICE].shape != (2, 2):
        _refuse(f"variable {Y.LATTICE!r}", "of shape (2, 2)", results[Y.LATTICE].shape)
    for name in (Y.LATTICE, Y.ANOMALY_Y, Y.ANOMALY_X, Y.THRESHOLD):
        if name in results and not np.isfinite(results[name].values).all():
            _refuse(f"variable {name!r}", "finite", "NaN or infinite values")


def _check_sites(results: xr.Dataset) -> None:
    if T.CLASS_MAP not in results:
        return
    labels = results[T.SITE_CLASS].values
    n_class = results.sizes.get("class", 0)
    if labels.size and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()
                            and labels.min() >= 0 and labels.max() < n_class):
        _refuse(f"variable {T.SITE_CLASS!r}", f"class numbers 0 to {n_class - 1}",
                labels[:6].tolist())
    if T.CLASS_DISTANCE in results:
        if results[T.CLASS_DISTANCE].shape != (n_class, n_class):
            _refuse(f"variable {T.CLASS_DISTANCE!r}", f"of shape ({n_class}, {n_class})",
                    results[T.CLASS_DISTANCE].shape)
    elif T.SITE_DISTANCE not in results:
        _refuse(f"variable {T.SITE_DISTANCE!r}", f"present with {T.CLASS_MAP!r}", "none")
    elif results[T.SITE_DISTANCE].sizes["other_site"] != results.sizes["site"]:
        _refuse(f"variable {T.SITE_DISTANCE!r}", "square (site x site)",
                results[T.SITE_DISTANCE].shape)


def _check_explorer(results: xr.Dataset) -> None:
    if PATTERN not in results:
        return
    attrs = results[PATTERN].attrs
    for key in ("low", "high"):
        if not _is_number(attrs.get(key)) or not np.isfinite(attrs[key]):
            _refuse(f"attribute {key!r} of {PATTERN!r}", "a finite number", attrs.get(key))
    stride = attrs.get("stride", 1)
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        _refuse(f"attribute 'stride' of {PATTERN!r}", "a positive whole number", stride)
    for axis, scan in (("explorer_y", "scan_y"), ("explorer_x", "scan_x")):
        if results.sizes[axis] != -(-results.sizes[scan] // stride):
            _refuse(f"coordinate {axis!r}", f"every {stride}. position of {scan!r} "
                    f"({-(-results.sizes[scan] // stride)} positions)", results.sizes[axis])
    if RECONSTRUCTION in results and results[RECONSTRUCTION].shape != results[PATTERN].shape:
        _refuse(f"variable {RECONSTRUCTION!r}", f"of shape {results[PATTERN].shape}",
                results[RECONSTRUCTION].shape)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# ------------------------------------------------------------------ attributes
def nesting_depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` in JSON ``text`` (strings skipped), without
    recursion: a deeply nested file cannot exhaust the stack."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _json(results: xr.Dataset, name: str, kind: type) -> Any:
    text = results.attrs[name]
    where = f"attribute {name!r}"
    if not isinstance(text, str):
        _refuse(where, "a JSON string", type(text).__name__)
    if len(text) > MAX_JSON:
        _refuse(where, f"at most {MAX_JSON} characters of JSON", f"{len(text)}")
    if nesting_depth(text) > MAX_DEPTH:
        _refuse(where, f"JSON nested at most {MAX_DEPTH} deep", f"{nesting_depth(text)} deep")
    try:
        value = json.loads(text)
    except ValueError as error:
        _refuse(where, "valid JSON", str(error))
    if not isinstance(value, kind):
        _refuse(where, f"a JSON {'object' if kind is dict else 'array'}", type(value).__name__)
    return value


def _check_attrs(results: xr.Dataset) -> None:
    a = results.attrs
    for name in PAGE_ATTRS + ("input_shape",):
        if name in a and len(str(a[name])) > MAX_TEXT:
            _refuse(f"attribute {name!r}", f"at most {MAX_TEXT} characters", len(str(a[name])))
    if "input_shape" in a and not (isinstance(a["input_shape"], list)
                                   and all(isinstance(n, int) for n in a["input_shape"])):
        _refuse("attribute 'input_shape'", "a list of whole numbers", a["input_shape"])
    parsed = {name: _json(results, name, kind) for name, kind in (
        ("calibration", dict), ("timings", dict), ("settings", dict), ("versions", dict),
        ("provenance", list), (S.FIT_ATTR, dict)) if name in a}
    if "calibration" in parsed:
        try:
            Calibration.from_dict(parsed["calibration"]).describe()
        except (SymbreakError, TypeError, ValueError) as error:
            _refuse("attribute 'calibration'", "a calibration symbreak can read", str(error))
    for stage, seconds in parsed.get("timings", {}).items():
        if not _is_number(seconds):
            _refuse(f"attribute 'timings' ({stage!r})", "a number of seconds", seconds)
    _check_settings(parsed.get("settings", {}))
    if S.FIT_ATTR in parsed:
        _check_fit(parsed[S.FIT_ATTR])


def _check_settings(settings: dict) -> None:
    for section, values in settings.items():
        if not isinstance(values, dict):
            _refuse(f"attribute 'settings' ({section!r})", "a JSON object", values)
    detectors = settings.get("detectors", {})
    for key in ("bf", "adf", "df"):
        radii = detectors.get(key)
        if radii is not None and not (isinstance(radii, list) and len(radii) == 2
                                      and all(_is_number(r) and np.isfinite(r) for r in radii)):
            _refuse(f"attribute 'settings' (detectors.{key})", "two finite radii or null",
                    radii)
    if not isinstance(detectors.get("detector_units", ""), str):
        _refuse("attribute 'settings' (detectors.detector_units)", "a string",
                detectors["detector_units"])


def _check_fit(record: dict) -> None:
    if record.get("verdict") not in VERDICTS:
        _refuse(f"attribute {S.FIT_ATTR!r} (verdict)", f"one of {', '.join(VERDICTS)}",
                record.get("verdict"))
    for key in ("reasons", "advice", "notes", "stop_reason"):
        value = record.get(key, "")
        if not (isinstance(value, str) or (isinstance(value, list) and key != "stop_reason"
                                           and all(isinstance(v, str) for v in value))):
            _refuse(f"attribute {S.FIT_ATTR!r} ({key})", "a string", value)
        if len(str(record.get(key, ""))) > MAX_JSON // 4:
            _refuse(f"attribute {S.FIT_ATTR!r} ({key})", "shorter", len(str(record[key])))


def text_of(value: Any) -> str:
    """A fit record's text field: a string, or a list of strings joined by '; '."""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def json_attr(results: xr.Dataset, name: str, default: Any) -> Any:
    """A JSON attribute of the results (checked at load), or ``default`` when it is
    absent or, in results that were not loaded by :func:`open_results`, unreadable."""
    text = results.attrs.get(name)
    if not isinstance(text, str) or nesting_depth(text) > MAX_DEPTH:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default
