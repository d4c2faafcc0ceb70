"""``analyze``: one call from a 4D-STEM data set to every map symbreak makes.

Input steps (read, checksum, input checks, mean pattern), then :func:`~.plan.plan`, then
the planned stages (:data:`~.plan.STAGES`: virtual images, COM, preprocessing, PCA, rrVAE,
explorer, symmetry, site classes, ground truth); their outputs are merged into one
``xarray.Dataset`` and, with ``out``, written by :mod:`~symbreak.analysis.run`.
"""

from __future__ import annotations

import dataclasses

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import xarray as xr

from ..preprocess import patterns as pp
from ..engine import budget_scope
from ..dataset import Dataset4D
from ..errors import SettingsError
from ..sanitize import check_input, check_shape
from .settings import AnalyzeSettings
from ..vae import world_size
from . import inputs
from .context import Context, Stage
from .plan import STAGES, check_order, describe, plan
from .provenance import StageTimer, results_attrs
from .run import CHECKPOINTS, check_out_dir, locked_output, write_results
from .symmetry_stage import lattice_for_scan, length_unit, scan_step_of


def settings_from(settings: Any, options: Mapping[str, Any]) -> AnalyzeSettings:
    """:class:`AnalyzeSettings` from an object, a mapping or a file, with flat options."""
    if settings is None:
        base = AnalyzeSettings()
    elif isinstance(settings, AnalyzeSettings):
        base = settings
    elif isinstance(settings, Mapping):
        base = AnalyzeSettings.from_mapping(settings)
    elif isinstance(settings, (str, os.PathLike)):
        base = AnalyzeSettings.from_file(settings)
    else:
        raise SettingsError(
            f"settings must be AnalyzeSettings, a mapping or a settings file path, got "
            f"{type(settings).__name__}"
        )
    return base.replace(**options)


def analyze(data: Any, *, out: str | os.PathLike | None = None, settings: Any = None,
            calibration: Mapping[str, Any] | None = None, resume: bool = False,
            overwrite: bool = False, progress: bool | None = None,
            memory_budget: str | int | float | None = None, scheduler: str | None = None,
            workers: int | None = None, stages: Iterable[Stage] | None = None,
            **options: Any) -> xr.Dataset:
    """Analyse a 4D-STEM data set: virtual images, COM, PCA and the rrVAE.

    Parameters
    ----------
    data
        A file path (anything :func:`symbreak.load` reads), a :class:`Dataset4D`, or an
        array / xarray / HyperSpy / py4DSTEM object (scan_y, scan_x, ky, kx).
    out
        Output folder: ``results.zarr``, ``model/``, ``settings.toml``. ``None``: nothing
        is written and the model is not kept.
    settings
        :class:`~symbreak.analysis.settings.AnalyzeSettings`, a mapping, or a TOML/YAML file path.
    calibration
        Calibration values overriding the data's (``energy`` [eV], ``semiangle`` [mrad],
        ``scan_step`` [Å], ``angular_sampling`` [mrad/px], ...).
    resume
        Continue an interrupted analysis in ``out`` from the rrVAE checkpoints.
    overwrite
        Replace earlier results in ``out``.
    progress
        Show progress (default: when stderr is a terminal).
    memory_budget
        Memory the stages may use for data ("4GB", "512MiB", or a fraction of available
        memory such as 0.25); default ``$SYMBREAK_MEMORY_BUDGET`` or 0.25. Data larger than a
        quarter of it are streamed: the preprocessed patterns go to
        ``out/.checkpoints/preprocessed.zarr`` and the rrVAE trains from there.
    scheduler, workers
        Run the array stages on the dask.distributed scheduler at this address, or on an
        in-process cluster of ``workers`` worker processes.
    stages
        The stages to run, in order (default :data:`~.plan.STAGES`); each one's needs must
        be made by an earlier one.
    **options
        Flat settings overriding ``settings`` (``crop=78``, ``epochs=50``, ...); see
        :mod:`symbreak.analysis.settings`.

    Returns
    -------
    xarray.Dataset
        Maps on (scan_y, scan_x) [Å], patterns on (ky, kx) [mrad], latents, PCA, ground
        truth (``truth_*``) when known; settings, versions, input and checksum in attrs.
    """
    s = settings_from(settings, options)
    order = check_order(STAGES if stages is None else stages)
    if world_size() > 1:
        raise SettingsError("analyze runs once, not in every torchrun process: run "
                            "`symbreak train` under torchrun, or analyze with --workers / "
                            "--scheduler for the array stages")
    out_dir = None if out is None else Path(out)
    with contextlib.ExitStack() as stack:
        if out_dir is not None:
            check_out_dir(out_dir, resume=resume, overwrite=overwrite, inputs=_sources(data))
            stack.enter_context(locked_output(out_dir))
            check_out_dir(out_dir, resume=resume, overwrite=overwrite, inputs=_sources(data))
        stack.enter_context(budget_scope(memory_budget))
        stack.enter_context(_cluster(scheduler, workers))
        work = out_dir / CHECKPOINTS if out_dir is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="symbreak-analyze-")))
        return _run(data, s, out_dir, work, calibration or {}, resume, progress, order)


