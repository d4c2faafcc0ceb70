"""Fitting the rrVAE with automatic recovery from the explain-nothing state.

Each fit is one or more *attempts*. Attempt 0 uses the settings as given. When it ends
collapsed (it explains < 2 % of the validation variance or its angle latent does not vary),
up to ``restarts`` further attempts follow, each from another seed (``random_state + k``),
with an angle warm-up towards each pattern's first-moment (COM) direction and half the
previous learning rate. The split stays the one of ``random_state``, so validation losses
compare; the attempt with the best validation loss is kept. Every attempt is logged in
``attempts_``. No restart follows when a PCA with as many components as latents explains
< 2 % of the held-out variance: such data hold nothing a new start could find.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .diagnostics import (ANGLE_SPREAD_FAILED, EXPLAINED_FAILED, baseline_loss,
                          circular_spread, diagnose, pca_explained)
from .encode_map import columns, encode_patterns
from .data import check_unit_interval
from .inputs import open_source, read_indices, split, training_data
from .model import Architecture, build_model
from .parallel import device_for, from_environment
from .settings import FitSettings, fit_settings
from .source import pattern_sum, value_range
from .train import Trainer

ANGLE_WARMUP_EPOCHS = 10  # epochs of the first-moment angle warm-up in restarts
COLLAPSE_GAIN = 0.03      # an attempt that has cut the mean-pattern loss by less than this
                          # share (scaled down when PCA shows the data are mostly noise) ...
                          # after COLLAPSE_EPOCHS epochs is ended as collapsed
_NOT_SHAPE_KEYS = ("epochs", "max_time", "early_stopping", "device", "precision", "n_threads",
                   "streaming", "loader_workers", "cpu")


@dataclasses.dataclass
class Attempt:
    """One training attempt: its trainer (model, history, stop reason) and its checks."""

    index: int
    settings: FitSettings
    trainer: Trainer
    fingerprint: str
    fit_time: float
    explained: float
    angle_spread: float

    @property
    def collapsed(self) -> bool:
        if not np.isfinite(self.explained):  # too few held-out patterns to tell
            return False
        return not (self.explained > EXPLAINED_FAILED and self.angle_spread > ANGLE_SPREAD_FAILED)

    def record(self) -> dict[str, Any]:
        s = self.settings
        return {"attempt": self.index, "seed": s.random_state, "learning_rate": s.learning_rate,
                "angle_warmup": s.angle_warmup, "epochs": len(self.trainer.history),
                "stop_reason": self.trainer.stop_reason,
                "best_validation_loss": float(self.trainer.best_val),
                "explained_fraction": self.explained, "angle_spread": self.angle_spread,
                "collapsed": self.collapsed, "time": self.fit_time}


def attempt_settings(settings: FitSettings, k: int) -> FitSettings:
    """FitSettings of attempt ``k``: another seed, the angle warm-up, half the rate each time."""
    if k == 0:
        return settings
    return dataclasses.replace(settings, random_state=settings.random_state + k,
                               learning_rate=settings.learning_rate * 0.5 ** k,
                               angle_warmup=max(settings.angle_warmup, ANGLE_WARMUP_EPOCHS))


def fingerprint(settings: FitSettings, shape: tuple[int, ...], total: float) -> str:
    keys = {k: v for k, v in settings.to_dict().items() if k not in _NOT_SHAPE_KEYS}
    if not keys.get("angle_warmup"):
        keys.pop("angle_warmup", None)  # checkpoints written before the warm-up existed
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode())
    digest.update(str(tuple(shape)).encode())
    digest.update(np.float64(total).tobytes())
    return digest.hexdigest()[:16]


def _quick_check(trainer: Trainer, val: np.ndarray, settings: FitSettings) -> tuple[float, float]:
    """(explained fraction, angle spread [rad]) of the trainer's model on ``val``."""
    model = trainer.model.eval()
    values = encode_patterns(model, val, settings.likelihood, settings.translation_prior,
                             settings.device)
    cols = columns(model.arch)
    x = val.astype(np.float64)
    sst = float(((x - x.mean(axis=0)) ** 2).sum())
    sse = float(values[:, cols["error"]].astype(np.float64).sum()) * x[0].size
    explained = 1.0 - sse / sst if sst > 0 else float("nan")
    return explained, circular_spread(values[:, cols["angle"]][:, 0])


def noise_variance(patterns: np.ndarray, pca: float) -> float:
    """``beta="auto"``: the per-pixel variance a PCA with as many components as latents
    leaves unexplained [intensity^2], i.e. a Gaussian likelihood whose noise sd is the
    data's own rather than 1 (beta scales the KL, which is the same as dividing the
    reconstruction term by this variance)."""
    var = float(np.asarray(patterns, np.float64).var(axis=0).mean())
    share = 1.0 - pca if np.isfinite(pca) else 1.0
    return max(min(share, 1.0), 0.01) * var


