"""Where training patterns come from, and the batches of one epoch.

Two sources share one interface (``n``, ``pattern_shape``, ``bounds``, ``read``):
:class:`MemoryPatterns` over an array in memory and :class:`ZarrPatterns` over a zarr
array on disk that is read one chunk of scan rows at a time. :class:`MemoryData` keeps
the whole training set as a tensor (the fast path for data that fit the memory budget);
:class:`StreamData` streams from either source through a PyTorch ``DataLoader``.

Streaming shuffles across chunks in two stages, as WebDataset-style loaders do: every
epoch the chunk order is permuted, consecutive chunks are pooled into buffers of about
``buffer_patterns`` patterns, and the patterns of each buffer are permuted. Both
permutations depend only on (seed, epoch, buffer), so a resumed run sees the same batches.
Under ``torchrun`` each process takes every ``world``-th buffer; all processes run the
same number of steps per epoch (the smallest share), so none waits on the others.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import zarr

from ..errors import DataError
from ..storage.zarr_compat import folder_of
from .parallel import Parallel

MEMORY_CHUNK = 4096  # patterns per virtual chunk of an in-memory source


class MemoryPatterns:
    """Patterns (n, ky, kx) float32 in memory, with virtual chunks for streaming."""

    def __init__(self, patterns: np.ndarray, chunk: int = MEMORY_CHUNK) -> None:
        self.patterns = patterns
        self.n = int(patterns.shape[0])
        self.pattern_shape = tuple(int(k) for k in patterns.shape[1:])
        self.bounds = [(i, min(i + chunk, self.n)) for i in range(0, self.n, chunk)]

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.patterns[start:stop], dtype=np.float32)


class ZarrPatterns:
    """Patterns in a zarr array (n, ky, kx) or (scan_y, scan_x, ky, kx) [any real dtype].

    Chunks are whole scan rows (4-D) or runs of patterns (3-D), as stored. The array is
    reopened by path in every process, so the object pickles to DataLoader workers small.
    """

    def __init__(self, array: zarr.Array) -> None:
        if array.ndim not in (3, 4):
            raise DataError(f"expected a 3-D or 4-D zarr array of patterns, got {array.shape}")
        if array.dtype.kind not in "biuf":
            raise DataError(f"patterns have dtype {array.dtype}; a real number type is needed")
        store = folder_of(array)
        if store is None:
            raise DataError("streaming needs a zarr array in a local folder store")
        self.store_path, self.array_path = store, array.path
        self._array: zarr.Array | None = array
        shape = tuple(int(s) for s in array.shape)
        self.scan_x = shape[1] if array.ndim == 4 else 1
        self.n = shape[0] * self.scan_x
        self.pattern_shape = shape[-2:]
        step = int(array.chunks[0])
        rows = [(r, min(r + step, shape[0])) for r in range(0, shape[0], step)]
        self.bounds = [(a * self.scan_x, b * self.scan_x) for a, b in rows]

    @property
    def array(self) -> zarr.Array:
        if self._array is None:
            self._array = zarr.open_array(self.store_path, path=self.array_path, mode="r")
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def read(self, start: int, stop: int) -> np.ndarray:
        """Patterns ``start:stop`` (flat, row-major over the scan) as float32."""
        if self.array.ndim == 3:
            return np.asarray(self.array[start:stop], dtype=np.float32)
        r0, r1 = start // self.scan_x, -(-stop // self.scan_x)
        rows = np.asarray(self.array[r0:r1], dtype=np.float32)
        flat = rows.reshape(-1, *self.pattern_shape)
        offset = r0 * self.scan_x
        return flat[start - offset:stop - offset]


def open_patterns(path: str | Path, name: str | None = None) -> ZarrPatterns:
    """A :class:`ZarrPatterns` for the array ``name`` of the zarr store at ``path``."""
    return ZarrPatterns(zarr.open_array(str(path), path=name or "", mode="r"))


def pattern_sum(source: Any) -> float:
    """Sum of all intensities in float64, one chunk at a time (for the fingerprint)."""
    return float(sum(source.read(a, b).astype(np.float64).sum() for a, b in source.bounds))


def value_range(source: Any) -> tuple[float, float]:
    """Smallest and largest value, one chunk at a time; refuses NaN and infinity."""
    low, high = math.inf, -math.inf
    for a, b in source.bounds:
        block = source.read(a, b)
        if not np.isfinite(block).all():
            bad = int(np.count_nonzero(~np.isfinite(block)))
            raise DataError(f"patterns {a}..{b} contain {bad} NaN or infinite values; "
                            "replace them (e.g. np.nan_to_num) before training")
        low, high = min(low, float(block.min())), max(high, float(block.max()))
    return low, high


# --------------------------------------------------------------------------- memory
class MemoryData:
    """Training and validation tensors in memory; under DDP each process takes every
    ``world``-th pattern of the epoch's permutation and a ``1/world`` share of the batch."""

    def __init__(self, train: torch.Tensor, val: torch.Tensor, batch_size: int,
                 parallel: Parallel) -> None:
        self.train, self.val, self.parallel = train, val, parallel
        self.batch = max(1, batch_size // parallel.world)
        share = train.shape[0] // parallel.world if parallel.world > 1 else train.shape[0]
        self.steps = max(1, math.ceil(share / self.batch))

    def epoch(self, epoch: int, shuffle: torch.Generator) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.train.shape[0], generator=shuffle)
        if self.parallel.world > 1:
            order = order[self.parallel.rank::self.parallel.world]
        for b in range(self.steps):
            yield self.train[order[b * self.batch:(b + 1) * self.batch]]

    def validation(self, batch: int) -> Iterator[torch.Tensor]:
        p = self.parallel
        val = self.val[p.rank::p.world] if p.world > 1 else self.val
        for i in range(0, val.shape[0], batch):
            yield val[i:i + batch]


