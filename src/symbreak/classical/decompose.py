"""PCA and NMF of the diffraction patterns, in memory or incrementally over chunks.

The data are the (scan_y * scan_x, ky * kx) matrix of flattened patterns. When that matrix
(in float64, with the copies scikit-learn makes) fits the memory budget, scikit-learn's
``PCA`` / ``NMF`` run on it; otherwise PCA comes exactly from the pixel covariance
accumulated over chunks (:mod:`symbreak.classical.covariance_pca`; ``IncrementalPCA`` when
even that matrix exceeds the budget) and NMF from streamed HALS NMF (:mod:`symbreak.classical.nmf`) see one batch of scan rows at a time and the whole data set is
never held. Component signs are fixed so that the largest-magnitude pixel of every
component is positive (as scikit-learn's ``svd_flip`` does), so results are reproducible.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterator, Sequence

import dask
import dask.array as da
import numpy as np
import xarray as xr
from sklearn.decomposition import NMF, PCA, IncrementalPCA

from ..convert import as_dataset
from ..dataset import Dataset4D
from ..engine import (COPIES_IN_MEMORY_DECOMPOSE, active_client, chunk_shape, computed,
                      lazy_map_patterns, placement, takes_budget)
from ..errors import DataError, SettingsError
from ..progress import track
from ..arrays import file_view, release_pages
from . import covariance_pca as covariance
from .nmf import streamed_hals
from .results import SCAN_DIMS, axis_coords, base_attrs
from .settings import DECOMPOSITION_METHODS as METHODS, MAX_SEED


@dataclasses.dataclass(frozen=True)
class Fitted:
    """A fitted decomposition: components (n, ky*kx), mean (ky*kx), scores (n_pat, n)."""

    components: np.ndarray
    mean: np.ndarray
    scores: np.ndarray
    explained_variance_ratio: np.ndarray | None
    incremental: bool


def check_seed(random_state: Any) -> int:
    """``random_state`` as an int within numpy's and scikit-learn's seeds, 0 to 2**32 - 1."""
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) \
            or not 0 <= random_state <= MAX_SEED:
        raise SettingsError(f"random_state (--seed) must be an integer from 0 to {MAX_SEED}, "
                            f"got {random_state!r}")
    return int(random_state)


def _validate(ds: Dataset4D, method: str, n_components: Any) -> None:
    if method not in METHODS:
        raise SettingsError(f"method must be one of {METHODS}, got {method!r}")
    n_pat, n_pix = ds.scan_shape[0] * ds.scan_shape[1], ds.pattern_shape[0] * ds.pattern_shape[1]
    if method == "pca" and n_pat < 2:
        raise DataError(
            f"PCA needs at least 2 patterns (it finds the variation between them), the scan is "
            f"{ds.scan_shape[0]} x {ds.scan_shape[1]}; use symbreak.com or "
            "symbreak.virtual_image for a single pattern"
        )
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or not (
            1 <= n_components <= min(n_pat, n_pix)):
        raise SettingsError(
            f"n_components must be an integer from 1 to min(patterns, pixels) = "
            f"{min(n_pat, n_pix)}, got {n_components!r}"
        )


def _fits_in_memory(ds: Dataset4D) -> bool:
    n = ds.scan_shape[0] * ds.scan_shape[1] * ds.pattern_shape[0] * ds.pattern_shape[1]
    return placement(n * 8, COPIES_IN_MEMORY_DECOMPOSE).in_memory


def row_batches(ds: Dataset4D, min_patterns: int) -> list[slice]:
    """Slices of whole scan rows (as many as a streaming chunk holds), each with at least
    ``min_patterns`` patterns."""
    ny, nx = ds.scan_shape
    rows = max(chunk_shape(ds)[0], -(-min_patterns // nx))
    starts = list(range(0, ny, rows))
    if len(starts) > 1 and (ny - starts[-1]) * nx < min_patterns:
        starts.pop()
    return [slice(s, e) for s, e in zip(starts, starts[1:] + [ny])]


def iter_batches(ds: Dataset4D, batches: list[slice], desc: str, progress: Any
                 ) -> Iterator[np.ndarray]:
    """Flattened float32 (patterns, ky*kx) batches of scan rows."""
    n_pix = ds.pattern_shape[0] * ds.pattern_shape[1]
    blocks = computed(ds.array[rows] for rows in batches)
    for block in track(blocks, total=len(batches), desc=desc, progress=progress, unit="batch"):
        batch = block.reshape(-1, n_pix).astype(np.float32)
        release_pages(block)
        yield batch


def _check_finite(x: np.ndarray, method: str) -> None:
    if not np.isfinite(x).all():
        raise DataError(f"{method.upper()} needs finite data; the patterns contain NaN or inf "
                        "(replace them by 0 with symbreak.sanitize.check_input(data), which "
                        "also counts them, or with np.nan_to_num)")
    if method == "nmf" and x.min() < 0:
        raise DataError(f"NMF needs non-negative data, found the value {x.min():g}; do not "
                        "subtract the mean pattern before NMF")


def _flip_signs(components: np.ndarray, scores: np.ndarray) -> None:
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1
    components *= signs[:, None]
    scores *= signs[None, :]


def _fit_in_memory(ds: Dataset4D, method: str, n: int, random_state: int) -> Fitted:
    x = ds.to_numpy().reshape(-1, ds.pattern_shape[0] * ds.pattern_shape[1]).astype(np.float64)
    _check_finite(x, method)
    if method == "pca":
        model = PCA(n_components=n, random_state=random_state)
        scores = model.fit_transform(x)
        comps, mean = model.components_.copy(), model.mean_
        evr = model.explained_variance_ratio_
    else:
        model = NMF(n_components=n, init="nndsvda", random_state=random_state, max_iter=1000)
        scores = model.fit_transform(x)
        comps, mean, evr = model.components_.copy(), x.mean(axis=0), None
    if method == "pca":
        _flip_signs(comps, scores)
    return Fitted(comps, mean, scores, evr, incremental=False)


def _fit_incremental(ds: Dataset4D, method: str, n: int, random_state: int, max_iter: int,
                     progress: Any) -> Fitted:
    n_pix = ds.pattern_shape[0] * ds.pattern_shape[1]
    if method == "pca" and covariance.fits(n_pix):
        comps, mean, scores, evr = covariance.covariance_pca(ds, n, progress)
        _flip_signs(comps, scores)
        return Fitted(comps, mean, scores, evr, True)
    batches = row_batches(ds, n)
    if method == "nmf":
        return _fit_streamed_nmf(ds, batches, n, random_state, max_iter, progress)
    model = IncrementalPCA(n_components=n)
    for x in iter_batches(ds, batches, "PCA fit", progress):
        _check_finite(x, method)
        model.partial_fit(x)
    scores = np.concatenate([model.transform(x) for x in
                             iter_batches(ds, batches, "PCA scores", progress)])
    comps = model.components_.astype(np.float64).copy()
    scores = scores.astype(np.float64)
    _flip_signs(comps, scores)
    return Fitted(comps, model.mean_, scores, model.explained_variance_ratio_, True)


def _fit_streamed_nmf(ds: Dataset4D, batches: list[slice], n: int, random_state: int,
                      max_iter: int, progress: Any) -> Fitted:
    def stream() -> Iterator[np.ndarray]:
        for x in iter_batches(ds, batches, "", False):
            _check_finite(x, "nmf")
            yield x.astype(np.float64)

    n_pat = ds.scan_shape[0] * ds.scan_shape[1]
    n_pix = ds.pattern_shape[0] * ds.pattern_shape[1]
    client = active_client()
    if client is not None and (ds.is_lazy or file_view(ds.array) is not None):
        # the workers read the data for every pass; check it once, there too
        array = ds.to_dask()
        finite, low = dask.compute(da.isfinite(array).all(), array.min(), scheduler=client)
        _check_finite(np.array([low if finite else np.nan]), "nmf")
        w, h, _, _ = streamed_hals([array[rows] for rows in batches], n_pat, n_pix, n,
                                   max_iter=max_iter, random_state=random_state, client=client)
        return Fitted(h, np.zeros(n_pix), w, None, True)
    w, h, _, _ = streamed_hals(stream, n_pat, n_pix, n, max_iter=max_iter,
                               random_state=random_state)
    return Fitted(h, np.zeros(n_pix), w, None, True)


def fit(data: Any, method: str = "pca", n_components: int = 10, *,
        incremental: bool | None = None, random_state: int = 0, max_iter: int = 200,
        progress: bool | None = None) -> tuple[Dataset4D, Fitted]:
    """Fit a decomposition and return the data set and the fitted arrays (parameters as
    in :func:`decompose`; within the memory budget in force)."""
    random_state = check_seed(random_state)
    ds = as_dataset(data)
    _validate(ds, method, n_components)
    if incremental is None:
        incremental = not _fits_in_memory(ds)
    if incremental:
        return ds, _fit_incremental(ds, method, int(n_components), random_state, max_iter,
                                    progress)
    return ds, _fit_in_memory(ds, method, int(n_components), random_state)


@takes_budget
def decompose(data: Any, method: str = "pca", n_components: int = 10, *,
              incremental: bool | None = None, random_state: int = 0, max_iter: int = 200,
              memory_budget: Any = None, progress: bool | None = None) -> xr.Dataset:
    """PCA or NMF of the diffraction patterns.

    Parameters
    ----------
    data
        Anything :func:`symbreak.as_dataset` accepts, at least 2 patterns for PCA. NaN/inf
        are refused in memory and by NMF (out-of-core PCA counts them as 0);
        :func:`symbreak.sanitize.check_input` replaces and counts them.
    method
        "pca" (the mean pattern is subtracted) or "nmf" (non-negative data, no mean
        subtraction).
    n_components
        Number of components.
    incremental
        None: in memory when the data fit the memory budget, else incremental
        (IncrementalPCA / streamed HALS NMF over batches of scan rows). True/False force it.
    random_state
        Seed for the randomised solvers.
    max_iter
        Most passes over the data for out-of-core NMF (streamed HALS, see
        :mod:`symbreak.classical.nmf`); each pass reads the data once.
    memory_budget, progress
        As in :func:`symbreak.com`.

    Returns
    -------
    xarray.Dataset
        ``scores`` (component, scan_y, scan_x), ``components`` (component, ky, kx),
        ``mean`` (ky, kx) and, for PCA, ``explained_variance_ratio`` (component).
    """
    ds, fitted = fit(data, method, n_components, incremental=incremental,
                     random_state=random_state, max_iter=max_iter, progress=progress)
    ny, nx = ds.scan_shape
    ky, kx = ds.pattern_shape
    n = fitted.components.shape[0]
    variables = {
        "scores": (("component",) + SCAN_DIMS, fitted.scores.T.reshape(n, ny, nx),
                   {"units": "a.u."}),
        "components": (("component", "ky", "kx"), fitted.components.reshape(n, ky, kx),
                       {"units": "a.u."}),
        "mean": (("ky", "kx"), np.asarray(fitted.mean).reshape(ky, kx), {"units": "counts"}),
    }
    if fitted.explained_variance_ratio is not None:
        variables["explained_variance_ratio"] = ("component", fitted.explained_variance_ratio,
                                                 {"units": "1"})
    coords = axis_coords(ds, SCAN_DIMS + ("ky", "kx"))
    coords["component"] = xr.Variable("component", np.arange(n), attrs={"units": ""})
    settings = {"method": method, "n_components": n, "incremental": fitted.incremental,
                "random_state": random_state, "max_iter": max_iter}
    return xr.Dataset(variables, coords=coords, attrs=base_attrs(ds, settings))


def _reconstruct(block: np.ndarray, basis: np.ndarray, mean: np.ndarray) -> np.ndarray:
    a, b, ky, kx = block.shape
    x = block.reshape(a * b, ky * kx).astype(np.float32) - mean
    return ((x @ basis.T) @ basis + mean).reshape(a, b, ky, kx)


@takes_budget
def pca_denoise(data: Any, n_components: int = 20, keep: int | Sequence[int] = 13, *,
                incremental: bool | None = None, random_state: int = 0,
                memory_budget: Any = None, progress: bool | None = None) -> Dataset4D:
    """PCA denoising (the paper's experimental preprocessing: PCA(20), keep 0-12).

    Fits PCA (one pass), then returns a *lazy* data set whose patterns are the mean plus
    the projection on the kept components, computed chunk by chunk when read.

    Parameters
    ----------
    n_components
        Components fitted.
    keep
        Number of leading components kept, or a list of component indices.

    Returns
    -------
    Dataset4D
        float32, lazy (dask), same calibration, with a provenance step.
    """
    ds, fitted = fit(data, "pca", n_components, incremental=incremental,
                     random_state=random_state, progress=progress)
    indices = list(range(keep)) if isinstance(keep, (int, np.integer)) else list(keep)
    if not indices or any(not 0 <= int(i) < n_components for i in indices):
        raise SettingsError(
            f"keep must be a count from 1 to n_components={n_components} or a list of "
            f"component indices below it, got {keep!r}"
        )
    basis = fitted.components[indices].astype(np.float32)
    mean = np.asarray(fitted.mean, dtype=np.float32)
    lazy = lazy_map_patterns(ds, functools.partial(_reconstruct, basis=basis, mean=mean),
                             dtype=np.float32)
    return ds.replace(array=lazy, step={"step": "pca_denoise", "n_components": n_components,
                                        "keep": [int(i) for i in indices]})