def _checkpoints(folder: Any, k: int) -> Path | None:
    if folder is None:
        return None
    return Path(folder) if k == 0 else Path(folder) / f"attempt-{k}"


def _collapse_loss(val: np.ndarray, settings: FitSettings, pca: float) -> float | None:
    """The validation loss that still counts as the explain-nothing state (Gaussian only):
    the mean-pattern loss less COLLAPSE_GAIN of it, the gain scaled by how much of the
    held-out variance PCA explains (noisy data leave little to gain)."""
    if settings.likelihood != "gaussian" or not np.isfinite(pca):
        return None
    gain = COLLAPSE_GAIN * min(1.0, max(pca, 0.0) / 0.3)
    return baseline_loss(val) * (1 - gain) if gain > 0 else None


def _run_attempt(est: Any, k: int, base: FitSettings, source: Any, parallel: Any,
                 idx: tuple[np.ndarray, np.ndarray], val: np.ndarray, total: float,
                 resume: bool, pca: float) -> Attempt:
    s = attempt_settings(base, k)
    arch = Architecture.of(s, source.pattern_shape)
    fp = fingerprint(s, (source.n, *source.pattern_shape), total)
    folder = _checkpoints(est.checkpoint_dir, k)
    trainer = Trainer(build_model(arch, s.random_state), s, fp, folder, est.progress,
                      parallel, collapse_loss=_collapse_loss(val, s, pca))
    data = training_data(source, idx[0], idx[1], s, parallel, est.streaming,
                         est.loader_workers)
    again = resume and (k == 0 or (folder is not None and (folder / "checkpoint.pt").exists()))
    t0 = time.perf_counter()
    trainer.fit(data, resume=again)
    explained, spread = _quick_check(trainer, val, s)
    return Attempt(k, s, trainer, fp, time.perf_counter() - t0, explained, spread)


def fit_estimator(est: Any, X: Any, resume: bool = False) -> None:
    """Fit ``est`` (a :class:`~symbreak.vae.api.RotationalVAE`) to ``X`` with restarts and
    set its fitted attributes, diagnostics included."""
    settings = fit_settings(est.get_params())  # validates every parameter
    auto_beta, restarts = est.beta == "auto", est.restarts
    parallel = from_environment(settings.device)
    settings = dataclasses.replace(settings, device=device_for(settings.device, parallel))
    with contextlib.ExitStack() as stack:
        source = open_source(X, est.streaming, est.checkpoint_dir, stack)
        if settings.likelihood != "gaussian":
            low, high = value_range(source)
            check_unit_interval(np.array([low, high], np.float32), settings.likelihood)
        idx = split(source.n, settings)
        val = read_indices(source, idx[1])
        train_sample = read_indices(source, idx[0], 2048)
        pca = pca_explained(train_sample, val, settings.latent_dim + 1)
        if auto_beta:
            settings = dataclasses.replace(settings, beta=noise_variance(train_sample, pca))
        total = pattern_sum(source)
        attempts: list[Attempt] = []
        for k in range(restarts + 1):
            attempts.append(_run_attempt(est, k, settings, source, parallel, idx, val, total,
                                         resume, pca))
            if not attempts[-1].collapsed or pca < EXPLAINED_FAILED:
                break  # a good fit, or data with no structure above the noise to find
        best = min(attempts, key=lambda a: a.trainer.best_val)
        _set_fitted(est, best, attempts, source, idx)
    est.diagnostics_ = diagnose(est, val, pca_explained=pca)


def _set_fitted(est: Any, best: Attempt, attempts: list[Attempt], source: Any,
                idx: tuple[np.ndarray, np.ndarray]) -> None:
    t = best.trainer
    est.model_ = t.model.eval()
    est.settings_ = best.settings
    est.architecture_ = t.model.arch
    est.history_ = t.history
    est.best_validation_loss_ = float(t.best_val)
    est.n_epochs_ = len(t.history)
    est.pattern_shape_ = tuple(int(n) for n in source.pattern_shape)
    est.train_indices_, est.validation_indices_ = idx
    est.device_ = best.settings.device
    est.fingerprint_ = best.fingerprint
    est.fit_time_ = float(sum(a.fit_time for a in attempts))
    est.stop_reason_ = t.stop_reason
    est.attempts_ = [a.record() for a in attempts]
    est.best_attempt_ = best.index
    est.streamed_ = not (type(getattr(source, "patterns", None)) is np.ndarray
                         and est.streaming is not True)
