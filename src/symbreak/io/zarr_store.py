"""zarr stores (directory or zip, zarr format 2 or 3).

Read: the symbreak layout (below), abTEM's ``to_zarr`` output (``array0`` with
``metadata0`` attrs; abTEM's axis order (x, y, kx, ky) is transposed to ours), HyperSpy
``.zspy`` (``Experiments/<title>/data`` with ``axis-i`` groups), and any store holding one
4-D array (or the one named by ``dataset=``).

Layout symbreak writes (zarr format 3 under zarr-python 3, format 2 under zarr-python 2:
see :mod:`.zarr_compat`; readable with ``xarray.open_zarr``)::

    /            attrs["symbreak"] = {format, version, calibration, metadata, provenance,
                 every_chunk_stored}
    data         (scan_y, scan_x, ky, kx), dimension names, Blosc-lz4 + bitshuffle, whole-pattern
                 chunks, every chunk stored (all-zero ones too: a missing chunk is lost data)
    scan_y ...   1-D coordinates [Å or px; mrad, 1/Å or px] with "units" attrs
    ground_truth/   the ground-truth xarray.Dataset written by xarray.to_zarr
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr
import zarr

from ..calibration import Calibration
from ..dataset import AXES, Dataset4D
from ..errors import CalibrationError, FormatError
from . import common
from ..calibration.axes import calibration_from_axes
from .guards.blosc import install as _check_blosc_chunks
from .guards.failures import READ_ERRORS, GuardedArray, detail, reading
from .hdf5 import stored_calibration
from ..storage.ownership import PROOF_ATTR
from .stream import store, write_chunks
from .guards.chunks import ABTEM_AXES, SCAN_AXES, STACK_AXES, check_chunks
from .guards.untrusted import PLAUSIBLE_BYTES, ZIP_ERRORS, BoundedZipStore, check_declared, check_zip
from ..storage.zarr_compat import WRITE_FORMAT, blosc, create_array, members, new_group, \
    unreadable_format

_check_blosc_chunks()  # a damaged chunk must not crash c-blosc (see blosc_guard)

LAYOUT = "symbreak-4dstem"
LAYOUT_VERSION = 1
TRUTH_GROUP = "ground_truth"
EVERY_CHUNK = "every_chunk_stored"  # attrs["symbreak"] key: no chunk of "data" left out


def _store(path: Path) -> Any:
    if path.is_dir():
        return str(path)
    try:
        archive = zipfile.ZipFile(path)
    except ZIP_ERRORS:
        raise FormatError(f"{path}: not a zarr directory or zip store (corrupt or truncated "
                          "zip); copy the file again or pass format=NAME") from None
    with archive:
        check_zip(archive, path)
    return BoundedZipStore(path, mode="r")


def open_root(path: Path) -> zarr.Group | zarr.Array:
    """Open a zarr store read-only with a clear error."""
    store = _store(path)
    try:
        node = zarr.open(store, mode="r")
    except READ_ERRORS as exc:
        reason = unreadable_format(path)
        if reason is not None:
            raise FormatError(reason) from None
        raise FormatError(f"{path}: cannot be opened as a zarr store ({detail(exc)}); it is not "
                          "zarr, or it is incomplete (no zarr.json / .zgroup)") from None
    return node


def _guarded(array: zarr.Array, path: Path, name: str) -> GuardedArray:
    """``array`` for dask, with a plausible declared size and read errors as FormatErrors."""
    nbytes = int(np.prod(array.shape, dtype=object)) * np.dtype(array.dtype).itemsize
    if nbytes > PLAUSIBLE_BYTES:  # only then is the (slow) size of a big store needed
        check_declared(path, f"array {name} {tuple(array.shape)} {array.dtype}", nbytes,
                       common.size_on_disk(path))
    return GuardedArray(array, path, f"array {name}")


def _arrays_4d(root: Any) -> list[str]:
    found = []
    for name, node in members(root, recursive=True):
        if isinstance(node, zarr.Array) and node.ndim == 4:
            found.append(name)
    return sorted(found)


def _pick(root: Any, path: Path, dataset: str | None) -> tuple[str, zarr.Array]:
    if isinstance(root, zarr.Array):
        return "(root)", root
    if dataset is not None:
        try:
            node = root[dataset]
        except KeyError:
            node = None
        if not isinstance(node, zarr.Array):
            raise FormatError(f"{path}: no array {dataset!r}; 4-D arrays in the store: "
                              f"{_arrays_4d(root) or 'none'}")
        return dataset, node
    if "data" in root and isinstance(root["data"], zarr.Array):
        return "data", root["data"]
    found = _arrays_4d(root)
    if len(found) == 1:
        return found[0], root[found[0]]
    if not found:
        raise FormatError(f"{path}: no 4-D array (scan_y, scan_x, ky, kx) in this zarr store; "
                          "pass dataset=NAME (and scan_shape=(ny, nx) for a stack of patterns)")
    raise FormatError(f"{path}: holds several 4-D arrays ({', '.join(found)}); choose one "
                      "with dataset=NAME")


def _attrs_tree(group: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(group.attrs)
    out.pop(PROOF_ATTR, None)  # symbreak's proof that it wrote the store, not metadata
    for name, node in members(group):
        if isinstance(node, zarr.Group):
            out[name] = _attrs_tree(node)
    return out


def _strings(truth: xr.Dataset, kind: str) -> xr.Dataset:
    """Fixed-width unicode <-> object strings: zarr v3 has a stable spec only for the
    variable-length string type, so text goes to disk as objects and comes back as str."""
    # xarray < 2026.9 reads zarr 3 strings as NumPy's StringDType (kind "T"), which a
    # lazy cast cannot turn into fixed-width text: text variables (labels) are read
    source_kinds = ("U",) if kind == "O" else ("O", "T")
    changed = {name: var.compute().astype(object).astype(str) if kind == "U"
               else var.astype(object)
               for name, var in truth.variables.items() if var.dtype.kind in source_kinds}
    return truth.assign_coords({k: v for k, v in changed.items() if k in truth.coords}).assign(
        {k: v for k, v in changed.items() if k not in truth.coords})


# --------------------------------------------------------------------------- readers
def _read_symbreak(path: Path, root: Any, array: zarr.Array) -> dict[str, Any]:
    info = dict(root.attrs.get("symbreak", {}))
    truth = None
    if TRUTH_GROUP in root:
        truth = _strings(xr.open_zarr(_store(path), group=TRUTH_GROUP, consolidated=False),
                         "U")
    return {"calibration": stored_calibration(info.get("calibration", {}), path),
            "metadata": info.get("metadata", {}), "provenance": info.get("provenance", []),
            "ground_truth": truth}


def _abtem_axes(meta: Mapping[str, Any], path: Path) -> list[dict[str, Any]]:
    axes = [meta.get("axes", {}).get(f"axis_{i}", {}) for i in range(4)]
    kinds = [a.get("type") for a in axes]
    if kinds != ["ScanAxis", "ScanAxis", "ReciprocalSpaceAxis", "ReciprocalSpaceAxis"]:
        raise FormatError(
            f"{path}: abTEM array with axes {kinds}; symbreak reads 4D-STEM diffraction patterns "
            "(two ScanAxis + two reciprocal axes): reduce other ensemble axes (e.g. "
            ".mean over frozen phonons) before to_zarr"
        )
    # abTEM order is (x, y, kx, ky); ours is (y, x, ky, kx)
    return [{"scale": a.get("sampling"), "offset": a.get("offset", 0.0),
             "units": a.get("units")} for a in (axes[1], axes[0], axes[3], axes[2])]


def _abtem_index(root: Any, dataset: str | None) -> str | None:
    """"0" for abTEM's ``array0`` / ``metadata0`` pair (or the index ``dataset`` names)."""
    if not isinstance(root, zarr.Group):
        return None
    index = "0" if dataset is None else dataset.removeprefix("array")
    if (dataset is None or dataset.startswith("array")) and f"metadata{index}" in root.attrs \
            and f"array{index}" in root:
        return index
    return None


