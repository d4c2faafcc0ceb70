"""The built-in analysis stages: virtual images, COM, preprocessing, PCA, rrVAE and the
ground truth. Each is a :class:`~.context.Stage` that declares the context products it
needs and produces and the results variables it returns; :mod:`symbreak.analysis.plan`
lists them, with the stages of their own modules, in the order they run.
"""

from __future__ import annotations

import json
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from ..preprocess import patterns as pp
from ..classical.com import com as center_of_mass
from ..classical.decompose import decompose
from ..classical.virtual import virtual_images
from ..engine import placement
from ..engine.staging import stage_patterns
from ..jsonable import jsonable
from ..vae import RotationalVAE, diagnostics_dict, diagnostics_with_com, has_checkpoint
from . import schema as S
from .context import Context, Stage

PREPROCESSED = "preprocessed.zarr"


# --------------------------------------------------------------------------- stages
def _virtual(ctx: Context) -> xr.Dataset:
    det = ctx.settings.detectors
    images = virtual_images(ctx.data, detectors={"bf": det.bf, "adf": det.adf, "df": det.df},
                            units=det.detector_units, progress=ctx.progress)
    out = {}
    for name in (S.BF, S.ADF, S.DF):
        attrs = dict(images[name].attrs)
        attrs.pop("units", None)  # the detector sum has the unit of the data
        out[name] = S.make(name, images[name], units=ctx.pattern_unit, **attrs)
    return xr.Dataset(out)


def _com(ctx: Context) -> xr.Dataset:
    s = ctx.settings.com
    units = "mrad" if ctx.data.calibration.angular_sampling is not None else "px"
    com = center_of_mass(ctx.data, reference=s.com_reference, threshold=s.com_threshold,
                         units=units, progress=ctx.progress)
    names = (S.COM_X, S.COM_Y, S.COM_MAGNITUDE, S.COM_ANGLE)
    return xr.Dataset({n: S.make(n, com[n], units=com[n].attrs.get("units", "")) for n in names})


def _preprocess(ctx: Context) -> xr.Dataset:
    """Preprocessed float32 patterns (in memory, or written to a zarr store in the work
    folder when they exceed the in-memory share of the budget), and the mean pattern on
    their grid."""
    p = ctx.settings.preprocess
    geo = pp.geometry(ctx.data, p, mean=ctx.raw_mean, progress=ctx.progress)
    mean = pp.mean_pattern(geo, ctx.progress)
    out = pp.subtract_mean(geo, mean) if p.subtract_mean else geo
    if p.denoise:
        out = pp.denoise(out, p.denoise_components, p.denoise_keep, ctx.progress)
    if p.normalize:
        out = pp.normalize(out, ctx.progress)
    store = None
    if placement(int(np.prod(out.shape)) * 4).in_memory:
        out = out.replace(array=out.to_numpy().astype(np.float32))
    else:
        ctx.work.mkdir(parents=True, exist_ok=True)
        store = stage_patterns(out.to_dask(), ctx.work / PREPROCESSED, ctx.progress)
        out = out.replace(array=da.from_zarr(store))
    ctx.patterns, ctx.store = out, store
    return xr.Dataset({
        S.RAW_MEAN_PATTERN: S.make(S.RAW_MEAN_PATTERN, ctx.raw_mean, units=ctx.pattern_unit),
        S.MEAN_PATTERN: S.make(S.MEAN_PATTERN, mean, units=ctx.pattern_unit),
    })


def _pca(ctx: Context) -> xr.Dataset:
    X = ctx.patterns
    n = min(ctx.settings.pca.pca_components, int(np.prod(X.scan_shape)))
    pca = decompose(X, method="pca", n_components=n)
    ratio = np.asarray(pca["explained_variance_ratio"])
    return xr.Dataset({
        S.PCA_SCORES: S.make(S.PCA_SCORES, pca["scores"]),
        S.PCA_COMPONENTS: S.make(S.PCA_COMPONENTS, pca["components"]),
        S.PCA_EXPLAINED: S.make(S.PCA_EXPLAINED, ratio),
    }, coords={"component": np.arange(ratio.size)})


