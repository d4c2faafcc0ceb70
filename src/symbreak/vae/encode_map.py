"""Encoding every scan position as a chunked map over the data with dask.

The network travels to the chunks as a small picklable :class:`EncoderSpec` (weights as
numpy arrays plus the architecture) and is rebuilt once per process, so the same graph runs
on the local threaded scheduler or on every worker of a dask.distributed cluster.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import dask.array as da
import numpy as np
import torch

from ..engine import COPIES_ENCODE, active_client, reused_buffers, scan_chunks
from ..progress import DaskProgress
from .loss import mean_from_output
from .model import Architecture, Posterior, RotationalVAEModule
from .train import cpu_threads

_MODELS: dict[str, RotationalVAEModule] = {}
BATCH = 512
"""Patterns encoded at once (the network's activations are held for one batch)."""
TASKS_PER_THREAD = 4
"""Encoding chunks per thread at least (while they hold at least :data:`BATCH` patterns)."""


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """What a worker needs to rebuild the trained network."""

    key: str
    architecture: Architecture
    weights: dict[str, np.ndarray]
    likelihood: str
    translation_prior: float
    copies: int = 1

    @classmethod
    def from_model(cls, model: RotationalVAEModule, key: str, likelihood: str,
                   translation_prior: float, copies: int = 1) -> "EncoderSpec":
        weights = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
        return cls(key, model.arch, weights, likelihood, translation_prior, copies)

    def model(self) -> RotationalVAEModule:
        """The network on the CPU, built once per process."""
        if self.key not in _MODELS:
            model = RotationalVAEModule(self.architecture)
            model.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights.items()})
            _MODELS[self.key] = model.eval()
        return _MODELS[self.key]

    @property
    def n_out(self) -> int:
        return n_columns(self.architecture)


def n_columns(arch: Architecture) -> int:
    """Numbers per pattern in :func:`encode_patterns`'s output."""
    return 3 + 2 * arch.latent_dim + 2 * arch.n_shift


def columns(arch: Architecture) -> dict[str, slice]:
    """Where each latent lies in the last axis of :func:`encode_patterns`'s output."""
    d, s = arch.latent_dim, arch.n_shift
    out = {"angle": slice(0, 1), "angle_sd": slice(1, 2), "error": slice(2, 3),
           "z": slice(3, 3 + d), "z_sd": slice(3 + d, 3 + 2 * d)}
    if s:
        out["shift"] = slice(3 + 2 * d, 3 + 2 * d + s)
        out["shift_sd"] = slice(3 + 2 * d + s, 3 + 2 * d + 2 * s)
    return out


def symmetry_copies(arch: Architecture, symmetrize: bool) -> int:
    """Rotated copies for symmetrised encoding: 4 (quarter turns) for square patterns, 2
    (half turns) otherwise, 1 when off or with shift latents (not symmetrised)."""
    if not symmetrize or arch.translation:
        return 1
    ky, kx = arch.pattern_shape
    return 4 if ky == kx else 2


def symmetric_posterior(model: RotationalVAEModule, x: torch.Tensor, copies: int = 1
                        ) -> Posterior:
    """The posterior of ``x`` combined over ``copies`` exact rotations of it.

    Copy k is ``x`` turned by ``k * 2 pi / copies`` (quarter or half turns, exact pixel
    permutations). Content means are the mean over copies and sds the root-mean-square;
    the angle is the circular mean of ``angle_k - k * 2 pi / copies`` [rad]. Turning the
    input by a multiple of ``2 pi / copies`` only permutes the copies, so the content is
    exactly invariant and the angle moves by exactly the applied turn.
    """
    if copies == 1:
        return model.encode(x)
    step = 4 // copies
    posts = [model.encode(torch.rot90(x, k=-k * step, dims=(1, 2))) for k in range(copies)]
    turns = [k * step * math.pi / 2 for k in range(copies)]
    sin = sum(torch.sin(p.angle - t) for p, t in zip(posts, turns))
    cos = sum(torch.cos(p.angle - t) for p, t in zip(posts, turns))
    z = torch.stack([p.z for p in posts]).mean(0)
    z_sd = torch.stack([torch.exp(2 * p.z_logsd) for p in posts]).mean(0).sqrt()
    angle_sd = torch.stack([torch.exp(2 * p.angle_logsd) for p in posts]).mean(0).sqrt()
    return Posterior(torch.atan2(sin, cos), torch.log(angle_sd), None, None, z,
                     torch.log(z_sd))