def _read_abtem(root: Any, index: str, path: Path) -> dict[str, Any]:
    meta = dict(root.attrs[f"metadata{index}"])
    cal = calibration_from_axes(_abtem_axes(meta, path))
    values: dict[str, Any] = {}
    if meta.get("energy"):
        values["energy"] = float(meta["energy"])
    if meta.get("semiangle_cutoff"):
        values["semiangle"] = float(meta["semiangle_cutoff"])
    try:
        cal = cal.replace(source="file", **values)
    except CalibrationError as exc:
        raise FormatError(f"{path}: abTEM metadata{index} holds an invalid energy or "
                          f"semi-angle ({exc}); give the values to load()") from None
    keep = {k: v for k, v in meta.items() if k not in ("axes", "kwargs")}
    keep["axis_order_note"] = "transposed from abTEM (x, y, kx, ky) to (scan_y, scan_x, ky, kx)"
    return {"calibration": cal, "metadata": keep, "provenance": [], "ground_truth": None}


def _read_zspy(root: Any, name: str) -> dict[str, Any]:
    group = root[name.rsplit("/", 1)[0]] if "/" in name else root
    axes = [dict(group[f"axis-{i}"].attrs) if f"axis-{i}" in group else {} for i in range(4)]
    metadata = _attrs_tree(group["metadata"]) if "metadata" in group else {}
    cal = calibration_from_axes(axes, metadata)
    return {"calibration": cal, "metadata": common.jsonable(metadata), "provenance": [],
            "ground_truth": None}


