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
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Iterator, Mapping

import xarray as xr

from ..errors import OutputExistsError, SettingsError
from ..io.atomic import TEMP_MARK, remove
from ..io.lock import LOCK_NAME, output_lock
from ..io.safe_output import MARKER, check_place, display, exchange, mark
from ..settings import AnalyzeSettings

CHECKPOINTS = ".checkpoints"
RESULTS = "results.zarr"
OWN_OUTPUTS = {RESULTS, "model", "settings.toml", "report.html", "figures", CHECKPOINTS,
               LOCK_NAME, MARKER}


def staging_path(out: Path) -> Path:
    """The sibling folder where a new analysis folder is assembled before the swap (a
    fixed name, so that one left by a killed run is found and removed)."""
    return out.with_name(f"{TEMP_MARK}staging-{out.name}")


def check_out_dir(out: Path, *, resume: bool, overwrite: bool,
                  inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse an output folder that holds other files, old results, or an interrupted
    run that is neither resumed nor overwritten; or that is the current folder, an input,
    inside an input or holding one."""
    check_place(out, inputs)
    if not out.exists():
        if not out.parent.exists():
            raise SettingsError(f"the folder {display(out.parent)} for output "
                                f"{display(out.name)} does not exist")
        return
    if not out.is_dir() or out.is_symlink():
        raise SettingsError(f"output {display(out)} is a file or a link; give a folder for "
                            "the results")
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


@contextlib.contextmanager
def locked_output(out: Path) -> Iterator[None]:
    """Hold the output folder's lock; a folder made here and left empty is removed, and
    a staging folder left by a killed run is removed first."""
    created = not out.exists()
    try:
        with output_lock(out, "analyze"):
            remove(staging_path(out))
            yield
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def write_results(results: xr.Dataset, model: Any, settings: AnalyzeSettings, out: Path,
                  manifest: Mapping[str, Any]) -> None:
    """Settings, model and results, assembled in a sibling staging folder that is then
    swapped with ``out`` in one rename: a kill at any moment leaves the old folder or
    the new one, complete. The old folder (with the checkpoints) is removed after."""
    staging = staging_path(out)
    remove(staging)
    staging.mkdir()
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
        mark(staging, "analyze")
        exchange(staging, out)
    except BaseException:
        remove(staging)
        raise
    remove(staging)  # now the old folder
