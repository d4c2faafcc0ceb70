"""Checks on files from elsewhere before anything is read or allocated.

* zip archives (``.ndata1``, zarr zip stores): member names must be relative paths inside
  the archive (no ``..``, no absolute or drive paths), the member count and
  the declared uncompressed sizes must be plausible (a zip bomb declares more than deflate
  can give: at most ~1032 times the compressed size), and no member may declare more
  bytes than the memory budget, since a member is decompressed into memory to be read.
  Members are stored or deflated (bzip2 and LZMA output cannot be bounded while zipfile
  reads it), and they are decompressed in blocks of at most :data:`ZIP_BLOCK` bytes, never
  beyond the size the archive declares (:func:`read_member`, :class:`BoundedZipFile`):
  zipfile's own ``read()`` inflates up to 1 GiB at a time whatever the member declares.
* HDF5: external links, virtual datasets with sources in other files and datasets with
  external raw storage make h5py read other files; they are refused unless the user passes
  ``allow_external=True``.
* declared array sizes: a header (npy, HDF5, zarr) declaring far more bytes than the file
  can hold is refused before dask or numpy allocates anything.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import h5py
from zarr.storage import ZipStore

from ...engine import COPIES_DECOMPRESSED, placement
from ...errors import FormatError
from ...storage.zarr_compat import ZARR_MAJOR

# what zipfile raises on a damaged archive (NotImplementedError: a version or compression
# field it does not know, e.g. "zip file version 8.4" from a flipped byte)
ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError)
MAX_ZIP_MEMBERS = 1_000_000
# deflate's limit is 1032:1; any declared ratio above this is a lie or a bomb
MAX_ZIP_RATIO = 1100
# a container's filters give at most this ratio on detector data; beyond it (and above
# PLAUSIBLE_BYTES) a declared shape is taken for a corrupt header
MAX_DECLARED_RATIO = 100_000
PLAUSIBLE_BYTES = 2**30
ZIP_BLOCK = 1 << 20  # bytes decompressed at a time from a zip member
MAX_METADATA_BYTES = 64 * 2**20  # a JSON metadata member (zarr.json, metadata.json)
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
METADATA_NAMES = (".json", ".zarray", ".zattrs", ".zgroup", ".zmetadata")


def _unsafe_name(name: str) -> bool:
    if not name or "\0" in name or "\\" in name:
        return True
    posix = PurePosixPath(name)
    return posix.is_absolute() or ".." in posix.parts or (len(name) > 1 and name[1] == ":")


def check_zip(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse path-traversal member names and zip bombs. (A name may appear twice: zarr's
    ZipStore appends rewritten metadata, and the last copy counts, as in zipfile.)"""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise FormatError(f"{path}: zip archive declares {len(infos):,} members (more than "
                          f"{MAX_ZIP_MEMBERS:,}); refusing it as corrupt or a zip bomb")
    for info in infos:
        if _unsafe_name(info.filename):
            raise FormatError(f"{path}: zip member name {info.filename!r} points outside the "
                              "archive (absolute path or '..'); refusing the file: ask its "
                              "author for a clean copy")
    for info in infos:
        _check_member(info, path)
    total = sum(i.file_size for i in infos)
    biggest = max(infos, key=lambda i: i.file_size, default=None)
    if biggest is not None and biggest.compress_type != zipfile.ZIP_STORED \
            and (room := placement(biggest.file_size, COPIES_DECOMPRESSED)).streamed:
        raise FormatError(f"{path}: zip member {biggest.filename!r} declares "
                          f"{biggest.file_size:,} bytes uncompressed, more than the memory "
                          f"budget ({room.budget:,} bytes); refusing it as a zip bomb (re-zip the "
                          "data stored, zip -0, or raise SYMBREAK_MEMORY_BUDGET)")
    compressed = sum(i.compress_size for i in infos)
    if total > PLAUSIBLE_BYTES and total > MAX_ZIP_RATIO * max(compressed, 1):
        raise FormatError(f"{path}: zip archive declares {total:,} bytes uncompressed from "
                          f"{compressed:,} compressed (ratio > {MAX_ZIP_RATIO}); refusing it "
                          "as a zip bomb")


def _check_member(info: zipfile.ZipInfo, path: Path) -> None:
    """Refuse a member whose decompression cannot be bounded (bzip2, LZMA: zipfile inflates
    a whole read of them at once) and a compressed metadata member declaring more than
    :data:`MAX_METADATA_BYTES`."""
    if info.compress_type not in ZIP_METHODS and not info.is_dir():
        raise FormatError(f"{path}: zip member {info.filename!r} is compressed with method "
                          f"{info.compress_type} (not stored or deflate), whose output symbreak "
                          "cannot bound while reading; re-zip the data stored (zip -0) or "
                          "with deflate")
    if info.compress_type != zipfile.ZIP_STORED and info.filename.endswith(METADATA_NAMES) \
            and info.file_size > MAX_METADATA_BYTES:
        raise FormatError(f"{path}: zip member {info.filename!r} declares {info.file_size:,} "
                          f"bytes of metadata (more than {MAX_METADATA_BYTES:,}); refusing it "
                          "as a zip bomb")