def read(path: Path, *, format: str, dataset: str | None, chunks: Any,
         scan_shape: tuple[int, int] | None, allow_external: bool = False,
         missing_chunks: str = "auto") -> Dataset4D:
    """The 4-D array of the store at ``path``, lazily (``missing_chunks``: see
    :mod:`.zarr_chunks`)."""
    root = open_root(path)
    with reading(path, "the zarr metadata"):
        return _read(root, path, format, dataset, chunks, scan_shape, missing_chunks)


def _missing(root: Any, path: Path, name: str, array: zarr.Array, abtem: bool,
             mode: str) -> dict[str, Any] | None:
    """:func:`~.zarr_chunks.check_chunks` of the array read from the store."""
    attrs = root.attrs.get("symbreak") if isinstance(root, zarr.Group) else None
    promised = name == "data" and isinstance(attrs, dict) and attrs.get(EVERY_CHUNK) is True
    axes = ABTEM_AXES if abtem else STACK_AXES if array.ndim == 3 else SCAN_AXES
    return check_chunks(path, array, name, mode=mode, promised=promised, axes=axes)


def _read(root: Any, path: Path, format: str, dataset: str | None, chunks: Any,
          scan_shape: tuple[int, int] | None, missing_chunks: str = "auto") -> Dataset4D:
    abtem_index = _abtem_index(root, dataset)
    if abtem_index is not None:
        dataset = f"array{abtem_index}"
    name, array = _pick(root, path, dataset)
    if array.ndim == 3 and scan_shape is not None:
        lazy = common.reshape_stack(common.as_dask(_guarded(array, path, name),
                                                   (scan_shape[1],) + array.shape[1:]),
                                    scan_shape, path)
    else:
        common.check_4d(array.shape, array.dtype, path, f"array {name}")
        lazy = common.as_dask(_guarded(array, path, name), chunks)
    common.check_4d(lazy.shape, lazy.dtype, path, f"array {name}")
    missing = _missing(root, path, name, array, abtem_index is not None, missing_chunks)
    if abtem_index is not None:
        info = _read_abtem(root, abtem_index, path)
        lazy = lazy.transpose(1, 0, 3, 2)
    elif isinstance(root, zarr.Group) and "symbreak" in root.attrs:
        info = _read_symbreak(path, root, array)
    elif isinstance(root, zarr.Group) and (name.startswith("Experiments/") or format == "zspy"):
        info = _read_zspy(root, name)
    else:
        info = {"calibration": Calibration(), "metadata": {}, "provenance": [],
                "ground_truth": None}
    if missing is not None:
        checks = info["metadata"].get("input_checks")
        info["metadata"] = {**info["metadata"], "input_checks": {
            **(checks if isinstance(checks, dict) else {}), **missing}}
    return Dataset4D(array=lazy, calibration=info["calibration"], metadata=info["metadata"],
                     provenance=tuple(info["provenance"]), source=str(path),
                     ground_truth=info["ground_truth"])


# --------------------------------------------------------------------------- writer
def _compressor(dtype: np.dtype) -> Any:
    # lz4 + bitshuffle: ~400 MB/s per core on detector counts at a ratio close to zstd's;
    # zstd level 3 compressed 10x slower and made writing the bottleneck
    return blosc("lz4", 5, "bitshuffle", typesize=dtype.itemsize)


def write(data: Dataset4D, path: Path, *, chunks: Any, progress: bool | None) -> None:
    """Write ``data`` as a new zarr directory store at ``path`` (format 3, or 2 under
    zarr-python 2), streaming."""
    chunk_shape = write_chunks(data, chunks)
    root = new_group(path)
    root.attrs["symbreak"] = common.jsonable({
        "format": LAYOUT, "version": LAYOUT_VERSION,
        "calibration": data.calibration.to_dict(), "metadata": dict(data.metadata),
        "provenance": list(data.provenance), "source": data.source, EVERY_CHUNK: True,
    })
    for axis, (values, unit) in data.coords().items():
        coord = create_array(root, axis, shape=values.shape, dtype=values.dtype,
                             dimension_names=(axis,))
        coord[:] = values
        coord.attrs["units"] = unit
    target = create_array(
        root, "data", shape=data.shape, dtype=data.dtype, chunks=chunk_shape,
        compressor=_compressor(data.dtype), dimension_names=AXES, fill_value=0,
        every_chunk=True,
    )
    target.attrs.update({"long_name": "intensity",
                         "units": "counts" if data.dtype.kind in "biu" else "arb. unit"})
    if data.ground_truth is not None:
        _strings(data.ground_truth, "O").to_zarr(str(path), group=TRUTH_GROUP, mode="w",
                                                 zarr_format=WRITE_FORMAT, consolidated=False)
    store(data, target, chunks=chunk_shape, progress=progress)