@torch.no_grad()
def encode_patterns(model: RotationalVAEModule, patterns: np.ndarray, likelihood: str,
                    translation_prior: float, device: str = "cpu", copies: int = 1
                    ) -> np.ndarray:
    """Latent means, sds and reconstruction error of (n, ky, kx) patterns: (n, n_out);
    ``copies`` > 1 combines exact rotations (:func:`symmetric_posterior`)."""
    rows = []
    for i in range(0, patterns.shape[0], BATCH):
        x = torch.from_numpy(np.ascontiguousarray(patterns[i:i + BATCH], np.float32)).to(device)
        post = symmetric_posterior(model, x, copies)
        recon = mean_from_output(model.decode(post.z, post.angle, post.shift), likelihood)
        parts = [post.angle[:, None], torch.exp(post.angle_logsd)[:, None],
                 ((recon - x) ** 2).mean(dim=(1, 2))[:, None], post.z, torch.exp(post.z_logsd)]
        if post.shift is not None:
            parts += [post.shift * translation_prior,
                      torch.exp(post.shift_logsd) * translation_prior]
        rows.append(torch.cat([p.float() for p in parts], dim=1).cpu().numpy())
    return np.concatenate(rows) if rows else np.empty((0, 0), np.float32)


def encode_block(block: np.ndarray, spec: EncoderSpec) -> np.ndarray:
    """(a, b, ky, kx) patterns -> (a, b, 1, n_out) encodings (keeps four axes so dask
    does not concatenate input chunks). Runs with one PyTorch thread: the chunks are
    the parallelism (nested intra-op threads only fight the other chunks for the cores)."""
    a, b = block.shape[:2]
    flat = block.reshape(a * b, *block.shape[2:])
    if torch.get_num_threads() != 1:  # a dask.distributed worker: its threads run chunks
        torch.set_num_threads(1)
    with reused_buffers():  # batch activations: reused heap, not a mapping each
        out = encode_patterns(spec.model(), flat, spec.likelihood, spec.translation_prior,
                              copies=spec.copies)
    return out.reshape(a, b, 1, spec.n_out)


def encode_chunks(shape4: tuple[int, int, int, int], source_rows: int | None,
                  threads: int) -> tuple[int, int, int, int]:
    """Chunk shape (rows, cols, ky, kx) for encoding a (scan_y, scan_x, ky, kx) array.

    The memory budget sets the largest chunk (:data:`~symbreak.engine.COPIES_ENCODE`
    working copies per thread). Within it, chunks are made smaller so that every one
    of ``threads`` threads gets at least :data:`TASKS_PER_THREAD` of them (one large
    chunk per thread leaves threads idle at the end; never below :data:`BATCH`
    patterns), and, when a chunk spans at least one stored chunk of ``source_rows``
    scan rows, a whole multiple of those (no stored chunk is read twice).
    """
    rows, cols, ky, kx = scan_chunks(shape4, 4, copies=COPIES_ENCODE)
    ny, nx = shape4[:2]
    if cols < nx:  # the budget allows less than one scan row per chunk
        return rows, cols, ky, kx
    balanced = math.ceil(ny * nx / (TASKS_PER_THREAD * max(1, threads)))
    rows = min(rows, max(1, math.ceil(max(balanced, BATCH) / nx)))
    if source_rows and rows >= source_rows:
        rows = rows // source_rows * source_rows
    return rows, nx, ky, kx


def _source_rows(array: Any) -> int | None:
    """Scan rows of the first stored chunk of a zarr/dask array (None when unknown)."""
    chunks = getattr(array, "chunks", None)
    if not chunks:
        return None
    first = chunks[0]
    return int(first[0]) if isinstance(first, tuple) else int(first)


def _threads() -> int:
    """Threads that encode chunks at once: the cluster's, else one per core."""
    client = active_client()
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    return max(1, os.cpu_count() or 1)


def encode_lazy(array: Any, spec: EncoderSpec, progress: bool | None = None) -> np.ndarray:
    """Encode a lazy (scan_y, scan_x, ky, kx) or (n, ky, kx) array chunk by chunk.

    Runs on the active dask.distributed client if there is one, else on local threads
    (one per core, each with one PyTorch thread). Returns (n, n_out) in scan order.
    """
    shape4 = tuple(array.shape) if array.ndim == 4 else (array.shape[0], 1, *array.shape[1:])
    threads = _threads()
    chunks = encode_chunks(shape4, _source_rows(array), threads)
    if isinstance(array, da.Array):
        x = array if array.ndim == 4 else array[:, None]
        x = x.rechunk(chunks)
    else:  # read in the final chunks: no larger blocks held while they are split
        x = da.from_array(array, chunks=chunks if array.ndim == 4 else
                          (chunks[0], *chunks[2:]), asarray=True, name=False)
        x = x if x.ndim == 4 else x[:, None]
    out = x.map_blocks(encode_block, spec=spec, dtype=np.float32,
                       chunks=x.chunks[:2] + ((1,), (spec.n_out,)))
    with DaskProgress("encoding", progress):
        if active_client() is not None:
            result = out.compute()
        else:
            with cpu_threads(1):  # one PyTorch thread in each dask thread
                result = out.compute(scheduler="threads", num_workers=threads)
    return np.asarray(result).reshape(-1, spec.n_out)
