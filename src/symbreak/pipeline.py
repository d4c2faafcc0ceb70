"""``analyze``: one call from a 4D-STEM data set to every map symbreak makes.

Stages: mean pattern -> virtual images -> COM -> preprocessing -> PCA -> rrVAE.
Results go to one ``xarray.Dataset`` and, with ``out``, to ``out/results.zarr`` (written
last and atomically, so its presence means the analysis finished), the trained model to
``out/model/`` and the exact settings to ``out/settings.toml``. While the rrVAE trains,
its checkpoints live in ``out/.checkpoints`` so an interrupted run can ``resume``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import dask.array as da
import numpy as np
import xarray as xr

from . import __version__
from . import preprocess as pp
from .budget import IN_MEMORY_SHARE, budget_scope, memory_budget
from .classical.com import com as center_of_mass
from .classical.decompose import decompose
from .classical.virtual import virtual_images
from .convert import as_dataset
from .dataset import Dataset4D
from .errors import OutputExistsError, SettingsError
from .io import load
from .io.atomic import TEMP_MARK, atomic_output, remove
from .io.lock import LOCK_NAME, output_lock
from .jsonable import jsonable
from .progress import DaskProgress, enabled
from .sanitize import check_input, check_shape
from .settings import AnalyzeSettings
from .vae import RotationalVAE
from .vae.parallel import environment_world
from .vae.stage import stage_patterns
from .vae.train import CHECKPOINT

SCAN = ("scan_y", "scan_x")
OWN_OUTPUTS = {"results.zarr", "model", "settings.toml", "report.html", "figures", ".checkpoints",
               LOCK_NAME}
CHECKPOINTS = ".checkpoints"
PREPROCESSED = "preprocessed.zarr"
PACKAGES = ("numpy", "scipy", "dask", "xarray", "zarr", "scikit-learn", "torch", "abtem",
            "matplotlib")


# ----------------------------------------------------------------------------- inputs
def _settings(settings: Any, options: Mapping[str, Any]) -> AnalyzeSettings:
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


def file_checksum(path: Path) -> str:
    """sha256 of a file, or of all files under a folder (sorted relative paths + bytes)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(2**22), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def array_checksum(data: Dataset4D) -> str:
    """sha256 of the array bytes (C order, native dtype), one scan row at a time."""
    digest = hashlib.sha256()
    digest.update(f"{data.dtype.str}{data.shape}".encode())
    array = data.to_dask()
    for row in range(data.shape[0]):
        digest.update(np.ascontiguousarray(np.asarray(array[row])).tobytes())
    return "sha256:" + digest.hexdigest()


