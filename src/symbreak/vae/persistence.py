"""Saving and loading a fitted :class:`~symbreak.vae.api.RotationalVAE`: weights as
safetensors, everything else (parameters, settings, architecture, history, attempts and
fit diagnostics) in ``config.json``. Nothing is ever unpickled."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import json
import numpy as np
import torch

from ..errors import FormatError, SettingsError
from .diagnostics import FitDiagnostics
from .model import Architecture, RotationalVAEModule
from .parameters import MAX_HIDDEN, MAX_LATENT_DIM
from .serialize import load_model, save_model
from .settings import resolve_device

MAX_PATTERN = 4096  # pixels per pattern side that a stored model may declare


def save_estimator(est: Any, path: str | os.PathLike, extra: dict | None = None,
                   overwrite: bool = False) -> None:
    """Write ``model.safetensors`` + ``config.json`` to the folder ``path``."""
    params = {k: (str(v) if isinstance(v, os.PathLike) else v)
              for k, v in est.get_params().items()}
    diagnostics = getattr(est, "diagnostics_", None)
    config = {
        "params": params, "settings": est.settings_,
        "architecture": dataclasses.asdict(est.architecture_),
        "data": {"pattern_shape": list(est.pattern_shape_),
                 "n_train": int(len(est.train_indices_)),
                 "n_validation": int(len(est.validation_indices_))},
        "history": est.history_, "best_validation_loss": est.best_validation_loss_,
        "fingerprint": est.fingerprint_, "extra": extra or {},
        "stop_reason": getattr(est, "stop_reason_", None),
        "attempts": getattr(est, "attempts_", []),
        "best_attempt": getattr(est, "best_attempt_", 0),
        "diagnostics": None if diagnostics is None else diagnostics.to_dict(),
    }
    try:
        json.dumps(config["extra"])
    except TypeError as exc:
        raise SettingsError(f"extra must be JSON-serialisable: {exc}") from exc
    save_model(path, est.model_.state_dict(), config, overwrite=overwrite)


def load_estimator(cls: type, path: str | os.PathLike, device: str = "auto") -> Any:
    """A fitted estimator of class ``cls`` from a folder written by :func:`save_estimator`."""
    state, config = load_model(path)
    try:
        arch_dict = dict(config["architecture"])
        arch_dict["pattern_shape"] = tuple(arch_dict["pattern_shape"])
        arch = Architecture(**arch_dict)
        params = {k: v for k, v in config["params"].items()
                  if k in cls._get_param_names()}
        check_sizes(arch, state, path)
        est = cls(**params)
        model = RotationalVAEModule(arch)
        model.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise FormatError(f"the model in {path} does not match its config.json "
                          f"({one_line(exc)})") from exc
    est.device_ = resolve_device(device)
    est.model_ = model.to(est.device_).eval()
    est.architecture_ = arch
    est.settings_ = dict(config["settings"], device=est.device_)
    est.history_ = config.get("history", [])
    est.best_validation_loss_ = config.get("best_validation_loss")
    est.n_epochs_ = len(est.history_)
    est.pattern_shape_ = arch.pattern_shape
    est.train_indices_ = np.arange(config["data"]["n_train"])
    est.validation_indices_ = np.arange(config["data"]["n_validation"])
    est.fingerprint_ = config.get("fingerprint")
    est.extra_ = config.get("extra", {})
    est.stop_reason_ = config.get("stop_reason") or "unknown"
    est.attempts_ = config.get("attempts", [])
    est.best_attempt_ = int(config.get("best_attempt") or 0)
    diag = config.get("diagnostics")
    if diag is not None:
        est.diagnostics_ = FitDiagnostics.from_dict(diag)
    return est


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (torch's state-dict errors span several)."""
    return " ".join(str(exc).split())[:300]


def check_sizes(arch: Architecture, state: Mapping[str, torch.Tensor],
                path: str | os.PathLike) -> None:
    """Refuse a config.json whose sizes disagree with the stored weights, before the
    network is allocated: the network is built on PyTorch's ``meta`` device (shapes
    only, no memory) and its parameter shapes are compared with the tensors'.

    Raises
    ------
    FormatError
        A size out of bounds or a parameter whose shape differs from the weights'.
    """
    ky, kx = (int(n) for n in arch.pattern_shape)
    bounds = {"latent_dim": (arch.latent_dim, MAX_LATENT_DIM), "hidden": (arch.hidden, MAX_HIDDEN),
              "pattern height": (ky, MAX_PATTERN), "pattern width": (kx, MAX_PATTERN)}
    for name, (value, most) in bounds.items():
        if not 1 <= int(value) <= most:
            raise FormatError(f"{path}: config.json gives {name} = {value}, outside "
                              f"1..{most}; the model folder is damaged: train the model again")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in RotationalVAEModule(arch).state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in state.items()}
    wrong = sorted(k for k in expected.keys() | stored.keys() if expected.get(k) != stored.get(k))
    if wrong:
        k = wrong[0]
        raise FormatError(f"{path}: config.json does not match model.safetensors "
                          f"({len(wrong)} tensors differ, e.g. {k}: the config needs "
                          f"{expected.get(k, 'none')}, the file holds {stored.get(k, 'none')}); "
                          "the model folder is damaged or mixed: train the model again")
