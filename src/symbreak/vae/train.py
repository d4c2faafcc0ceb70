"""The training loop, separate from the model: batches, schedule, validation, early
stopping, one atomic checkpoint per epoch and exact resume.

All randomness (shuffling, latent sampling, augmentation angles) comes from generators
seeded by ``random_state`` and saved in the checkpoint, so a resumed run continues the very
same sequence of batches as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import math
import os
import pickle
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..errors import FormatError, SettingsError
from . import CHECKPOINT
from ..progress import enabled
from .geometry import coordinate_grid, rotate_patterns
from .loss import consistency, negative_elbo
from .model import RotationalVAEModule
from .parallel import Parallel
from .pixel_mlp import release_buffers
from .settings import FitSettings

VALIDATION_BATCH = 256
COLLAPSE_EPOCHS = 40     # an attempt whose best validation loss is still >= collapse_loss
                         # (about the mean-pattern level) after this many epochs is ended
ANGLE_WARMUP_WEIGHT = 0.2  # start weight (per pixel) of the first-moment angle target


def autocast(settings: FitSettings) -> contextlib.AbstractContextManager:
    """Reduced-precision autocast for the forward pass, or nothing for float32."""
    if settings.precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if settings.precision == "bf16" else torch.float16
    return torch.autocast(device_type=settings.device, dtype=dtype)


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` PyTorch CPU threads inside the block, then restore the previous count."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def default_threads(settings: FitSettings) -> int | None:
    """Threads for CPU training: one for the light rotate decoder, whose many small
    operations lose far more to thread synchronisation than they gain on a shared machine
    (measured: 0.38 s vs 14.7 s per epoch at 24 x 24 with 1 vs 2 threads under load)."""
    if settings.n_threads is not None:
        return settings.n_threads
    if settings.device == "cpu" and settings.decoder == "rotate":
        return 1
    return None


def learning_rate(settings: FitSettings, epoch: float) -> float:
    """Learning rate at a fractional epoch: linear warm-up, then constant or cosine."""
    base = settings.learning_rate
    warm = settings.warmup_epochs
    if warm and epoch < warm:
        return base * (epoch + 1e-3) / warm
    if settings.schedule == "cosine":
        span = max(settings.epochs - warm, 1)
        progress = min((epoch - warm) / span, 1.0)
        return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))
    return base


class Objective(nn.Module):
    """The training loss of one batch (negative ELBO plus rotation consistency) as one
    module, so that DistributedDataParallel sees a single forward per step."""

    def __init__(self, model: RotationalVAEModule, settings: FitSettings) -> None:
        super().__init__()
        self.model, self.settings = model, settings
        self.angle_weight = 0.0  # set per epoch by the trainer during the angle warm-up

    def forward(self, x: torch.Tensor, noise: torch.Generator) -> torch.Tensor:
        s = self.settings
        with autocast(s):
            x_hat, post = self.model(x, noise)
        loss = negative_elbo(x_hat, x, post, likelihood=s.likelihood, beta=s.beta,
                             rotation_prior=s.rotation_prior).mean()
        if s.consistency > 0:
            applied = (torch.rand(x.shape[0], generator=noise, device=x.device) * 2 - 1
                       ) * math.pi
            moved = None
            if s.translation:
                moved = torch.rand(x.shape[0], 2, generator=noise, device=x.device) * 2 - 1
            shift = None if moved is None else moved * s.translation_prior
            with autocast(s):
                post_rot = self.model.encode(rotate_patterns(x, applied, shift))
            angle_term, content_term = consistency(post, post_rot, applied, moved)
            weight = s.consistency * x[0].numel()  # scales with the summed reconstruction
            loss = loss + weight * (angle_term + content_term).mean()
        if self.angle_weight > 0:
            target = moment_direction(x)
            loss = loss + self.angle_weight * x[0].numel() * (
                1 - torch.cos(post.angle.float() - target)).mean()
        return loss


def moment_direction(x: torch.Tensor) -> torch.Tensor:
    """Direction [rad] of each pattern's first moment about the batch's mean pattern: the
    COM direction, a free estimate of each pattern's orientation (as arctan2(com_y, com_x))."""
    d = x.float() - x.float().mean(dim=0, keepdim=True)
    grid = coordinate_grid(tuple(x.shape[-2:])).to(x.device).reshape(*x.shape[-2:], 2)
    mx = (d * grid[..., 0]).sum(dim=(1, 2))
    my = (d * grid[..., 1]).sum(dim=(1, 2))
    return torch.atan2(my, mx)