def _open(data: Any, calibration: Mapping[str, Any]) -> tuple[Dataset4D, str, Path | None]:
    """The data set (lazy, with calibration overrides), its description, and its file."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        return load(path, **calibration), str(path.resolve()), path
    ds = as_dataset(data, **calibration)
    if ds.source and Path(ds.source).exists():
        return ds, str(ds.source), Path(ds.source)
    simulation = dict(ds.metadata).get("simulation", {}).get("settings")
    if simulation:
        keys = ("system", "defect", "zone_axis")
        what = ", ".join(f"{k}={simulation[k]}" for k in keys if simulation.get(k))
        return ds, f"in-memory simulation ({what})", None
    return ds, f"in-memory {type(data).__name__}", None


def checksum(data: Dataset4D, path: Path | None) -> str:
    """sha256 of the input file(s), or of the array bytes for in-memory input."""
    return file_checksum(path) if path is not None else array_checksum(data)


def in_memory(data: Dataset4D, progress: bool | None = None) -> Dataset4D:
    """The data read once into memory when it fits a quarter of the memory budget, so
    that the stages do not each read the file (or recompute a simulation) again."""
    if not data.is_lazy or data.nbytes > memory_budget() // IN_MEMORY_SHARE:
        return data
    with DaskProgress("reading data", progress):
        return data.replace(array=data.to_numpy())


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
    if "results.zarr" in names and not overwrite:
        raise OutputExistsError(
            f"{out} already holds finished results; pass overwrite=True (--overwrite) to "
            "replace them or choose another folder"
        )
    if CHECKPOINTS in names and not (resume or overwrite):
        raise OutputExistsError(
            f"{out} holds an interrupted analysis; pass resume=True (--resume) to continue "
            "it or overwrite=True (--overwrite) to start again"
        )


# ------------------------------------------------------------------------ defaults
def resolve(settings: AnalyzeSettings, data: Dataset4D, mean: np.ndarray) -> AnalyzeSettings:
    """Fill in settings left to the data: crop from the disk, detectors from the
    semi-angle (mrad when the detector is calibrated, else px)."""
    cal = data.calibration
    options: dict[str, Any] = {}
    if settings.preprocess.crop is None:
        options["crop"] = pp.default_crop(mean, cal)
    det = settings.detectors
    units = det.detector_units or ("mrad" if cal.angular_sampling is not None else "px")
    options["detector_units"] = units
    if det.bf is None or det.adf is None:
        alpha, edge = _disk_and_edge(data, mean, units)
        if det.bf is None:
            options["bf"] = (0.0, round(alpha, 4))
        if det.adf is None:
            outer = max(min(3 * alpha, edge), 1.1 * alpha)
            options["adf"] = (round(min(1.5 * alpha, (alpha + outer) / 2), 4), round(outer, 4))
    return settings.replace(**options)


def _disk_and_edge(data: Dataset4D, mean: np.ndarray, units: str) -> tuple[float, float]:
    """Bright-field disk radius and the largest full circle on the detector, in ``units``."""
    cal = data.calibration
    cy, cx = cal.detector_center or pp.pattern_center(mean)
    ky, kx = data.pattern_shape
    edge_px = min(cy, cx, ky - 1 - cy, kx - 1 - cx)
    radius_px = pp.disk_radius(mean, cal)
    scale = float(np.mean(cal.angular_sampling)) if units == "mrad" else 1.0
    if units == "mrad" and cal.semiangle is not None:
        return cal.semiangle, edge_px * scale
    return radius_px * scale, edge_px * scale


# -------------------------------------------------------------------------- stages
def _reset_peak_memory() -> None:
    """Start a new peak resident-set measurement (Linux; a no-op elsewhere)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")


