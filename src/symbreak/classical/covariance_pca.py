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

import dask
import dask.array as da
import numpy as np
from scipy import linalg

from ..dataset import Dataset4D
from ..engine import COPIES_GRAM, as_chunked, placement
from ..errors import DataError
from ..progress import DaskProgress

def fits(n_pixels: int) -> bool:
    """Whether the covariance of ``n_pixels``-pixel patterns fits the memory budget
    (:data:`~symbreak.engine.policy.COPIES_GRAM` float64 matrices)."""
    return placement(8 * n_pixels**2, COPIES_GRAM).in_memory


def _flat(ds: Dataset4D) -> da.Array:
    """The patterns as a dask (n, ky*kx) float64 array in chunks of whole scan rows (the
    data's own chunks when they fit: a rechunk would read ahead)."""
    return flat_patterns(as_chunked(ds).astype(np.float64))


def flat_patterns(x: da.Array) -> da.Array:
    """A dask (scan_y, scan_x, ky, kx) array as (n, ky*kx) in chunks of whole scan rows."""
    if len(x.chunks[1]) > 1:  # scan rows split in columns: join them for the reshape
        x = x.rechunk({1: -1})
    return x.reshape(-1, x.shape[2] * x.shape[3])


def _compute(*arrays: Any, desc: str, progress: Any) -> tuple[Any, ...]:
    with DaskProgress(desc, progress):
        return dask.compute(*arrays)


def _moments(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return block.T @ block, block.sum(axis=0)


def _add(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
         ) -> tuple[np.ndarray, np.ndarray]:
    return a[0] + b[0], a[1] + b[1]


def _moment_sums(x: da.Array) -> Any:
    """Gram matrix and column sums of ``x`` as one delayed value, summed in a binary tree
    so that only a few (p, p) partial sums are alive at any time."""
    parts = [dask.delayed(_moments)(b) for b in x.to_delayed().ravel()]
    while len(parts) > 1:
        paired = [dask.delayed(_add)(a, b) for a, b in zip(parts[::2], parts[1::2])]
        parts = paired + parts[len(paired) * 2:]
    return parts[0]


def covariance(x: da.Array, progress: Any = None, desc: str = "PCA covariance"
               ) -> tuple[np.ndarray, np.ndarray]:
    """Covariance matrix (p, p) and mean (p) of the rows of a dask (n, p) float64 array,
    from one pass over it in its chunks (a DataError for non-finite data)."""
    n = x.shape[0]
    shift = np.asarray(x[: min(n, 256)].mean(axis=0).compute())  # limits cancellation
    ((gram, total),) = _compute(_moment_sums(x - shift), desc=desc, progress=progress)
    if not (np.isfinite(total).all() and np.isfinite(gram).all()):
        raise DataError("PCA needs finite data; the patterns contain NaN or inf (replace them "
                        "by 0 with symbreak.sanitize.check_input(data), which also counts "
                        "them, or with np.nan_to_num)")
    offset = total / n
    cov = (gram - n * np.outer(offset, offset)) / max(n - 1, 1)
    return (cov + cov.T) / 2, shift + offset


def leading_components(cov: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_components`` largest eigenvalues of ``cov``, largest first, and their
    eigenvectors as rows (n_components, p)."""
    p = cov.shape[0]
    values, vectors = linalg.eigh(cov, subset_by_index=(p - n_components, p - 1))
    order = np.argsort(values)[::-1]
    return values[order], vectors[:, order].T


def project(x: da.Array, mean: np.ndarray, components: np.ndarray, progress: Any = None,
            desc: str = "PCA scores") -> np.ndarray:
    """Scores (n, k) of the rows of ``x`` (n, p) on ``components`` (k, p) about ``mean``."""
    (scores,) = _compute((x - mean) @ components.T, desc=desc, progress=progress)
    return np.asarray(scores)


def covariance_pca(ds: Dataset4D, n_components: int, progress: Any = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Components (n, p), mean (p), scores (n_patterns, n) and explained-variance ratio
    (n) of the flattened patterns, from the covariance matrix (two passes over the data,
    in chunks within the memory budget in force)."""
    x = _flat(ds)
    cov, mean = covariance(x, progress)
    values, components = leading_components(cov, n_components)
    scores = project(x, mean, components, progress)
    ratio = np.clip(values, 0, None) / max(float(np.trace(cov)), np.finfo(float).tiny)
    return components, mean, scores, ratio
