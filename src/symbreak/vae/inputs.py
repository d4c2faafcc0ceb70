"""Where the training patterns live: in memory or streamed from disk, and the seeded
train / validation split (moved out of the estimator, which keeps only its parameters)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import torch
import xarray as xr
import zarr
from sklearn.model_selection import train_test_split

from ..engine import placement, shuffle_buffer_patterns
from ..engine.staging import stage_patterns
from ..dataset import Dataset4D
from ..errors import DataError, SettingsError
from .data import as_patterns
from .parallel import Parallel
from .settings import FitSettings
from .source import MemoryData, MemoryPatterns, StreamData, ZarrPatterns


def is_lazy(array: Any) -> bool:
    """Data that live on disk or in a task graph rather than in memory."""
    return isinstance(array, (da.Array, zarr.Array, np.memmap)) or (
        isinstance(array, xr.DataArray) and isinstance(array.data, da.Array))


def check_streaming(streaming: Any, loader_workers: Any) -> None:
    """Refuse a bad ``streaming`` / ``loader_workers`` with a one-line fix."""
    if streaming not in ("auto", True, False):
        raise SettingsError(f"streaming={streaming!r} must be 'auto', True or False")
    w = loader_workers
    if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 0):
        raise SettingsError(f"loader_workers={w!r} must be a non-negative integer "
                            "(0 reads in the training process)")


def open_source(X: Any, streaming: Any, checkpoint_dir: Any,
                stack: contextlib.ExitStack) -> Any:
    """A :class:`ZarrPatterns` for data streamed from disk, else :class:`MemoryPatterns`.

    Lazy input larger than the in-memory share of the budget is streamed (``streaming=
    "auto"``); lazy input that is not a zarr array is first written to
    ``checkpoint_dir/patterns.zarr`` (or a temporary folder kept open by ``stack``).
    """
    if isinstance(X, Dataset4D):
        X = X.array
    if isinstance(X, xr.DataArray):
        X = X.data
    if isinstance(X, (str, os.PathLike)):
        X = zarr.open_array(str(X), mode="r")
    if not is_lazy(X):
        return MemoryPatterns(as_patterns(X)[0])
    big = placement(int(np.prod(X.shape)) * 4).streamed
    if streaming is False or (streaming == "auto" and not big):
        return MemoryPatterns(as_patterns(X)[0])
    if isinstance(X, zarr.Array):
        return ZarrPatterns(X)
    if isinstance(X, np.memmap):
        return MemoryPatterns(X.reshape(-1, *X.shape[-2:]))
    folder = checkpoint_dir
    if folder is None:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="symbreak-"))
    return ZarrPatterns(stage_patterns(X, Path(folder) / "patterns.zarr"))


def training_data(source: Any, train_idx: np.ndarray, val_idx: np.ndarray,
                  settings: FitSettings, parallel: Parallel, streaming: Any,
                  loader_workers: int | None) -> Any:
    """One tensor for a plain array in memory; zarr and memory maps stream in chunks."""
    if type(getattr(source, "patterns", None)) is np.ndarray and streaming is not True:
        data = torch.from_numpy(source.patterns)
        return MemoryData(data[train_idx], data[val_idx], settings.batch_size, parallel)
    mask = np.zeros(source.n, dtype=bool)
    mask[train_idx] = True
    pattern_bytes = 4 * int(np.prod(source.pattern_shape))
    buffer = shuffle_buffer_patterns(pattern_bytes, settings.batch_size)
    workers = 1 if loader_workers is None else int(loader_workers)
    return StreamData(source, mask, settings.batch_size, settings.random_state, parallel,
                      buffer, workers)


def split(n: int, settings: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices (``train_test_split`` seeded by the settings)."""
    n_val = int(np.ceil(n * settings.validation_fraction))
    if n < 2 or n_val >= n:
        raise DataError(f"need at least 2 patterns to hold out a validation share of "
                        f"{settings.validation_fraction}, got {n}")
    train_idx, val_idx = train_test_split(np.arange(n), test_size=settings.validation_fraction,
                                          random_state=settings.random_state)
    return np.sort(train_idx), np.sort(val_idx)


def read_indices(source: Any, indices: np.ndarray, limit: int = 4096) -> np.ndarray:
    """Patterns ``indices`` (at most ``limit``, evenly spaced) of a source as float32."""
    indices = np.asarray(indices)
    if indices.size > limit:
        indices = indices[np.linspace(0, indices.size - 1, limit).round().astype(int)]
    patterns = getattr(source, "patterns", None)
    if patterns is not None:
        return np.asarray(patterns[indices], dtype=np.float32)
    # streamed: each chunk that holds some of the patterns is read once, one at a time
    order = np.argsort(indices, kind="stable")
    wanted = indices[order]
    out = np.empty((indices.size, *source.pattern_shape), np.float32)
    for a, b in source.bounds:
        lo, hi = np.searchsorted(wanted, [a, b])
        if hi > lo:
            out[order[lo:hi]] = source.read(a, b)[wanted[lo:hi] - a]
    return out
