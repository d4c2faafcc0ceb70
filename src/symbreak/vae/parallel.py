"""Training in several processes with PyTorch DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node N`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address; :func:`from_environment` joins that process group (gloo on CPU, nccl
on CUDA) and returns a :class:`Parallel` describing this process. Without torchrun it
returns the single-process description and touches nothing.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import torch
import torch.distributed as dist

from ..errors import SettingsError


@dataclasses.dataclass(frozen=True)
class Parallel:
    """This process's place among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, models and results."""
        return self.rank == 0

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (float64)."""
        if self.world == 1:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on any (keeps decisions in step)."""
        return self.sum([float(flag)])[0] > 0

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every process's copy of a same-shaped CPU tensor, in rank order."""
        if self.world == 1:
            return [tensor]
        out = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(out, tensor.contiguous())
        return out

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def environment_world() -> int:
    """``WORLD_SIZE`` set by torchrun (1 outside it)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise SettingsError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer")


def from_environment(device: str) -> Parallel:
    """Join the torchrun process group if there is one; the device is checked against it."""
    world = environment_world()
    if world <= 1:
        return Parallel()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device == "cuda" else "gloo"
        if device == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    if dist.get_world_size() != world:
        raise SettingsError(f"the process group has {dist.get_world_size()} processes but "
                            f"WORLD_SIZE is {world}")
    return Parallel(rank=rank, world=world, local_rank=local)


def device_for(device: str, parallel: Parallel) -> str:
    """``cuda:LOCAL_RANK`` for CUDA under torchrun, else ``device`` unchanged."""
    if device == "cuda" and parallel.world > 1:
        return f"cuda:{parallel.local_rank}"
    return device


def is_main_process() -> bool:
    """False in torchrun processes other than rank 0 (which must not write outputs)."""
    return int(os.environ.get("RANK", "0")) == 0
