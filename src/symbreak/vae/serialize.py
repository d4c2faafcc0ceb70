"""Models on disk as data, never code: ``model.safetensors`` + ``config.json``.

``config.json`` holds the format version, the architecture, the training settings, the
data shape, the training history, the caller's preprocessing settings (``extra``) and the
versions of the packages that made the model. Loading reads tensors with safetensors only;
a file that is not a safetensors file (for example a pickle renamed to model.safetensors)
is refused before anything in it is run. Both files are read with bounded sizes and
``config.json`` is checked field by field (:mod:`.model_config`) before anything is built
from it.
"""

from __future__ import annotations

import json
import os
import platform
import stat
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from .. import __version__
from ..errors import FormatError, SettingsError
from ..storage.atomic import atomic_output
from .model_config import (FORMAT, FORMAT_VERSION, MAX_CONFIG_BYTES, check_config,
                           parse_config)

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
    if len(text.encode()) > MAX_CONFIG_BYTES:  # loading would refuse it
        raise SettingsError(f"the model's config.json would take {len(text.encode()):,} "
                            f"bytes, more than the {MAX_CONFIG_BYTES:,} a model may have; "
                            "keep large data out of extra")
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.mkdir()
        # bytes written by Python: safetensors' Rust code takes only UTF-8 file names
        (tmp / WEIGHTS).write_bytes(safetensors.torch.save(tensors, metadata={"format": FORMAT}))
        (tmp / CONFIG).write_text(text)
    return Path(path)


def model_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder, refused unless it is one."""
    folder = Path(path)
    if not folder.is_dir():
        raise FormatError(f"{folder} is not a model folder; expected a folder with "
                          f"{WEIGHTS} and {CONFIG} written by RotationalVAE.save")
    return folder


def read_bytes(path: Path, most: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, refused when larger than ``most``.

    Read with Python's ``open`` (any file name the OS accepts, UTF-8 or not), opened
    non-blocking so that a FIFO in the file's place cannot hang the reader.

    Raises
    ------
    FormatError
        Missing, not a regular file, unreadable, or larger than ``most`` (``what``
        says what the limit is).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FormatError(f"{path} is missing; the model folder is incomplete") from None
    except OSError as exc:
        raise FormatError(f"cannot read {path} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FormatError(f"{path} is not a regular file; the model folder is damaged")
        raw = fh.read(most + 1)
    if len(raw) > most:
        raise FormatError(f"{path} is larger than {most:,} bytes, {what}; the model folder "
                          "is damaged or mixed: train the model again")
    return raw


def read_config(path: Path) -> dict[str, Any]:
    """The checked contents of a model's ``config.json`` (see :mod:`.model_config`)."""
    raw = read_bytes(path, MAX_CONFIG_BYTES, "the most a model's config.json may hold")
    return check_config(parse_config(raw, path), path)


def read_weights(path: Path, most: int) -> dict[str, torch.Tensor]:
    """The tensors of a ``model.safetensors`` of at most ``most`` bytes.

    The file's bytes are read by Python and parsed by safetensors from memory: no path
    reaches safetensors' Rust code, which refuses names that are not UTF-8.
    """
    raw = read_bytes(path, most, "more than the network of its config.json needs")
    try:
        return safetensors.torch.load(raw)
    except (safetensors.SafetensorError, ValueError, TypeError, RuntimeError) as exc:
        raise FormatError(
            f"{path} is not a safetensors file ({' '.join(str(exc).split())[:200]}); "
            "symbreak reads model weights only as safetensors and never unpickles model "
            "files, which could run code. Re-save the model with RotationalVAE.save"
        ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in config.json")