# ------------------------------------------------------------------------ streaming
def group_buffers(chunks: list[int], chunk_sizes: list[int],
                  buffer_patterns: int) -> list[list[int]]:
    """Consecutive chunks pooled into shuffle buffers of at most ``buffer_patterns``."""
    buffers: list[list[int]] = [[]]
    size = 0
    for c in chunks:
        if buffers[-1] and size + chunk_sizes[c] > buffer_patterns:
            buffers.append([])
            size = 0
        buffers[-1].append(int(c))
        size += chunk_sizes[c]
    return [b for b in buffers if b]


def epoch_plan(chunk_sizes: list[int], seed: int, epoch: int, buffer_patterns: int,
               world: int, workers: int) -> list[list[list[list[int]]]]:
    """For each process, for each loader worker, its shuffle buffers (lists of chunk ids)
    this epoch: the chunks in a random order dealt round-robin to processes, then to
    workers, so every reader gets an equal number of chunks."""
    order = np.random.default_rng([seed, epoch]).permutation(len(chunk_sizes)).tolist()
    nw = max(1, workers)
    return [[group_buffers(order[r::world][k::nw], chunk_sizes, buffer_patterns)
             for k in range(nw)] for r in range(world)]


def pieces(bounds: list[tuple[int, int]], at_least: int) -> list[tuple[int, int]]:
    """Split the largest ranges in half until there are ``at_least`` of them (or every
    range holds one pattern), so that every process and loader worker gets some."""
    out = list(bounds)
    while len(out) < at_least:
        i = max(range(len(out)), key=lambda k: out[k][1] - out[k][0])
        a, b = out[i]
        if b - a < 2:
            break
        out[i:i + 1] = [(a, (a + b) // 2), ((a + b) // 2, b)]
    return out


def batch_count(n: int, batch: int) -> int:
    """Batches from ``n`` patterns: full batches only, or one short batch if n < batch."""
    return n // batch if n >= batch else int(n > 0)


class EpochStream(torch.utils.data.IterableDataset):
    """The training batches of one process for one epoch (split across loader workers)."""

    def __init__(self, source: Any, bounds: list[tuple[int, int]], train_mask: np.ndarray,
                 plan: list[list[list[int]]], batch: int, seed: int, epoch: int,
                 rank: int) -> None:
        super().__init__()
        self.source, self.bounds = source, bounds
        self.train_mask, self.plan = train_mask, plan
        self.batch, self.seed, self.epoch, self.rank = batch, seed, epoch, rank

    def worker_buffers(self) -> list[tuple[tuple[int, ...], list[int]]]:
        """(random-stream id, chunk ids) of the buffers this loader worker reads."""
        info = torch.utils.data.get_worker_info()
        k = 0 if info is None else info.id
        return [((self.rank, k, i), chunks) for i, chunks in enumerate(self.plan[k])]

    def __iter__(self) -> Iterator[torch.Tensor]:
        carry = np.empty((0, *self.source.pattern_shape), np.float32)
        yielded = 0
        for buffer_id, chunks in self.worker_buffers():
            parts = [carry]
            for c in chunks:
                a, b = self.bounds[c]
                parts.append(self.source.read(a, b)[self.train_mask[a:b]])
            pool = np.concatenate(parts)
            rng = np.random.default_rng([self.seed, self.epoch, *buffer_id])
            pool = pool[rng.permutation(pool.shape[0])]
            full = pool.shape[0] // self.batch * self.batch
            for i in range(0, full, self.batch):
                yielded += 1
                yield torch.from_numpy(np.ascontiguousarray(pool[i:i + self.batch]))
            carry = pool[full:]
        if carry.shape[0] and not yielded:  # fewer patterns than one batch: one short batch
            yield torch.from_numpy(np.ascontiguousarray(carry))


class StreamData:
    """Training patterns streamed from a source chunk by chunk (see the module docstring).

    Parameters
    ----------
    source
        :class:`MemoryPatterns` or :class:`ZarrPatterns`.
    train_mask
        Boolean (n,): patterns used for training; the rest validate.
    batch_size
        Global batch size; each of ``world`` processes takes ``batch_size // world``.
    seed
        Seed of the shuffling.
    buffer_patterns
        Patterns pooled per shuffle buffer (from the memory budget).
    workers
        DataLoader worker processes reading chunks ahead (0: read in the training process).
    """

    def __init__(self, source: Any, train_mask: np.ndarray, batch_size: int, seed: int,
                 parallel: Parallel, buffer_patterns: int, workers: int = 0) -> None:
        self.source, self.train_mask, self.seed = source, train_mask, seed
        self.parallel, self.workers = parallel, workers
        self.batch = max(1, batch_size // parallel.world)
        readers = parallel.world * max(1, workers)
        self.bounds = pieces(source.bounds, 2 * readers)
        self.sizes = [int(train_mask[a:b].sum()) for a, b in self.bounds]
        # a buffer never holds more than one reader's share
        share = max(1, sum(self.sizes) // readers)
        self.buffer_patterns = max(self.batch, min(buffer_patterns, share))
        self.steps = self._steps(0)

    def _plan(self, epoch: int) -> list[list[list[list[int]]]]:
        return epoch_plan(self.sizes, self.seed, epoch, self.buffer_patterns,
                          self.parallel.world, self.workers)

    def _steps(self, epoch: int) -> int:
        per_rank = [sum(batch_count(sum(self.sizes[c] for buf in buffers for c in buf),
                                    self.batch) for buffers in workers)
                    for workers in self._plan(epoch)]
        steps = min(per_rank)
        if steps == 0:
            raise DataError(f"too few training patterns ({sum(self.sizes)}) for "
                            f"{self.parallel.world} processes; use fewer processes")
        return steps

    def epoch(self, epoch: int, shuffle: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        self.steps = self._steps(epoch)
        plan = self._plan(epoch)[self.parallel.rank]
        stream = EpochStream(self.source, self.bounds, self.train_mask, plan, self.batch,
                             self.seed, epoch, self.parallel.rank)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=self.workers,
                                             prefetch_factor=2 if self.workers else None)
        for step, x in enumerate(loader):
            if step >= self.steps:
                break
            yield x

    def validation(self, batch: int) -> Iterator[torch.Tensor]:
        val_chunks = [c for c, (a, b) in enumerate(self.bounds)
                      if (~self.train_mask[a:b]).any()]
        for c in val_chunks[self.parallel.rank::self.parallel.world]:
            a, b = self.bounds[c]
            block = self.source.read(a, b)[~self.train_mask[a:b]]
            for i in range(0, block.shape[0], batch):
                yield torch.from_numpy(np.ascontiguousarray(block[i:i + batch]))
