"""Whose folder is it: the proof that a folder is an output symbreak wrote.

:func:`mark` writes a random id twice: into the marker ``.symbreak-output/zarr.json`` (an
empty zarr group whose attributes name the command and version) and into the folder's
own metadata (the root attributes of a zarr store, else the file :data:`PROOF`).
:func:`is_owned` accepts a folder only when both are there and agree, so an empty
marker, ``{}``, a marker copied into another folder or the names of the entries never
make a folder symbreak's, and ``overwrite`` never removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import uuid
from pathlib import Path

from ..errors import SettingsError
from .paths import display

MARKER = ".symbreak-output"
MARKER_FILE = "zarr.json"
PROOF = ".symbreak-owner.json"  # a folder's own record of its marker's id (not zarr)
PROOF_ATTR = "symbreak_output_id"  # the same in a zarr store's root attributes
ID_KEY = "output_id"
ROOT_ZARR = "zarr.json"
ROOT_LIMIT = 64 << 20  # a root zarr.json with consolidated metadata can be large
NEW = ".symbreak-new"  # a record being written, renamed over the old one when complete


def is_owned(path: Path) -> bool:
    """True for an output that ``overwrite`` may replace: a regular file, or a folder
    that symbreak wrote: its :data:`MARKER` record names a random id (:func:`mark`) that
    the folder's own metadata repeats (the root ``zarr.json`` attributes of a zarr store,
    else the file :data:`PROOF`). An empty marker, ``{}``, a marker copied into another
    folder or the names of the entries prove nothing."""
    if path.is_symlink():
        return False
    if path.is_dir():
        found = output_id(path)
        return found is not None and found in _proofs(path)
    return path.is_file()


def output_id(folder: Path) -> str | None:
    """The id in ``folder``'s marker record, or None when the record is missing, not a
    regular file or lacks the expected keys and types."""
    if (folder / MARKER).is_symlink():
        return None
    record = _read_json(folder / MARKER / MARKER_FILE)
    attrs = record.get("attributes") if isinstance(record, dict) else None
    if not (isinstance(attrs, dict) and record.get("zarr_format") == 3
            and record.get("node_type") == "group" and attrs.get("written_by") == "symbreak"
            and isinstance(attrs.get("what"), str) and _is_id(attrs.get(ID_KEY))):
        return None
    return attrs[ID_KEY]


def _is_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(
        c in "0123456789abcdef" for c in value)


def _proofs(folder: Path) -> set[str]:
    """The ids ``folder``'s own metadata records (root zarr attributes, :data:`PROOF`)."""
    found = []
    root = _read_json(folder / ROOT_ZARR, limit=ROOT_LIMIT)
    if isinstance(root, dict) and isinstance(root.get("attributes"), dict):
        found.append(root["attributes"].get(PROOF_ATTR))
    proof = _read_json(folder / PROOF)
    if isinstance(proof, dict) and proof.get("written_by") == "symbreak":
        found.append(proof.get(ID_KEY))
    return {i for i in found if _is_id(i)}  # a tampered value may be any JSON


def _read_json(path: Path, limit: int = 1 << 16) -> object:
    """JSON of a regular file (never through a link) of at most ``limit`` bytes, or None."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or os.lstat(path).st_size > limit:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def mark(folder: Path, what: str = "output") -> None:
    """Write the proof that lets a later ``overwrite`` replace ``folder`` (nothing when
    the folder is symbreak's already, so its id never changes).

    A new random id goes first into the folder's own metadata (the root ``zarr.json``
    attributes of a zarr store, else the file :data:`PROOF`), then into the marker
    ``MARKER/zarr.json``: an empty zarr group whose attributes say who wrote the folder
    (inside a zarr store, zarr sees an empty group there, never an unknown object).
    """
    from .. import __version__

    if is_owned(folder):
        return
    new = uuid.uuid4().hex
    root = _read_json(folder / ROOT_ZARR, limit=ROOT_LIMIT)
    if isinstance(root, dict) and root.get("node_type") == "group" and \
            isinstance(root.setdefault("attributes", {}), dict):
        root["attributes"][PROOF_ATTR] = new
        _write_json(folder / ROOT_ZARR, root)
    else:
        _write_json(folder / PROOF, {"written_by": "symbreak", ID_KEY: new})
    (folder / MARKER).mkdir(exist_ok=True)
    record = {"zarr_format": 3, "node_type": "group",
              "attributes": {"written_by": "symbreak", "what": what, "version": __version__,
                             ID_KEY: new}}
    _write_json(folder / MARKER / MARKER_FILE, record)


def _write_json(path: Path, record: dict) -> None:
    """Replace ``path`` by the JSON of ``record`` (written beside it, then renamed)."""
    tmp = path.with_name(path.name + NEW)
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, path)


def make_marked_folder(path: Path, what: str) -> None:
    """Create the new folder ``path`` with symbreak's proof in it (FileExistsError when
    something is there)."""
    path.mkdir()
    mark(path, what)


def is_leftover(path: Path, besides: frozenset[str] = frozenset()) -> bool:
    """True for a folder a killed symbreak run left: one of its own (:func:`is_owned`),
    or one killed while its proof was being written (holding nothing but parts of it,
    and entries named in ``besides``, which the caller checks itself)."""
    if path.is_symlink() or not path.is_dir():
        return False
    if is_owned(path):
        return True
    try:
        entries = {p.name: p for p in path.iterdir() if p.name not in besides}
    except OSError:
        return False
    if not set(entries) <= {PROOF, PROOF + NEW, MARKER} or not all(
            _proof_part(p) for name, p in entries.items() if name != MARKER):
        return False
    marker = entries.get(MARKER)
    if marker is None:
        return True
    if marker.is_symlink() or not marker.is_dir():
        return False
    return all(p.name in (MARKER_FILE, MARKER_FILE + NEW) and _proof_part(p)
               for p in marker.iterdir())


def _proof_part(path: Path) -> bool:
    """A file of a proof being written: empty (killed before its bytes), or a record of
    symbreak's with an id."""
    if path.is_symlink() or not path.is_file():
        return False
    if path.stat().st_size == 0:
        return True
    record = _read_json(path)
    attrs = record.get("attributes", record) if isinstance(record, dict) else None
    return isinstance(attrs, dict) and attrs.get("written_by") == "symbreak" and \
        _is_id(attrs.get(ID_KEY))


def remove_leftover(path: Path, what: str) -> None:
    """Remove what a killed run left at ``path`` (a temporary or staging folder of
    symbreak's, see :func:`is_leftover`); refuse anything else at that name."""
    if not (path.exists() or path.is_symlink()):
        return
    if not is_leftover(path):
        raise SettingsError(
            f"{display(path)} is in the way of the {what} and symbreak did not write it (no "
            f"valid {MARKER} marker); move it away or choose another output path")
    shutil.rmtree(path)


def holds_only_proof(folder: Path) -> bool:
    """True for a folder of symbreak's that holds nothing but its proof (made for an
    output that was never written: it can go)."""
    return (folder.is_dir() and not folder.is_symlink() and is_owned(folder)
            and {p.name for p in folder.iterdir()} <= {PROOF, MARKER})
