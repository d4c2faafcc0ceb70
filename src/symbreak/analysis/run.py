"""The output folder of an analysis: checks, lock, checkpoints and the final write.

``OUT/results.zarr``, the model ``OUT/model/`` and the settings ``OUT/settings.toml``
are assembled in a sibling staging folder, which is then swapped with ``OUT`` in one
rename: ``OUT`` is always either the old analysis or the new one, never a mixture, and
``results.zarr`` in it means the analysis finished. While the rrVAE trains its
checkpoints live in ``OUT/.checkpoints`` so that an interrupted run can be resumed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Iterator, Mapping

import xarray as xr

from ..errors import OutputExistsError, SettingsError
from ..storage.atomic import TEMP_MARK, remove, remove_stale
from ..storage.lock import LOCK_NAME, output_lock
from ..storage.ownership import holds_only_proof
from ..storage.safe_output import (MARKER, PROOF, check_place, display, exchange, is_leftover,
                              is_owned, make_marked_folder, mark, remove_leftover,
                              rename_new)
from .settings import AnalyzeSettings

CHECKPOINTS = ".checkpoints"
RESULTS = "results.zarr"
OWN_OUTPUTS = {RESULTS, "model", "settings.toml", "report.html", "figures", CHECKPOINTS,
               LOCK_NAME, MARKER, PROOF}


def staging_path(out: Path) -> Path:
    """The sibling folder where a new analysis folder is assembled before the swap (a
    fixed name, so that one left by a killed run is found, and removed when its marker
    proves it is symbreak's)."""
    return out.with_name(f"{TEMP_MARK}staging-{out.name}")


def check_out_dir(out: Path, *, resume: bool, overwrite: bool,
                  inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse an output folder that symbreak did not write (unless empty), one that holds
    other files, old results, or an interrupted run that is neither resumed nor
    overwritten; or that is the current folder, an input, inside an input or holding one.
    Whose folder it is is decided by its marker (:func:`~symbreak.storage.safe_output.is_owned`),
    never by the names of its entries."""
    check_place(out, inputs)
    if not (out.exists() or out.is_symlink()):
        if not out.parent.exists():
            raise SettingsError(f"the folder {display(out.parent)} for output "
                                f"{display(out.name)} does not exist")
        return
    if not out.is_dir() or out.is_symlink():
        raise SettingsError(f"output {display(out)} is a file or a link; give a folder for "
                            "the results")
    if not is_owned(out):
        if _is_empty(out):
            return
        raise SettingsError(
            f"output folder {display(out)} was not written by symbreak (it has no valid "
            f"{MARKER} marker) and is not empty; symbreak never writes into or replaces "
            "such a folder, with or without overwrite: move it away or choose another folder")
    names = {p.name for p in out.iterdir()}
    foreign = sorted(n for n in names if n not in OWN_OUTPUTS and not n.startswith(TEMP_MARK))
    if foreign:
        raise SettingsError(
            f"output folder {display(out)} holds other files "
            f"({display(', '.join(foreign[:5]))}); give a new or empty folder, symbreak "
            "does not mix its results with other files"
        )
    if RESULTS in names and not overwrite:
        raise OutputExistsError(
            f"{display(out)} already holds finished results; pass overwrite=True to "
            "replace them or choose another folder"
        )
    if CHECKPOINTS in names and not (resume or overwrite):
        raise OutputExistsError(
            f"{display(out)} holds an interrupted analysis; pass resume=True to continue "
            "it or overwrite=True to start again"
        )


def _is_empty(out: Path) -> bool:
    """Nothing in ``out`` but, at most, something at the lock's name and parts of a
    marker (what a run killed before it wrote anything leaves;
    :func:`~symbreak.storage.lock.output_lock` then refuses anything at the lock's name that
    is not a plain symbreak lock file, and never writes through it)."""
    return is_leftover(out, besides=frozenset({LOCK_NAME}))


@contextlib.contextmanager
def locked_output(out: Path) -> Iterator[None]:
    """Hold the output folder's lock. A new folder is created with symbreak's marker in
    it (in one rename); one made here that is left with nothing but the marker is
    removed. Staging and temporary folders left by a killed run are removed first (only
    those that prove to be symbreak's)."""
    created = not (out.exists() or out.is_symlink())
    if created:
        _create_marked(out)
    try:
        with output_lock(out, "analyze"):
            remove_leftover(staging_path(out), "analysis")
            remove_stale(out)
            if not is_owned(out):  # an empty folder (checked): it becomes symbreak's
                mark(out, "analyze")
            yield
    finally:
        if created and holds_only_proof(out):
            remove(out)


def _create_marked(out: Path) -> None:
    """Create the folder ``out`` with the marker in it: made under a temporary name and
    renamed, so that ``out`` never exists without it. Another run that created it
    meanwhile is no error (its folder is then checked as any existing one)."""
    holder = out.with_name(f"{TEMP_MARK}{uuid.uuid4().hex[:8]}-{out.name}")
    try:
        make_marked_folder(holder, "analyze")
        rename_new(holder, out)
    except (OutputExistsError, FileNotFoundError):
        if not out.is_dir():
            raise
    finally:
        if is_leftover(holder):
            remove(holder)


def write_results(results: xr.Dataset, model: Any, settings: AnalyzeSettings, out: Path,
                  manifest: Mapping[str, Any]) -> None:
    """Settings, model and results, assembled in a sibling staging folder that is then
    swapped with ``out`` in one rename: a kill at any moment leaves the old folder or
    the new one, complete. The old folder (with the checkpoints) is removed after."""
    staging = staging_path(out)
    remove_leftover(staging, "analysis")
    make_marked_folder(staging, "analyze")
    try:
        (staging / "settings.toml").write_text(settings.to_toml())
        if model is not None:
            model.save(staging / "model", extra=dict(manifest))
        with warnings.catch_warnings():
            # zarr 3 warns that consolidated metadata is not in its spec; xarray reads it
            warnings.filterwarnings("ignore", "Consolidated metadata", UserWarning)
            # string coordinates (map names) are fixed-length UTF-32 arrays, which zarr 3
            # writes and reads but has no frozen specification for yet
            warnings.filterwarnings("ignore", ".*does not have a Zarr V3 specification")
            results.to_zarr(staging / RESULTS, mode="w", consolidated=True)
        mark(staging / RESULTS, "analyze")
        exchange(staging, out)
    except BaseException:
        remove(staging)
        raise
    remove(staging)  # now the old folder
