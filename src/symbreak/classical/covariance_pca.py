"""Exact PCA of data larger than memory from one pass: the pixel covariance matrix.

For patterns of ``p = ky * kx`` pixels the (p, p) covariance needs ``8 p^2`` bytes (36 MB
for 46 x 46 px patterns) however many patterns there are. It is the sum of per-chunk Gram
matrices, which dask computes chunk by chunk on local threads or on a dask.distributed
cluster; its eigenvectors are the principal components, exactly as a full SVD finds them
(up to float64 rounding), where ``IncrementalPCA`` needs one SVD per batch (minutes each
for thousands of patterns) and approximates. A second pass projects the patterns.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
from scipy import linalg

from ..budget import memory_budget, scan_chunks
from ..dataset import Dataset4D
from ..progress import DaskProgress

GRAM_COPIES = 6  # partial Gram matrices in flight while the chunks are summed


def fits(n_pixels: int, budget: Any = None) -> bool:
    """Whether the covariance of ``n_pixels``-pixel patterns fits the memory budget."""
    return 8 * n_pixels**2 * GRAM_COPIES <= memory_budget(budget)


def _flat(ds: Dataset4D, budget: Any) -> da.Array:
    """The patterns as a dask (n, ky*kx) float64 array in chunks of whole scan rows."""
    x = ds.to_dask()
    rows = scan_chunks(ds.shape, 8, memory_budget(budget), copies=8.0)[0]
    x = x.rechunk((rows, -1, -1, -1)).astype(np.float64)
    n_pix = ds.pattern_shape[0] * ds.pattern_shape[1]
    x = x.reshape(-1, n_pix)
    return da.where(da.isfinite(x), x, 0.0)


def _compute(*arrays: da.Array, desc: str, progress: Any) -> tuple[np.ndarray, ...]:
    with DaskProgress(desc, progress):
        return tuple(np.asarray(a) for a in da.compute(*arrays))


def covariance_pca(ds: Dataset4D, n_components: int, budget: Any = None,
                   progress: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """Components (n, p), mean (p), scores (n_patterns, n) and explained-variance ratio
    (n) of the flattened patterns, from the covariance matrix (two passes over the data)."""
    x = _flat(ds, budget)
    n = x.shape[0]
    shift = np.asarray(x[: min(n, 256)].mean(axis=0).compute())  # limits cancellation
    centred = x - shift
    gram, total = _compute(centred.T @ centred, centred.sum(axis=0), desc="PCA covariance",
                           progress=progress)
    offset = total / n
    cov = (gram - n * np.outer(offset, offset)) / max(n - 1, 1)
    cov = (cov + cov.T) / 2
    p = cov.shape[0]
    values, vectors = linalg.eigh(cov, subset_by_index=(p - n_components, p - 1))
    order = np.argsort(values)[::-1]
    values, components = values[order], vectors[:, order].T
    mean = shift + offset
    (scores,) = _compute((x - mean) @ components.T, desc="PCA scores", progress=progress)
    ratio = np.clip(values, 0, None) / max(float(np.trace(cov)), np.finfo(float).tiny)
    return components, mean, scores, ratio