class Trainer:
    """Fits a :class:`RotationalVAEModule` to training patterns, validating each epoch.

    Parameters
    ----------
    model
        The network (moved to ``settings.device``).
    settings
        Resolved settings (epochs, batch size, learning rate, loss weights, ...).
    fingerprint
        Identifies model + data; a checkpoint with another fingerprint is not resumed.
    checkpoint_dir
        Folder for ``checkpoint.pt`` (written atomically every epoch), or None.
    progress
        Show a progress bar (None: only on a terminal).
    parallel
        This process's place under torchrun: the model is wrapped in
        DistributedDataParallel, losses are summed over processes and only the main
        process writes checkpoints and shows progress.
    collapse_loss
        Validation -ELBO per pattern near that of the mean-pattern model; an attempt whose
        best validation loss is still at or above it after COLLAPSE_EPOCHS epochs ends with
        ``stop_reason = "collapsed"``. None: no such check.

    ``stop_reason`` after :meth:`fit`: ``"epochs"`` (budget done), ``"early_stopping"``,
    ``"max_time"`` or ``"collapsed"``.
    """

    def __init__(self, model: RotationalVAEModule, settings: FitSettings, fingerprint: str,
                 checkpoint_dir: str | os.PathLike | None = None,
                 progress: bool | None = None, parallel: Parallel | None = None,
                 collapse_loss: float | None = None) -> None:
        self.settings = settings
        self.collapse_loss = collapse_loss
        self.stop_reason = "epochs"
        self.parallel = parallel or Parallel()
        self.device = torch.device(settings.device)
        self.model = model.to(self.device)
        self.fingerprint = fingerprint
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.progress = progress if self.parallel.is_main else False
        self.objective: nn.Module = Objective(self.model, settings)
        if self.parallel.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.objective = DistributedDataParallel(self.objective, device_ids=ids)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.shuffle = torch.Generator().manual_seed(settings.random_state)
        seed = settings.random_state + 1 + 1000 * self.parallel.rank
        self.noise = torch.Generator(device=self.device).manual_seed(seed)
        self.history: list[dict[str, float]] = []
        self.best_val = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stale = 0

    # ----------------------------------------------------------------- loop
    def fit(self, data: Any, resume: bool = False) -> list[dict]:
        """Train on ``data`` (:class:`~symbreak.vae.source.MemoryData` or
        :class:`~symbreak.vae.source.StreamData`); returns the history."""
        if resume:
            self.load_checkpoint()
        s = self.settings
        start = len(self.history)
        elapsed = self.history[-1]["time"] if self.history else 0.0
        bar = self._bar(start)
        t0 = time.perf_counter() - elapsed
        with cpu_threads(default_threads(s)):
            try:
                self._loop(data, start, bar, t0)
            finally:
                release_buffers()   # the spatial decoder's pooled activations
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        return self.history

    def _loop(self, data: Any, start: int, bar: Any, t0: float) -> None:
        s = self.settings
        try:
            for epoch in range(start, s.epochs):
                if self._should_stop(time.perf_counter() - t0):
                    break
                self._set_angle_weight(epoch)
                train_loss = self._train_epoch(data, epoch)
                val_loss = self.evaluate(data)
                self._record(epoch, train_loss, val_loss, time.perf_counter() - t0)
                self.save_checkpoint()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}")
        finally:
            if bar is not None:
                bar.close()

    def _should_stop(self, elapsed: float) -> bool:
        s = self.settings
        if s.early_stopping is not None and self.stale >= s.early_stopping:
            self.stop_reason = "early_stopping"
            return True
        if (self.collapse_loss is not None and len(self.history) >= COLLAPSE_EPOCHS
                and self.best_val >= self.collapse_loss):
            self.stop_reason = "collapsed"
            return True
        # processes clock differently: stop all when any runs out of time
        if self.parallel.any(s.max_time is not None and elapsed >= s.max_time):
            self.stop_reason = "max_time"
            return True
        return False

    def _set_angle_weight(self, epoch: int) -> None:
        """Linearly fading weight of the first-moment angle target (angle warm-up)."""
        warm = self.settings.angle_warmup
        weight = ANGLE_WARMUP_WEIGHT * (1 - epoch / warm) if epoch < warm else 0.0
        objective = getattr(self.objective, "module", self.objective)
        objective.angle_weight = weight

    def _bar(self, start: int) -> Any:
        if not enabled(self.progress):
            return None
        return tqdm(total=self.settings.epochs, initial=start, desc="rrVAE", unit="epoch",
                    file=sys.stderr, dynamic_ncols=True)

    def _train_epoch(self, data: Any, epoch: int) -> float:
        s = self.settings
        total, count = 0.0, 0
        self.objective.train()
        for b, x in enumerate(data.epoch(epoch, self.shuffle)):
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(s, epoch + b / data.steps)
            loss = self.objective(x.to(self.device), self.noise)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * x.shape[0]
            count += x.shape[0]
        total, count = self.parallel.sum([total, count])
        return total / count

    @torch.no_grad()
    def evaluate(self, data: Any) -> float:
        """Mean -ELBO per validation pattern, with latent noise from a fixed seed."""
        s = self.settings
        seed = s.random_state + 2 + 1000 * self.parallel.rank
        gen = torch.Generator(device=self.device).manual_seed(seed)
        total, count = 0.0, 0
        for x in data.validation(VALIDATION_BATCH):
            x = x.to(self.device)
            with autocast(s):
                x_hat, post = self.model(x, gen)
            loss = negative_elbo(x_hat, x, post, likelihood=s.likelihood, beta=s.beta,
                                 rotation_prior=s.rotation_prior)
            total += float(loss.sum())
            count += x.shape[0]
        total, count = self.parallel.sum([total, count])
        return total / max(count, 1)

    def _record(self, epoch: int, train_loss: float, val_loss: float, elapsed: float) -> None:
        self.history.append({"epoch": epoch + 1, "train_loss": train_loss,
                             "val_loss": val_loss, "time": elapsed,
                             "learning_rate": self.optimizer.param_groups[0]["lr"]})
        if not math.isfinite(train_loss) or not math.isfinite(val_loss):
            raise SettingsError(
                f"training diverged at epoch {epoch + 1} (loss {train_loss}, validation "
                f"{val_loss}); lower learning_rate (now {self.settings.learning_rate}) or "
                "check the data for extreme values")
        if val_loss < self.best_val:
            self.best_val = val_loss
            self.best_state = copy.deepcopy(self.model.state_dict())
            self.stale = 0
        else:
            self.stale += 1

    # ---------------------------------------------------------- checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "shuffle": self.shuffle.get_state(),
            "noise": self.noise.get_state().cpu(),
            "noise_by_rank": self.parallel.gather(self.noise.get_state().cpu()),
            "world": self.parallel.world,
            "history": [dict(h) for h in self.history],
            "best_val": self.best_val,
            "best_state": self.best_state,
            "stale": self.stale,
        }

    def save_checkpoint(self) -> None:
        """Write the full training state atomically (temporary file, then rename); under
        torchrun only the main process writes (all take part in gathering the state)."""
        if self.checkpoint_dir is None:
            return
        state = self._state()
        if not self.parallel.is_main:
            return
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        write_checkpoint_file(self.checkpoint_dir / CHECKPOINT, state)

    def load_checkpoint(self) -> None:
        """Restore the training state saved by :meth:`save_checkpoint` (no unpickling)."""
        if self.checkpoint_dir is None:
            raise SettingsError("resume=True needs checkpoint_dir, the folder of the "
                                "interrupted run's checkpoints")
        path = self.checkpoint_dir / CHECKPOINT
        if not path.exists():
            raise SettingsError(f"no checkpoint to resume from in {self.checkpoint_dir}; "
                                "run without resume to start training")
        state = read_checkpoint(path, self.device)
        if state.get("fingerprint") != self.fingerprint:
            raise SettingsError(
                f"the checkpoint in {self.checkpoint_dir} belongs to another model or data set "
                "(different settings or input shape); use another checkpoint_dir or resume=False")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        world = int(state.get("world", 1))
        if world != self.parallel.world:
            raise SettingsError(
                f"the checkpoint in {self.checkpoint_dir} was written by {world} training "
                f"process(es); resume it with the same number (now {self.parallel.world})")
        self.shuffle.set_state(state["shuffle"])
        noise = state.get("noise_by_rank", [state["noise"]])[self.parallel.rank]
        self.noise.set_state(noise.to(self.noise.get_state().device))
        self.history = [dict(h) for h in state["history"]]
        self.best_val = float(state["best_val"])
        self.best_state = state["best_state"]
        self.stale = int(state["stale"])


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; anything else is refused."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError,
            AttributeError) as exc:
        raise FormatError(
            f"{path} is not a symbreak checkpoint (it contains objects other than tensors and "
            f"plain values, or is damaged: {type(exc).__name__}); symbreak never unpickles "
            "code from files. Delete it or choose another checkpoint_dir") from exc


FULL_DISK_BYTES = 16 * 2**20  # free space below which a failed write means a full disk


def write_checkpoint_file(final: Path, state: dict) -> None:
    """``torch.save`` to a temporary file beside ``final``, then rename; a failed write
    (a full disk) removes the temporary file instead of leaving it to fill the disk."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, final)
    except RuntimeError as exc:  # torch's writer drops the errno: say what it likely was
        tmp.unlink(missing_ok=True)
        full = shutil.disk_usage(final.parent).free < FULL_DISK_BYTES
        raise OSError(errno.ENOSPC if full else errno.EIO,
                      f"writing the checkpoint failed ({' '.join(str(exc).split())[:200]})",
                      str(final)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
