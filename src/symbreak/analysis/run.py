"""The output folder of an analysis: checks, lock, checkpoints and the final write.

``OUT/results.zarr`` is written last and atomically, so its presence means the analysis
finished; the model goes to ``OUT/model/`` and the settings to ``OUT/settings.toml``.
While the rrVAE trains its checkpoints live in ``OUT/.checkpoints`` so that an
interrupted run can be resumed.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import xarray as xr

from ..errors import OutputExistsError, SettingsError
from ..io.atomic import TEMP_MARK, atomic_output, remove
from ..io.lock import LOCK_NAME, output_lock
from ..settings import AnalyzeSettings

CHECKPOINTS = ".checkpoints"
RESULTS = "results.zarr"
OWN_OUTPUTS = {RESULTS, "model", "settings.toml", "report.html", "figures", CHECKPOINTS,
               LOCK_NAME}


def check_out_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse an output folder that holds other files, old results, or an interrupted
    run that is neither resumed nor overwritten."""
    if not out.exists():
        if not out.parent.exists():
            raise SettingsError(f"the folder {out.parent} for output {out.name} does not exist")
        return
    if not out.is_dir():
        raise SettingsError(f"output {out} is a file; give a folder for the results")
    names = {p.name for p in out.iterdir()}
    foreign = sorted(n for n in names if n not in OWN_OUTPUTS and not n.startswith(TEMP_MARK))
    if foreign:
        raise SettingsError(
            f"output folder {out} holds other files ({', '.join(foreign[:5])}); give a new or "
            "empty folder, symbreak does not mix its results with other files"
        )
    if RESULTS in names and not overwrite:
        raise OutputExistsError(
            f"{out} already holds finished results; pass overwrite=True to "
            "replace them or choose another folder"
        )
    if CHECKPOINTS in names and not (resume or overwrite):
        raise OutputExistsError(
            f"{out} holds an interrupted analysis; pass resume=True to continue "
            "it or overwrite=True to start again"
        )


@contextlib.contextmanager
def locked_output(out: Path) -> Iterator[None]:
    """Hold the output folder's lock; a folder made here and left empty is removed."""
    created = not out.exists()
    try:
        with output_lock(out, "analyze"):
            yield
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def write_results(results: xr.Dataset, model: Any, settings: AnalyzeSettings, out: Path,
                  manifest: Mapping[str, Any]) -> None:
    """Settings, model and results, each under a temporary name then renamed; the
    checkpoints are removed once the results are in place."""
    with atomic_output(out / "settings.toml", overwrite=True) as tmp:
        tmp.write_text(settings.to_toml())
    if model is not None:
        with atomic_output(out / "model", overwrite=True) as tmp:
            model.save(tmp, extra=dict(manifest))
    with atomic_output(out / RESULTS, overwrite=True) as tmp:
        with warnings.catch_warnings():
            # zarr 3 warns that consolidated metadata is not in its spec; xarray reads it
            warnings.filterwarnings("ignore", "Consolidated metadata", UserWarning)
            # string coordinates (map names) are fixed-length UTF-32 arrays, which zarr 3
            # writes and reads but has no frozen specification for yet
            warnings.filterwarnings("ignore", ".*does not have a Zarr V3 specification")
            results.to_zarr(tmp, mode="w", consolidated=True)
    remove(out / CHECKPOINTS)