def _sources(data: Any) -> list[str]:
    """The files ``data`` comes from (a path, or a Dataset4D's provenance)."""
    from ..io.stream import input_paths

    if isinstance(data, (str, os.PathLike)):
        return [os.fspath(data)]
    return input_paths(data) if isinstance(data, Dataset4D) else []


def _cluster(scheduler: str | None, workers: int | None) -> Any:
    if scheduler is None and workers is None:
        return contextlib.nullcontext()
    from ..engine import use_cluster
    return use_cluster(scheduler=scheduler, workers=workers)


def _run(data: Any, s: AnalyzeSettings, out_dir: Path | None, work: Path,
         calibration: Mapping[str, Any], resume: bool, progress: bool | None,
         order: tuple[Stage, ...] = STAGES) -> xr.Dataset:
    data, source, path = inputs.open_input(data, calibration)
    check_shape(data, "analyze")
    s.preprocess.check_pattern_shape(data.pattern_shape)
    if s.symmetry.lattice is not None:  # refused before any stage runs, not after training
        step = data.calibration.scan_step
        lattice_for_scan(s.symmetry.lattice, tuple(data.scan_shape), scan_step_of(step),
                         length_unit(step))
    timer = StageTimer(progress)
    data = timer.run("reading data", inputs.in_memory, data, progress)
    digest = inputs.BackgroundChecksum(data, path)  # overlaps the stages' passes
    data = timer.run("input checks", check_input, data, stage="analyze", progress=progress)
    raw_mean = timer.run("mean pattern", pp.mean_pattern, data, progress)
    planned = plan(s, describe(data, raw_mean), order)
    ctx = Context(data, planned.settings, raw_mean, work,
                  checkpoints=None if out_dir is None else out_dir / CHECKPOINTS,
                  resume=resume, progress=progress)
    parts = ctx.outputs  # what earlier stages returned (later stages read them)
    for stage in planned.stages:
        parts.append(timer.run(stage.name, stage.apply, ctx))
    X = ctx.patterns if ctx.patterns is not None else data
    digest = timer.run("checksum (wait)", digest.result)
    results = xr.merge(parts, combine_attrs="drop_conflicts").assign_coords(
        _coords(data, X, results_dims(parts)))
    # stages may leave attributes (the rrVAE its fit diagnostics); provenance comes on top
    results.attrs = {**results.attrs, **results_attrs(data, X, planned.settings, source,
                                                      digest, timer)}
    model = ctx.model
    if model is not None:
        results.attrs["rrvae_streamed"] = int(model.streamed_)
    if out_dir is not None:
        write_results(results, model, planned.settings, out_dir,
                      {"input_file": source, "input_checksum": digest,
                       "preprocessing": dataclasses.asdict(planned.settings.preprocess)})
    return results


def results_dims(parts: list[xr.Dataset]) -> set[str]:
    """Every dimension used by the stages' outputs."""
    return {str(d) for part in parts for d in part.dims}


def _coords(data: Dataset4D, X: Dataset4D, dims: set[str]) -> dict[str, xr.Variable]:
    """Scan coordinates [Å], analysis-grid (ky, kx) and whole-detector coordinates."""
    def coord(values: Any, dim: str, unit: str) -> xr.Variable:
        return xr.Variable(dim, np.asarray(values, dtype=float), attrs={"units": unit})

    raw = list(data.coords().items())
    grid = list(X.coords().items())[2:]
    named = [(d, v, u) for d, (v, u) in raw[:2] + grid]
    named += [("detector_" + d, v, u) for d, (v, u) in raw[2:]]
    return {d: coord(v, d, u) for d, v, u in named if d in dims}
