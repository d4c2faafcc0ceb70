"""Out-of-core NMF by streamed HALS (hierarchical alternating least squares).

``X ≈ W H`` with X (patterns, pixels) on disk, W (patterns, r) the scores and H (r, pixels)
the components. W is small (r numbers per pattern) and stays in memory; each iteration is
one pass over X: every batch updates its rows of W (HALS, column by column) and adds to
``Wᵀ X`` and ``Wᵀ W``, from which H is updated at the end of the pass. This is the exact
full-batch HALS algorithm, so it converges like in-memory NMF; scikit-learn's
``MiniBatchNMF.partial_fit`` reconstructed a rank-3 test set only to 2-6 % here.

On a dask.distributed cluster each batch's share of a pass is a task on the workers,
which read the batch there: only its rows of W and the (r, pixels) and (r, r) sums
travel, not the data, on each of the up to ``max_iter`` passes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import dask
import numpy as np

_EPS = 1e-12


def _update_rows(w: np.ndarray, xht: np.ndarray, hht: np.ndarray) -> None:
    for j in range(w.shape[1]):
        step = (xht[:, j] - w @ hht[:, j]) / max(hht[j, j], _EPS)
        w[:, j] = np.maximum(_EPS, w[:, j] + step)


def _update_components(h: np.ndarray, wtx: np.ndarray, wtw: np.ndarray) -> None:
    for j in range(h.shape[0]):
        h[j] = np.maximum(0.0, h[j] + (wtx[j] - wtw[j] @ h) / max(wtw[j, j], _EPS))


def hals_batch(x: Any, rows: np.ndarray, h: np.ndarray, hht: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One batch's share of a HALS pass: its score ``rows`` updated (in place when
    ``x`` is already float64 (patterns, pixels)), ``rowsᵀ X`` and ``rowsᵀ rows``."""
    x = np.asarray(x, dtype=np.float64).reshape(len(rows), h.shape[1])
    _update_rows(rows, x @ h.T, hht)
    return rows, rows.T @ x, rows.T @ rows


def _moments(x: Any) -> tuple[float, float]:
    x = np.asarray(x, dtype=np.float64)
    return float(x.sum()), float(np.square(x).sum())


def _local_passes(batches: Callable[[], Iterable[np.ndarray]]) -> tuple[Callable, Callable]:
    def moments() -> list[tuple[float, float]]:
        return [_moments(x) for x in batches()]

    def one_pass(w: np.ndarray, h: np.ndarray, hht: np.ndarray) -> Iterator[tuple]:
        start = 0
        for x in batches():
            yield hals_batch(x, w[start:start + len(x)], h, hht)
            start += len(x)

    return moments, one_pass


def _cluster_passes(client: Any, blocks: Sequence[Any]) -> tuple[Callable, Callable]:
    edges = np.cumsum([0] + [int(np.prod(b.shape[:-2])) for b in blocks])

    def moments() -> list[tuple[float, float]]:
        return list(dask.compute(*[dask.delayed(_moments)(b) for b in blocks],
                                 scheduler=client))

    def one_pass(w: np.ndarray, h: np.ndarray, hht: np.ndarray) -> Iterator[tuple]:
        h_once, hht_once = dask.delayed(h), dask.delayed(hht)  # one key each, not per task
        futures = client.compute([dask.delayed(hals_batch)(b, w[s:e].copy(), h_once, hht_once)
                                  for b, s, e in zip(blocks, edges, edges[1:])])
        for i, (s, e) in enumerate(itertools.pairwise(edges)):
            part = futures[i].result()  # in batch order: the same sums on every run
            futures[i] = None  # the workers may drop it
            w[s:e] = part[0]
            yield part

    return moments, one_pass


def streamed_hals(batches: Callable[[], Iterable[np.ndarray]] | Sequence[Any],
                  n_patterns: int, n_pixels: int, n_components: int, *, max_iter: int = 200,
                  tol: float = 1e-5, random_state: int = 0, client: Any = None
                  ) -> tuple[np.ndarray, np.ndarray, float, int]:
    """NMF of the row batches yielded (in the same order) by each call of ``batches``;
    with a dask.distributed ``client``, ``batches`` is a list of dask arrays (the
    batches' patterns, in order) and each pass runs on the workers.

    Returns
    -------
    (W, H, relative_error, n_iter)
        Scores (n_patterns, r), components (r, n_pixels), ``||X - WH|| / ||X||``, passes.
    """
    moments, one_pass = (_local_passes(batches) if client is None  # type: ignore[arg-type]
                         else _cluster_passes(client, batches))  # type: ignore[arg-type]
    total = sq = 0.0
    for batch_sum, batch_sq in moments():
        total += batch_sum
        sq += batch_sq
    rng = np.random.default_rng(random_state)
    scale = np.sqrt(max(total, _EPS) / (n_patterns * n_pixels * n_components))
    h = rng.random((n_components, n_pixels)) * scale
    w = rng.random((n_patterns, n_components)) * scale
    previous, error, it = np.inf, np.inf, 0
    for it in range(1, max_iter + 1):
        hht = h @ h.T
        wtx = np.zeros_like(h)
        wtw = np.zeros((n_components, n_components))
        for _, batch_wtx, batch_wtw in one_pass(w, h, hht):
            wtx += batch_wtx
            wtw += batch_wtw
        _update_components(h, wtx, wtw)
        residual = sq - 2 * np.sum(h * wtx) + np.sum(wtw * (h @ h.T))
        error = float(np.sqrt(max(residual, 0.0) / max(sq, _EPS)))
        if abs(previous - error) <= tol * max(error, _EPS):
            break
        previous = error
    return w, h, error, it
