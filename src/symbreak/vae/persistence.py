"""Saving and loading a fitted :class:`~symbreak.vae.api.RotationalVAE`: weights as
safetensors, everything else (parameters, settings, architecture, history, attempts and
fit diagnostics) in ``config.json``. Nothing is ever unpickled."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import FormatError, SettingsError
from .diagnostics import FitDiagnostics
from .model import Architecture, RotationalVAEModule
from .model_config import MAX_DEPTH, nesting_depth
from .serialize import CONFIG, WEIGHTS, model_folder, read_config, read_weights, save_model
from .settings import FitSettings, resolve_device

HEADER_BYTES = 2**20  # a safetensors header beyond the tensors (names, shapes: a few kB)


def save_estimator(est: Any, path: str | os.PathLike, extra: dict | None = None,
                   overwrite: bool = False) -> None:
    """Write ``model.safetensors`` + ``config.json`` to the folder ``path``."""
    params = {k: (str(v) if isinstance(v, os.PathLike) else v)
              for k, v in est.get_params().items()}
    diagnostics = getattr(est, "diagnostics_", None)
    config = {
        "params": params, "settings": est.settings_.to_dict(),
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
    if not isinstance(config["extra"], Mapping):
        raise SettingsError(f"extra must be a dict of JSON-serialisable settings, got "
                            f"{type(extra).__name__}")
    try:
        json.dumps(config["extra"])
    except (TypeError, ValueError, RecursionError) as exc:
        raise SettingsError(f"extra must be JSON-serialisable: {exc}") from exc
    if nesting_depth(config["extra"]) > MAX_DEPTH - 1:  # config.json itself is one level
        raise SettingsError(f"extra nests lists or dicts more than {MAX_DEPTH - 1} deep; "
                            "a model's config.json is refused beyond that")
    save_model(path, est.model_.state_dict(), config, overwrite=overwrite)


def load_estimator(cls: type, path: str | os.PathLike, device: str = "auto") -> Any:
    """A fitted estimator of class ``cls`` from a folder written by :func:`save_estimator`.

    ``config.json`` is checked field by field, the network it describes is laid out on
    PyTorch's ``meta`` device (shapes only), and only then are the weights read, at most
    as many bytes as that network holds, and compared tensor by tensor: nothing is
    allocated from a size the folder merely claims.
    """
    folder = model_folder(path)
    config = read_config(folder / CONFIG)
    arch = Architecture(**{**config["architecture"],
                           "pattern_shape": tuple(config["architecture"]["pattern_shape"])})
    expected = network_tensors(arch)
    most = HEADER_BYTES + sum(math.prod(shape) * dtype.itemsize
                              for shape, dtype in expected.values())
    state = read_weights(folder / WEIGHTS, most)
    check_tensors(expected, state, folder / WEIGHTS)
    model = RotationalVAEModule(arch)
    model.load_state_dict(state, strict=True)
    est = cls(**{k: v for k, v in config["params"].items() if k in cls._get_param_names()})
    est.device_ = resolve_device(device)
    est.model_ = model.to(est.device_).eval()
    est.architecture_ = arch
    est.settings_ = FitSettings.from_dict(dict(config["settings"], device=est.device_))
    est.history_ = config.get("history", [])
    est.best_validation_loss_ = config.get("best_validation_loss")
    est.n_epochs_ = len(est.history_)
    est.pattern_shape_ = arch.pattern_shape
    # the split itself is not stored: ranges of the right length, which take no memory
    est.train_indices_ = range(config["data"]["n_train"])
    est.validation_indices_ = range(config["data"]["n_validation"])
    est.fingerprint_ = config.get("fingerprint")
    est.extra_ = config.get("extra", {})
    est.stop_reason_ = config.get("stop_reason") or "unknown"
    est.attempts_ = config.get("attempts", [])
    est.best_attempt_ = config.get("best_attempt") or 0
    diag = config.get("diagnostics")
    if diag is not None:
        est.diagnostics_ = FitDiagnostics.from_dict(diag)
    return est


def network_tensors(arch: Architecture) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """(shape, dtype) of every stored tensor of the network ``arch`` describes, laid out
    on PyTorch's ``meta`` device: no memory."""
    with torch.device("meta"):
        state = RotationalVAEModule(arch).state_dict()
    return {k: (tuple(v.shape), v.dtype) for k, v in state.items()}


def check_tensors(expected: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
                  state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Refuse weights whose names, shapes or dtypes differ from the network's.

    Raises
    ------
    FormatError
        Naming the number of differing tensors and the first of them.
    """
    stored = {k: (tuple(v.shape), v.dtype) for k, v in state.items()}
    wrong = sorted(k for k in expected.keys() | stored.keys() if expected.get(k) != stored.get(k))
    if wrong:
        k = wrong[0]
        raise FormatError(f"{path} does not match config.json ({len(wrong)} tensors differ, "
                          f"e.g. {k}: the config needs {_tensor(expected.get(k))}, the file "
                          f"holds {_tensor(stored.get(k))}); the model folder is damaged or "
                          "mixed: train the model again")


def _tensor(spec: tuple[tuple[int, ...], torch.dtype] | None) -> str:
    if spec is None:
        return "none"
    shape, dtype = spec
    return f"{str(dtype).removeprefix('torch.')} {shape}"