def _rrvae(ctx: Context) -> xr.Dataset:
    """Fit the rrVAE (resuming from the checkpoints when asked), encode every pattern,
    decode the manifold; patterns written to a store are streamed from it."""
    v = ctx.settings.vae
    options = {k: getattr(v, k) for k in ("epochs", "max_time") if getattr(v, k) is not None}
    model = RotationalVAE(latent_dim=v.latent_dim, recipe=v.recipe, random_state=v.seed,
                          restarts=v.restarts, checkpoint_dir=ctx.checkpoints,
                          progress=ctx.progress, **options)
    # a run interrupted before the rrVAE started has nothing to resume: start it afresh
    resume = ctx.resume and ctx.checkpoints is not None and has_checkpoint(ctx.checkpoints)
    X = ctx.patterns
    patterns = X.array if ctx.store is None else ctx.store
    model.fit(patterns, resume=resume)
    ctx.model = model
    latent = model.transform(patterns)
    names = [S.LATENT_ANGLE, S.LATENT_ANGLE_SD, S.LATENT_Z, S.LATENT_Z_SD,
             S.RECONSTRUCTION_ERROR, S.LATENT_ANGLE_UNWRAPPED]
    out = xr.Dataset({n: S.make(n, latent[n]) for n in names if n in latent},
                     coords={"latent": np.arange(latent[S.LATENT_Z].shape[0])})
    if out.sizes["latent"] >= 2:  # a manifold needs two content latents
        out = out.merge(_manifold(model, v.manifold_size, X.pattern_shape))
    out = out.merge(_history(model))
    out.attrs[S.FIT_ATTR] = json.dumps(jsonable(diagnostics_dict(_fit_quality(ctx, model, out))))
    return out


def _fit_quality(ctx: Context, model: RotationalVAE, latents: xr.Dataset) -> Any:
    """The fit's diagnostics, with the agreement of the angle latent map and the COM angle
    map of the whole scan when the COM stage ran; kept in ``ctx.fit``."""
    diag = model.diagnostics_
    com = [part for part in ctx.outputs if S.COM_ANGLE in part]
    if com:
        diag = diagnostics_with_com(diag, latents[S.LATENT_ANGLE].values,
                                    com[0][S.COM_ANGLE].values)
    ctx.fit = diag
    return diag


def _manifold(model: RotationalVAE, size: int, pattern_shape: tuple[int, int]) -> xr.Dataset:
    grid = model.manifold(d=size)
    values = np.asarray(grid.values).reshape(size, size, *pattern_shape)
    coords = {dim: (dim, np.asarray(grid.coords[dim].values)) for dim in grid.dims[:2]}
    return xr.Dataset({S.MANIFOLD: S.make(S.MANIFOLD, values)}, coords=coords)


HISTORY_UNITS = {"time": "s", "learning_rate": "1"}
HISTORY_NAMES = {
    "time": "rrVAE training: time since the start of training at the end of each epoch",
    "train_loss": "rrVAE training loss per pattern (negative ELBO plus the rotation-"
                  "consistency term), mean over the epoch's batches",
    "val_loss": "rrVAE validation loss per pattern (negative ELBO on held-out patterns, "
                "no consistency term)",
    "learning_rate": "rrVAE learning rate per epoch",
}


def _history(model: RotationalVAE) -> xr.Dataset:
    history = getattr(model, "history_", None) or {}
    if isinstance(history, list):
        keys = sorted({k for row in history for k in row})
        history = {k: [row.get(k, np.nan) for row in history] for k in keys}
    out = {}
    for key, values in dict(history).items():
        array = np.asarray(values, dtype=float)
        if array.ndim == 1 and key != "epoch":
            out[S.HISTORY_PREFIX + key] = xr.Variable(
                "epoch", array, {"units": HISTORY_UNITS.get(key, "a.u."),
                                 "long_name": HISTORY_NAMES.get(
                                     key, f"rrVAE training history: {key} per epoch")})
    return xr.Dataset(out)


def _truth(ctx: Context) -> xr.Dataset:
    truth = ctx.data.ground_truth
    if truth is None:
        return xr.Dataset()
    truth = truth.drop_vars([c for c in truth.coords if set(truth[c].dims) & set(S.SCAN)])
    renamed = truth.rename({name: S.TRUTH_PREFIX + str(name) for name in truth.data_vars})
    return renamed.assign_attrs({})


VIRTUAL = Stage("virtual images", _virtual, variables=(S.BF, S.ADF, S.DF))
COM = Stage("COM", _com, variables=(S.COM_X, S.COM_Y, S.COM_MAGNITUDE, S.COM_ANGLE))
PREPROCESSING = Stage("preprocessing", _preprocess,
                      variables=(S.RAW_MEAN_PATTERN, S.MEAN_PATTERN),
                      produces=("patterns", "store"))
PCA = Stage("PCA", _pca, variables=(S.PCA_SCORES, S.PCA_COMPONENTS, S.PCA_EXPLAINED),
            needs=("patterns",))
RRVAE = Stage("rrVAE", _rrvae,
              variables=(S.LATENT_ANGLE, S.LATENT_ANGLE_SD, S.LATENT_ANGLE_UNWRAPPED,
                         S.LATENT_Z, S.LATENT_Z_SD, S.RECONSTRUCTION_ERROR, S.MANIFOLD,
                         S.HISTORY_PREFIX + "*"),
              needs=("patterns", "store"), uses=(S.COM_ANGLE,), produces=("model", "fit"))
TRUTH = Stage("ground truth", _truth, variables=(S.TRUTH_PREFIX + "*",))