def peak_memory() -> int | None:
    """Peak resident set [bytes] since the last reset (``VmHWM``), or None if unknown."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return None


@dataclasses.dataclass
class _Stages:
    """Times each stage [s], measures its peak memory [MiB] and reports it when progress
    is on."""

    progress: bool | None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    memory: dict[str, float] = dataclasses.field(default_factory=dict)

    def run(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        if enabled(self.progress):
            print(f"symbreak analyze: {name} ...", flush=True)
        _reset_peak_memory()
        value = func(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - start, 3)
        peak = peak_memory()
        if peak is not None:
            self.memory[name] = round(peak / 2**20, 1)
        return value


def _virtual(data: Dataset4D, s: AnalyzeSettings, progress: bool | None) -> xr.Dataset:
    det = s.detectors
    return virtual_images(data, detectors={"bf": det.bf, "adf": det.adf},
                          units=det.detector_units, progress=progress)


def _com(data: Dataset4D, s: AnalyzeSettings, progress: bool | None) -> xr.Dataset:
    units = "mrad" if data.calibration.angular_sampling is not None else "px"
    return center_of_mass(data, reference=s.com.com_reference, threshold=s.com.com_threshold,
                          units=units, progress=progress)


def _prepare(data: Dataset4D, s: AnalyzeSettings, raw_mean: np.ndarray, work: Path,
             progress: bool | None) -> tuple[Dataset4D, np.ndarray, Any]:
    """Preprocessed float32 patterns, the mean pattern on their grid, and the zarr array
    they were written to when they exceed the in-memory share of the budget (else None).

    A store left by an interrupted run of the same input and settings is reused."""
    p = s.preprocess
    geo = pp.geometry(data, p, mean=raw_mean, progress=progress)
    mean = pp.mean_pattern(geo, progress)
    out = pp.subtract_mean(geo, mean) if p.subtract_mean else geo
    if p.denoise:
        out = pp.denoise(out, p.denoise_components, p.denoise_keep, progress)
    if p.normalize:
        out = pp.normalize(out, progress)
    if int(np.prod(out.shape)) * 4 <= memory_budget() // IN_MEMORY_SHARE:
        return out.replace(array=out.to_numpy().astype(np.float32)), mean, None
    work.mkdir(parents=True, exist_ok=True)
    store = stage_patterns(out.to_dask(), work / PREPROCESSED, progress)
    return out.replace(array=da.from_zarr(store)), mean, store


def _train(X: Dataset4D, store: Any, s: AnalyzeSettings, out: Path | None, resume: bool,
           progress: bool | None) -> tuple[Any, xr.Dataset]:
    """Fit the rrVAE (resuming from ``out/.checkpoints`` when asked) and encode every
    pattern; patterns written to ``store`` are streamed from it."""
    v = s.vae
    options = {k: getattr(v, k) for k in ("epochs", "max_time") if getattr(v, k) is not None}
    checkpoints = None if out is None else out / CHECKPOINTS
    vae = RotationalVAE(latent_dim=v.latent_dim, recipe=v.recipe, random_state=v.seed,
                        checkpoint_dir=checkpoints, progress=progress, **options)
    # a run interrupted before the rrVAE started has nothing to resume: start it afresh
    resume = resume and checkpoints is not None and (checkpoints / CHECKPOINT).exists()
    patterns = X.array if store is None else store
    vae.fit(patterns, resume=resume)
    return vae, vae.transform(patterns)


# ------------------------------------------------------------------------ assembly
def _versions() -> dict[str, str]:
    out = {"symbreak": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _coord(values: np.ndarray, dim: str, unit: str) -> xr.Variable:
    return xr.Variable(dim, np.asarray(values, dtype=float), attrs={"units": unit})


def _scan_coords(data: Dataset4D) -> dict[str, xr.Variable]:
    return {d: _coord(v, d, u) for d, (v, u) in list(data.coords().items())[:2]}


def _detector_coords(data: Dataset4D, prefix: str = "") -> dict[str, xr.Variable]:
    return {prefix + d: _coord(v, prefix + d, u) for d, (v, u) in list(data.coords().items())[2:]}


def _values(obj: Any) -> np.ndarray:
    return np.asarray(getattr(obj, "values", obj))


def _maps(data: Dataset4D, X: Dataset4D, raw_mean: np.ndarray, mean: np.ndarray,
          virtual: xr.Dataset, com: xr.Dataset, pca: xr.Dataset) -> xr.Dataset:
    det = ("ky", "kx")
    raw = ("detector_ky", "detector_kx")
    pattern_unit = "counts" if data.dtype.kind in "iu" else "intensity"
    v: dict[str, Any] = {
        "raw_mean_pattern": (raw, raw_mean, {"units": pattern_unit,
                                             "long_name": "mean pattern, whole detector"}),
        "mean_pattern": (det, mean, {"units": pattern_unit,
                                     "long_name": "mean pattern on the analysis grid"}),
    }
    for name in ("bf", "adf"):
        v[name] = (SCAN, _values(virtual[name]), dict(virtual[name].attrs) or {"units": "counts"})
    for name in ("com_x", "com_y", "com_magnitude", "com_angle"):
        v[name] = (SCAN, _values(com[name]), {"units": com[name].attrs.get("units", "")})
    v["pca_scores"] = (("component",) + SCAN, _values(pca["scores"]), {"units": "a.u."})
    v["pca_components"] = (("component",) + det, _values(pca["components"]), {"units": "a.u."})
    v["pca_explained_variance_ratio"] = ("component", _values(pca["explained_variance_ratio"]),
                                         {"units": "1"})
    coords = {**_scan_coords(data), **_detector_coords(X), **_detector_coords(data, "detector_")}
    coords["component"] = ("component", np.arange(len(v["pca_explained_variance_ratio"][1])))
    return xr.Dataset(v, coords=coords)


def _latents(vae: Any, latent: xr.Dataset, X: Dataset4D, manifold_size: int) -> xr.Dataset:
    v: dict[str, Any] = {
        "latent_angle": (SCAN, _values(latent["latent_angle"]),
                         {"units": "rad", "long_name": "rrVAE angle latent, wrapped to (-pi, pi]"}),
        "latent_angle_sd": (SCAN, _values(latent["latent_angle_sd"]), {"units": "rad"}),
        "latent_z": (("latent",) + SCAN, _values(latent["latent_z"]), {"units": "1"}),
        "latent_z_sd": (("latent",) + SCAN, _values(latent["latent_z_sd"]), {"units": "1"}),
        "reconstruction_error": (SCAN, _values(latent["reconstruction_error"]),
                                 {"units": "a.u.", "long_name": "reconstruction error per pattern"}),
    }
    if "latent_angle_unwrapped" in latent:
        v["latent_angle_unwrapped"] = (SCAN, _values(latent["latent_angle_unwrapped"]),
                                       {"units": "rad"})
    out = xr.Dataset(v, coords={"latent": np.arange(v["latent_z"][1].shape[0])})
    if out.sizes["latent"] >= 2:  # a manifold needs two content latents
        out = out.merge(_manifold(vae, manifold_size, X.pattern_shape))
    return out.merge(_history(vae))


def _manifold(vae: Any, size: int, pattern_shape: tuple[int, int]) -> xr.Dataset:
    grid = vae.manifold(d=size)
    values = _values(grid["manifold"] if isinstance(grid, xr.Dataset) else grid)
    values = values.reshape(size, size, *pattern_shape)
    coords = {}
    if isinstance(grid, (xr.Dataset, xr.DataArray)):
        for dim, name in zip(grid.dims if isinstance(grid, xr.DataArray) else
                             grid["manifold"].dims, ("manifold_y", "manifold_x")):
            if dim in grid.coords:
                coords[name] = (name, _values(grid.coords[dim]))
    attrs = {"units": "a.u.", "long_name": "decoded patterns over a grid of the content latents"}
    return xr.Dataset({"manifold": (("manifold_y", "manifold_x", "ky", "kx"), values, attrs)},
                      coords=coords)


def _history(vae: Any) -> xr.Dataset:
    history = getattr(vae, "history_", None) or {}
    if isinstance(history, list):
        keys = sorted({k for row in history for k in row})
        history = {k: [row.get(k, np.nan) for row in history] for k in keys}
    v = {}
    for key, values in dict(history).items():
        array = np.asarray(values, dtype=float)
        if array.ndim == 1 and key != "epoch":
            v[f"history_{key}"] = ("epoch", array, {"units": "a.u."})
    return xr.Dataset(v)


def _truth(data: Dataset4D) -> xr.Dataset:
    truth = data.ground_truth
    if truth is None:
        return xr.Dataset()
    truth = truth.drop_vars([c for c in truth.coords if set(truth[c].dims) & set(SCAN)])
    renamed = truth.rename({name: f"truth_{name}" for name in truth.data_vars})
    return renamed.assign_attrs({})


def _attrs(data: Dataset4D, X: Dataset4D, settings: AnalyzeSettings, source: str,
           checksum: str, stages: _Stages) -> dict[str, Any]:
    truth_attrs = dict(data.ground_truth.attrs) if data.ground_truth is not None else {}
    return {
        "title": "symbreak analyze results",
        "symbreak_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "input_file": source,
        "input_checksum": checksum,
        "input_shape": list(data.shape),
        "input_dtype": data.metadata.get("input_checks", {}).get("dtype", str(data.dtype)),
        "calibration": json.dumps(jsonable(data.calibration.to_dict())),
        "analysis_calibration": json.dumps(jsonable(X.calibration.to_dict())),
        "settings": settings.to_json(),
        "versions": json.dumps(_versions()),
        "provenance": json.dumps(jsonable(list(X.provenance)), default=str),
        "metadata": json.dumps(jsonable(dict(data.metadata)), default=str),
        "truth_attrs": json.dumps(jsonable(truth_attrs), default=str),
        "timings": json.dumps(dict(stages.timings)),
        "peak_memory_mib": json.dumps(dict(stages.memory)),
        "memory_budget_mib": round(memory_budget() / 2**20, 1),
    }


# --------------------------------------------------------------------------- write
def _write(results: xr.Dataset, vae: Any, settings: AnalyzeSettings, out: Path,
           manifest: Mapping[str, Any]) -> None:
    with atomic_output(out / "settings.toml", overwrite=True) as tmp:
        tmp.write_text(settings.to_toml())
    with atomic_output(out / "model", overwrite=True) as tmp:
        vae.save(tmp, extra=dict(manifest))
    with atomic_output(out / "results.zarr", overwrite=True) as tmp:
        with warnings.catch_warnings():
            # zarr 3 warns that consolidated metadata is not in its spec; xarray reads it
            warnings.filterwarnings("ignore", "Consolidated metadata", UserWarning)
            results.to_zarr(tmp, mode="w", consolidated=True)
    remove(out / CHECKPOINTS)


def analyze(data: Any, *, out: str | os.PathLike | None = None, settings: Any = None,
            calibration: Mapping[str, Any] | None = None, resume: bool = False,
            overwrite: bool = False, progress: bool | None = None,
            memory_budget: str | int | float | None = None, scheduler: str | None = None,
            workers: int | None = None, **options: Any) -> xr.Dataset:
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
        :class:`~symbreak.settings.AnalyzeSettings`, a mapping, or a TOML/YAML file path.
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
    **options
        Flat settings overriding ``settings`` (``crop=78``, ``epochs=50``, ...); see
        :mod:`symbreak.settings`.

    Returns
    -------
    xarray.Dataset
        Maps on (scan_y, scan_x) [Å], patterns on (ky, kx) [mrad], latents, PCA, ground
        truth (``truth_*``) when known; settings, versions, input and checksum in attrs.
    """
    s = _settings(settings, options)
    if environment_world() > 1:
        raise SettingsError("analyze runs once, not in every torchrun process: run "
                            "`symbreak train` under torchrun, or analyze with --workers / "
                            "--scheduler for the array stages")
    out_dir = None if out is None else Path(out)
    with contextlib.ExitStack() as stack:
        if out_dir is not None:
            stack.enter_context(_locked_output(out_dir))
            check_out_dir(out_dir, resume=resume, overwrite=overwrite)
        stack.enter_context(budget_scope(memory_budget))
        stack.enter_context(_cluster(scheduler, workers))
        work = out_dir / CHECKPOINTS if out_dir is not None else Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="symbreak-analyze-")))
        return _run(data, s, out_dir, work, calibration or {}, resume, progress)


