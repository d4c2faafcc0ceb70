"""Models on disk as data, never code: ``model.safetensors`` + ``config.json``.

``config.json`` holds the format version, the architecture, the training settings, the
data shape, the training history, the caller's preprocessing settings (``extra``) and the
versions of the packages that made the model. Loading reads tensors with safetensors only;
a file that is not a safetensors file (for example a pickle renamed to model.safetensors)
is refused before anything in it is run.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import FormatError
from ..io.atomic import atomic_output

FORMAT = "symbreak.RotationalVAE"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def versions() -> dict[str, str]:
    """Versions of the packages that determine a model's numbers."""
    return {"symbreak": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def save_model(path: str | os.PathLike, state: dict[str, torch.Tensor], config: dict[str, Any],
               overwrite: bool = False) -> Path:
    """Write a model folder atomically; an existing folder only with ``overwrite``."""
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "versions": versions(),
              **config}
    text = json.dumps(record, indent=2, default=_json_default)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.mkdir()
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        (tmp / CONFIG).write_text(text)
    return Path(path)


def load_model(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read (state dict, config) from a model folder written by :func:`save_model`."""
    folder = Path(path)
    if not folder.is_dir():
        raise FormatError(f"{folder} is not a model folder; expected a folder with "
                          f"{WEIGHTS} and {CONFIG} written by RotationalVAE.save")
    config = read_config(folder / CONFIG)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise FormatError(f"{weights} is missing; the model folder is incomplete")
    try:
        state = load_file(str(weights))
    except (safetensors.SafetensorError, OSError, ValueError) as exc:
        raise FormatError(
            f"{weights} is not a safetensors file ({exc}); symbreak reads model weights only "
            "as safetensors and never unpickles model files, which could run code. Re-save "
            "the model with RotationalVAE.save") from exc
    return state, config


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FormatError(f"{path} is missing; the model folder is incomplete")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise FormatError(f"{path} is not a symbreak RotationalVAE configuration "
                          f"(format {config.get('format') if isinstance(config, dict) else None!r})")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise FormatError(f"{path} was written by a newer symbreak (format version "
                          f"{config['format_version']}); upgrade symbreak to load it")
    return config


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in config.json")