def read_member(archive: zipfile.ZipFile, name: str, path: Path,
                limit: int = MAX_METADATA_BYTES) -> bytes:
    """The bytes of member ``name``, decompressed in blocks into a buffer of the size the
    archive declares (at most ``limit``).

    Raises
    ------
    FormatError
        The member declares more than ``limit`` bytes, or holds fewer than it declares.
    """
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise FormatError(f"{path}: zip member {name!r} declares {info.file_size:,} bytes, "
                          f"more than the {limit:,} symbreak reads for it; refusing it as "
                          "corrupt or a zip bomb")
    out = bytearray(info.file_size)
    with archive.open(info) as member:
        filled = fill(member, memoryview(out), path, name)
    return bytes(out[:filled])


def fill(member: Any, out: memoryview, path: Path, name: str) -> int:
    """Read ``len(out)`` bytes from the open zip ``member`` into ``out``, block by block;
    the number of bytes read. A member that ends early is refused."""
    done = 0
    while done < len(out):
        block = member.read(min(ZIP_BLOCK, len(out) - done))
        if not block:
            raise FormatError(f"{path}: zip member {name!r} ends after {done:,} of the "
                              f"{len(out):,} bytes it declares; the file is truncated or "
                              "corrupt: copy it again")
        out[done:done + len(block)] = block
        done += len(block)
    return done


class _BoundedMember:
    """An open zip member whose ``read()`` of everything goes block by block."""

    def __init__(self, member: Any, size: int) -> None:
        self._member, self._size = member, size

    def read(self, n: int | None = -1) -> bytes:
        if n is not None and n >= 0:
            return self._member.read(n)
        out = bytearray(max(self._size - self._member.tell(), 0))
        done = 0
        while done < len(out):
            block = self._member.read(min(ZIP_BLOCK, len(out) - done))
            if not block:
                break
            out[done:done + len(block)] = block
            done += len(block)
        return bytes(out[:done])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._member, name)

    def __enter__(self) -> "_BoundedMember":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._member.close()


class BoundedZipFile(zipfile.ZipFile):
    """A ZipFile whose members read whole (``open(name).read()``, as zarr's ZipStore does)
    are decompressed :data:`ZIP_BLOCK` bytes at a time into a buffer of the declared size,
    instead of zipfile's up to 1 GiB at once."""

    def open(self, name: Any, mode: str = "r", pwd: Any = None, *,
             force_zip64: bool = False) -> Any:
        member = super().open(name, mode, pwd, force_zip64=force_zip64)
        if mode != "r":
            return member
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        return _BoundedMember(member, info.file_size)


def check_declared(path: Path, what: str, nbytes: int, stored: int) -> None:
    """Refuse an array declaring implausibly many bytes for the ``stored`` bytes."""
    if nbytes > PLAUSIBLE_BYTES and nbytes > MAX_DECLARED_RATIO * max(stored, 1):
        raise FormatError(f"{path}: {what} declares {nbytes:,} bytes but the file stores only "
                          f"{stored:,}; its header is corrupt (or the data was never written): "
                          "copy or write the file again")


# --------------------------------------------------------------------------- HDF5
def external_references(f: h5py.File) -> list[str]:
    """Every place where reading ``f`` would make HDF5 open another file, as text."""
    links: list[tuple[str, int]] = []
    # the callback only collects: an exception raised inside an h5py callback surfaces
    # as a SystemError
    f.id.links.visit(lambda name, info: links.append((name.decode(errors="replace"),
                                                      info.type)), info=True)
    found: list[str] = []
    for name, kind in links:
        if kind == h5py.h5l.TYPE_EXTERNAL:
            target_file, target = f.id.links.get_val(name.encode())
            found.append(f"external link /{name} -> {target_file.decode(errors='replace')}:"
                         f"{target.decode(errors='replace')}")
        elif kind not in (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT):
            found.append(f"user-defined link /{name}")
        if kind != h5py.h5l.TYPE_HARD:
            continue
        obj = f.get(name)
        if not isinstance(obj, h5py.Dataset):
            continue
        if obj.external:
            found.append(f"dataset /{name} stores its data in external file(s) "
                         f"{sorted({str(e[0]) for e in obj.external})}")
        if obj.is_virtual:
            sources = sorted({m.file_name for m in obj.virtual_sources()} - {"."})
            if sources:
                found.append(f"virtual dataset /{name} reads from {sources}")
    return found


def check_external(f: h5py.File, path: Path, allow_external: bool) -> None:
    """Refuse a file that points to other files unless ``allow_external``."""
    if allow_external:
        return
    found = external_references(f)
    if found:
        raise FormatError(f"{path}: the file refers to other files ({'; '.join(found[:3])}"
                          f"{'; ...' if len(found) > 3 else ''}), which symbreak does not "
                          "follow by default; pass allow_external=True if you trust them")


class BoundedZipStore(ZipStore):  # type: ignore[misc, valid-type]
    """zarr's read-only ``ZipStore`` reading each member in bounded blocks, never beyond
    the size the archive declares (:class:`BoundedZipFile`), also
    after unpickling on a worker."""

    if ZARR_MAJOR >= 3:
        def _sync_open(self) -> None:
            super()._sync_open()
            self._zf.__class__ = BoundedZipFile
    else:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.zf.__class__ = BoundedZipFile
