"""zarr-python 2.18 and 3.x behind one small API.

symbreak runs with either major version of zarr-python, so that it installs beside
packages that still need zarr 2 (pyxem 0.21, HyperSpy's ``.zspy`` through RosettaSciIO).
Both read zarr format 2 stores; only zarr-python 3 reads format 3. Stores are written in
the newest format the installed zarr writes: format 3 under zarr 3 (dimension names in
the array metadata), format 2 under zarr 2 (dimension names in the ``_ARRAY_DIMENSIONS``
attribute, as xarray writes them). ``xarray.open_zarr`` opens either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import zarr

ZARR_MAJOR = int(zarr.__version__.split(".")[0])
WRITE_FORMAT = 3 if ZARR_MAJOR >= 3 else 2
SHUFFLES = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}  # numcodecs.Blosc constants


def blosc(cname: str, clevel: int, shuffle: str, typesize: int | None = None) -> Any:
    """A Blosc compressor for :func:`create_array` (a zarr 3 codec or a numcodecs codec).

    Parameters
    ----------
    cname, clevel
        Blosc compressor name (``"lz4"``, ``"zstd"`` ...) and level (0-9).
    shuffle
        ``"noshuffle"``, ``"shuffle"`` (bytes) or ``"bitshuffle"``.
    typesize
        Item size [bytes] for the shuffle; zarr 2 takes it from the data.
    """
    if ZARR_MAJOR >= 3:
        from zarr.codecs import BloscCodec

        extra = {} if typesize is None else {"typesize": typesize}
        return BloscCodec(cname=cname, clevel=clevel, shuffle=shuffle, **extra)
    from numcodecs import Blosc

    return Blosc(cname=cname, clevel=clevel, shuffle=SHUFFLES[shuffle])


def create_array(parent: Any, name: str | None = None, *, shape: Sequence[int], dtype: Any,
                 chunks: Sequence[int] | None = None, compressor: Any = None,
                 dimension_names: Sequence[str] | None = None,
                 fill_value: Any = None, every_chunk: bool = False) -> zarr.Array:
    """A new array ``name`` in the group ``parent``, or a new store at the path ``parent``.

    ``compressor=None`` stores the chunks uncompressed; ``chunks=None`` lets zarr choose.
    ``dimension_names`` are what ``xarray.open_zarr`` names the dimensions.
    ``fill_value`` is for format 3 only: in a format 2 store xarray reads the fill value
    as a missing-value marker (zeros would come back as NaN), so none is written there.
    ``every_chunk`` stores chunks equal to the fill value too (zarr 3 leaves them out by
    default), so that a chunk missing from the store is known to be lost.
    """
    dtype = np.dtype(dtype)
    if ZARR_MAJOR >= 3:
        kwargs = dict(shape=tuple(shape), dtype=dtype, chunks="auto" if chunks is None
                      else tuple(chunks), compressors=None if compressor is None
                      else [compressor], dimension_names=dimension_names,
                      fill_value=fill_value)
        if every_chunk:
            kwargs["config"] = {"write_empty_chunks": True}
        if isinstance(parent, (str, Path)):
            return zarr.create_array(str(parent), zarr_format=3, **kwargs)
        return parent.create_array(name, **kwargs)
    # zarr 2 writes every chunk when there is no fill value to compare with
    kwargs = dict(shape=tuple(shape), dtype=dtype, chunks=True if chunks is None
                  else tuple(chunks), compressor=compressor, fill_value=None)
    if isinstance(parent, (str, Path)):
        array = zarr.open_array(str(parent), mode="w-", **kwargs)
    else:
        array = parent.create_dataset(name, **kwargs)
    if dimension_names is not None:
        array.attrs["_ARRAY_DIMENSIONS"] = list(dimension_names)
    return array


def new_group(path: str | Path) -> zarr.Group:
    """A new, empty group at ``path`` (an error if something is there)."""
    if ZARR_MAJOR >= 3:
        return zarr.open_group(str(path), mode="w-", zarr_format=3)
    return zarr.open_group(str(path), mode="w-")


def members(group: Any, recursive: bool = False) -> list[tuple[str, Any]]:
    """(path relative to ``group``, array or group) for the children of ``group``, or for
    everything below it with ``recursive=True``."""
    if ZARR_MAJOR >= 3:
        return list(group.members(max_depth=None if recursive else 0))
    if not recursive:
        return list(group.items())
    found: list[tuple[str, Any]] = []
    group.visititems(lambda name, node: found.append((name, node)))
    return found


def folder_of(array: Any) -> str | None:
    """The local folder of the store holding ``array``; None for other stores (zip,
    memory, remote)."""
    store = getattr(array, "store", None)
    if ZARR_MAJOR >= 3:
        root = getattr(store, "root", None)
        return None if root is None else str(root)
    from zarr.storage import DirectoryStore

    return str(store.path) if isinstance(store, DirectoryStore) else None


def is_zarr_array(target: Any) -> bool:
    """Whether ``target`` is a zarr array (either zarr-python version)."""
    return isinstance(target, zarr.Array)


def unreadable_format(path: Path) -> str | None:
    """Why the installed zarr cannot open the store at ``path`` (a format 3 store under
    zarr 2), with the fix; None when that is not the reason."""
    if ZARR_MAJOR < 3 and Path(path, "zarr.json").is_file():
        return (f"{path} is a zarr format 3 store, which needs zarr-python 3 (installed: "
                f"{zarr.__version__}); install zarr>=3 where no package pins zarr<3, or "
                "convert it there to .h5 (symbreak convert IN OUT.h5)")
    return None


def writing_every_chunk(array: zarr.Array) -> zarr.Array:
    """``array`` (opened again to continue a write) storing chunks equal to the fill
    value too, as :func:`create_array` with ``every_chunk=True``."""
    if ZARR_MAJOR >= 3:
        return array.with_config({"write_empty_chunks": True})
    return array  # zarr 2: no fill value in symbreak's stores, every chunk is written


def storage_chunks(array: zarr.Array) -> tuple[int, ...]:
    """The shape of one stored object of ``array``: its shard (zarr 3 sharding) or chunk."""
    shards = getattr(array, "shards", None) if ZARR_MAJOR >= 3 else None
    return tuple(int(c) for c in (shards or array.chunks))


def chunk_key(array: zarr.Array, coords: Sequence[int]) -> str:
    """The store key of the stored object at grid position ``coords``, relative to the
    array's own folder (``c/0/1/0/0`` in format 3, ``0.1.0.0`` in format 2)."""
    if ZARR_MAJOR >= 3:
        return array.metadata.encode_chunk_key(tuple(coords))
    separator = getattr(array, "_dimension_separator", None) or "."
    return separator.join(str(int(c)) for c in coords)
