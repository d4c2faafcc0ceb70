"""Implementation of :func:`symbreak.io.load`, :func:`save` and :func:`formats`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..convert import as_dataset
from ..dataset import Dataset4D
from ..errors import SettingsError
from ..storage.atomic import check_output
from .common import existing_path
from .hdf5_probe import looks_like_hdf5, probe
from .registry import FORMATS, format_for, writer_for
from .spec import InputSpec
from .guards.chunks import check_mode
from .stream import write_output

__all__ = ["load", "save", "formats"]


def formats() -> list[dict[str, Any]]:
    """The supported formats: name, suffixes, description, calibration source, writable."""
    return [{"name": f.name, "suffixes": list(f.suffixes), "reader": f"symbreak.io.{f.module}",
             "description": f.description, "writes": f.writes, "calibration": f.calibration}
            for f in FORMATS]


def _scan_shape(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        ny, nx = (int(v) for v in value)
    except (TypeError, ValueError):
        raise SettingsError(f"scan_shape must be (ny, nx), got {value!r}") from None
    if ny <= 0 or nx <= 0:
        raise SettingsError(f"scan_shape must be positive, got {value!r}")
    return ny, nx


def load(
    path: str | os.PathLike | InputSpec,
    *,
    dataset: str | None = None,
    format: str | None = None,
    chunks: Any = "auto",
    scan_shape: tuple[int, int] | None = None,
    allow_external: bool = False,
    missing_chunks: str | None = None,
    **calibration: Any,
) -> Dataset4D:
    """Open a 4D-STEM file lazily.

    Parameters
    ----------
    path
        File or zarr store (format by suffix and content; see :func:`formats`), or an
        :class:`~symbreak.io.spec.InputSpec` holding the file and the options below
        (keywords given here take precedence over the spec's).
    dataset
        Which array to read where a file holds several (HDF5 / zarr path, or signal
        index for RosettaSciIO formats).
    format
        Force a reader by name (``"zarr"``, ``"emd"``, ``"hdf5"``, ``"paper-h5"``, ...).
    chunks
        Dask chunks; ``"auto"`` gives whole-pattern chunks within the memory budget
        (memory maps stay memory maps).
    scan_shape
        (ny, nx) to reshape a 3-D stack of patterns (n, ky, kx) into a scan.
    allow_external
        Follow references to other files in HDF5 files (external links, virtual
        datasets, external raw storage). Off by default: a file from elsewhere could
        otherwise make symbreak read any file this user can read.
    missing_chunks
        zarr stores: what to do with chunks missing from the store. ``"auto"`` (default)
        refuses a store symbreak wrote (it stores every chunk: a missing one is lost data)
        and reads other stores' missing chunks as the fill value with a warning (zarr
        leaves out chunks equal to the fill value); ``"refuse"`` refuses any store with a
        missing chunk; ``"zeros"`` reads them as the fill value (zero patterns), warned and
        counted in ``metadata["input_checks"]``.
    **calibration
        Calibration values that override the file's (``energy`` [eV], ``semiangle``
        [mrad], ``scan_step`` [Å], ``angular_sampling`` [mrad/px], ``k_sampling``
        [1/Å/px], ``detector_center`` [px], ``scan_rotation`` [rad], ``scan_flip``);
        recorded with source ``"user"``.

    Returns
    -------
    Dataset4D
        Lazy or memory-mapped data with calibration, metadata, provenance and (for files
        symbreak wrote) ground truth.
    """
    if isinstance(path, InputSpec):
        return _load_spec(path, dataset=dataset, format=format, chunks=chunks,
                          scan_shape=scan_shape, allow_external=allow_external,
                          missing_chunks=missing_chunks, **calibration)
    missing = check_mode(missing_chunks)
    path = existing_path(path)
    if path.is_file() and looks_like_hdf5(path):
        probe(path)  # before any h5py call here: a damaged file can crash libhdf5
    fmt = format_for(path, format)
    if path.is_dir() and fmt.name not in ("zarr", "zspy"):
        raise SettingsError(f"{path} is a directory; {fmt.name} data is a file: give the file")
    extra = {"missing_chunks": missing} if fmt.module == "zarr_store" else {}
    data = fmt.reader().read(path, format=fmt.name, dataset=dataset, chunks=chunks,
                             scan_shape=_scan_shape(scan_shape),
                             allow_external=bool(allow_external), **extra)
    step = {"step": "load", "path": str(path), "format": fmt.name}
    if dataset is not None:
        step["dataset"] = dataset
    data = data.replace(step=step)
    return data.with_calibration(source="user", **calibration)


def _load_spec(spec: InputSpec, *, dataset: str | None, format: str | None, chunks: Any,
               scan_shape: Any, allow_external: bool, missing_chunks: str | None,
               **calibration: Any) -> Dataset4D:
    """:func:`load` of an :class:`InputSpec`; keywords given to load take precedence."""
    return load(spec.path, dataset=dataset if dataset is not None else spec.dataset,
                format=format or spec.format, chunks=chunks,
                scan_shape=scan_shape if scan_shape is not None else spec.scan_shape,
                allow_external=allow_external or spec.allow_external,
                missing_chunks=missing_chunks or spec.missing_chunks,
                **{**spec.calibration.given(), **calibration})


def save(
    data: Any,
    path: str | os.PathLike,
    *,
    format: str | None = None,
    chunks: Any = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
) -> Path:
    """Write 4D-STEM data (any input :func:`symbreak.as_dataset` takes), streaming.

    Parameters
    ----------
    data
        Dataset4D, numpy/dask array, xarray, HyperSpy or py4DSTEM object. Lazy data is
        computed chunk by chunk, never as a whole.
    path
        Output: ``.zarr`` (default layout; xarray can open it) or ``.h5``/``.emd``
        (EMD 1.0, readable by py4DSTEM).
    format
        ``"zarr"`` or ``"emd"``; default from the suffix.
    chunks
        On-disk chunk shape (scan_y, scan_x, ky, kx); default: whole patterns within the
        memory budget.
    overwrite
        Replace an existing output (only once the new one is complete).
    resume
        Continue a zarr write that an earlier call with the same data and options left
        unfinished (killed): finished chunks are kept (see docs/formats.md).
    progress
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    Path
        The written path. The data goes to a temporary name first and is renamed at the
        end, under a lock against a second writer, so a failed write leaves nothing under
        the final name.
    """
    path = Path(path).expanduser()
    writer_for(path, format)
    check_output(path, overwrite)
    return write_output(as_dataset(data), path, format=format, chunks=chunks,
                        overwrite=overwrite, resume=resume, progress=progress, what="save")