@contextlib.contextmanager
def _locked_output(out: Path) -> Iterator[None]:
    """Hold the output folder's lock; a folder made here and left empty is removed."""
    created = not out.exists()
    try:
        with output_lock(out, "analyze"):
            yield
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


def _cluster(scheduler: str | None, workers: int | None) -> Any:
    if scheduler is None and workers is None:
        return contextlib.nullcontext()
    from .cluster import use_cluster  # imports dask.distributed only when asked
    return use_cluster(scheduler=scheduler, workers=workers)


def _run(data: Any, s: AnalyzeSettings, out_dir: Path | None, work: Path,
         calibration: Mapping[str, Any], resume: bool, progress: bool | None) -> xr.Dataset:
    data, source, path = _open(data, calibration)
    check_shape(data, "analyze")
    s.preprocess.check_pattern_shape(data.pattern_shape)
    stages = _Stages(progress)
    data = stages.run("reading data", in_memory, data, progress)
    digest = stages.run("checksum", checksum, data, path)
    data = stages.run("input checks", check_input, data, stage="analyze", progress=progress)
    raw_mean = stages.run("mean pattern", pp.mean_pattern, data, progress)
    s = resolve(s, data, raw_mean)
    virtual = stages.run("virtual images", _virtual, data, s, progress)
    com = stages.run("COM", _com, data, s, progress)
    X, mean, store = stages.run("preprocessing", _prepare, data, s, raw_mean, work, progress)
    pca = stages.run("PCA", decompose, X, method="pca",
                     n_components=min(s.pca.pca_components, int(np.prod(X.scan_shape))))
    vae, latent = stages.run("rrVAE", _train, X, store, s, out_dir, resume, progress)
    results = _maps(data, X, raw_mean, mean, virtual, com, pca)
    results = xr.merge([results, _latents(vae, latent, X, s.vae.manifold_size), _truth(data)],
                       combine_attrs="override")
    results.attrs = _attrs(data, X, s, source, digest, stages)
    results.attrs["rrvae_streamed"] = int(vae.streamed_)
    results.attrs["input_checks"] = json.dumps(jsonable(data.metadata["input_checks"]))
    if out_dir is not None:
        _write(results, vae, s, out_dir, {"input_file": source, "input_checksum": digest})
    return results
