"""Writing HyperSpy HDF5 (``.hspy``) with RosettaSciIO's own writer, so that
``hyperspy.api.load`` opens symbreak's output as a pyxem ``ElectronDiffraction2D`` (or a
Signal2D without pyxem) with calibrated axes and metadata.

Layout: what HyperSpy writes (``/Experiments/<title>/data``, ``axis-0..3``, ``metadata``)
with the axes and metadata of :func:`symbreak.interop.hyperspy.hyperspy_axes` and
:func:`~symbreak.interop.hyperspy.hyperspy_metadata`; the data uncompressed in chunks of
whole patterns, written chunk by chunk from a dask array. :func:`symbreak.load` reads the
file back with every calibration value and its source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..dataset import Dataset4D
from ..interop.hyperspy import hyperspy_axes, hyperspy_metadata
from .stream import write_chunks

SUFFIXES = (".hspy",)


def signal_dict(data: Dataset4D, chunks: Any = None) -> dict[str, Any]:
    """The RosettaSciIO signal dict for ``data`` (its array as dask, chunked for writing)."""
    chunk_shape = write_chunks(data, chunks)
    return {"data": data.to_dask(chunk_shape), "axes": hyperspy_axes(data),
            "metadata": hyperspy_metadata(data), "original_metadata": {},
            "attributes": {"_lazy": False}, "tmp_parameters": {}, "learning_results": {},
            "models": {}, "package_info": {"name": "symbreak", "version": _version()}}


def _version() -> str:
    from .. import __version__

    return __version__


def write(data: Dataset4D, path: Path, *, chunks: Any, progress: bool | None) -> None:
    """Write ``data`` as a new ``.hspy`` file at ``path``, chunk by chunk."""
    from rsciio.hspy import file_writer

    signal = signal_dict(data, chunks)
    file_writer(str(path), signal, chunks=tuple(signal["data"].chunksize), compression=None,
                show_progressbar=bool(progress))
