"""Checks on files from elsewhere before anything is read or allocated.

* zip archives (``.ndata1``, zarr zip stores): member names must be relative paths inside
  the archive (no ``..``, no absolute or drive paths), the member count and
  the declared uncompressed sizes must be plausible (a zip bomb declares more than deflate
  can give: at most ~1032 times the compressed size), and no member may declare more
  bytes than the memory budget, since a member is decompressed into memory to be read.
* HDF5: external links, virtual datasets with sources in other files and datasets with
  external raw storage make h5py read other files; they are refused unless the user passes
  ``allow_external=True``.
* declared array sizes: a header (npy, HDF5, zarr) declaring far more bytes than the file
  can hold is refused before dask or numpy allocates anything.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

import h5py

from ..engine import COPIES_DECOMPRESSED, budget_bytes, fits_budget
from ..errors import FormatError

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
    total = sum(i.file_size for i in infos)
    biggest = max(infos, key=lambda i: i.file_size, default=None)
    if biggest is not None and biggest.compress_type != zipfile.ZIP_STORED \
            and not fits_budget(biggest.file_size, COPIES_DECOMPRESSED):
        raise FormatError(f"{path}: zip member {biggest.filename!r} declares "
                          f"{biggest.file_size:,} bytes uncompressed, more than the memory "
                          f"budget ({budget_bytes():,} bytes); refusing it as a zip bomb (re-zip the "
                          "data stored, zip -0, or raise SYMBREAK_MEMORY_BUDGET)")
    compressed = sum(i.compress_size for i in infos)
    if total > PLAUSIBLE_BYTES and total > MAX_ZIP_RATIO * max(compressed, 1):
        raise FormatError(f"{path}: zip archive declares {total:,} bytes uncompressed from "
                          f"{compressed:,} compressed (ratio > {MAX_ZIP_RATIO}); refusing it "
                          "as a zip bomb")


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
