"""The one check of a model folder's ``config.json``, before anything is built from it.

:func:`parse_config` reads the file's bytes (at most :data:`MAX_CONFIG_BYTES`, nested at
most :data:`MAX_DEPTH` deep, with a bounded number of lists and objects) and
:func:`check_config` checks every field a model is rebuilt from: required keys, types,
ranges and their agreement with each other (the architecture, the fit settings, the data
shape, the preprocessing that produced the training patterns). Every size that decides
an allocation is bounded here; a damaged or hostile file is refused with one line naming
the field, its value and what to do. Light: no PyTorch import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from ..errors import FormatError, SettingsError
from .parameters import (ESTIMATOR_ONLY, LEGACY_DEFAULTS, MAX_EPOCHS, RECIPE_ONLY,
                         VAEParameters, check_parameter)

FORMAT = "symbreak.RotationalVAE"
FORMAT_VERSION = 1
MAX_CONFIG_BYTES = 32 * 2**20  # MAX_EPOCHS epochs of history take ~18 MB; most take kB
MAX_DEPTH = 32  # the deepest a symbreak config nests is 4 (diagnostics.attempts[i].x)
MAX_CONTAINERS = 2 * MAX_EPOCHS  # lists and objects (one per epoch of history)
MAX_PATTERN = 4096  # pixels per pattern side that a stored model may declare
MAX_PATTERNS = 2**40  # training / validation pattern counts (numbers only, never arrays)
MAX_ATTEMPTS = 1000
SCHEDULES = ("cosine", "constant")
VERDICTS = ("ok", "doubtful", "failed")
ARCHITECTURE_KEYS = ("pattern_shape", "latent_dim", "translation", "encoder", "decoder",
                     "hidden", "output", "angle_head", "translation_prior")
# FitSettings fields that a config may lack (FitSettings gives their defaults)
SETTINGS_OPTIONAL = tuple(LEGACY_DEFAULTS)


def damaged(path: Path | str, problem: str) -> NoReturn:
    """Raise the one-line refusal of a damaged config.json."""
    raise FormatError(f"{path} is damaged: {problem}; the model folder cannot be used: "
                      "train the model again or restore the folder from a copy")


def describe(value: Any) -> str:
    """A short description of ``value`` for an error message (never megabytes)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, (list, dict)):
        kind = "a list" if isinstance(value, list) else "an object"
        return f"{kind} of {len(value)} item(s)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def nesting_depth(value: Any) -> int:
    """How deep lists and objects nest in parsed JSON (0: a scalar), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth + 1)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                  else item))
    return deepest


def parse_config(raw: bytes, path: Path | str) -> dict[str, Any]:
    """The JSON object in ``raw`` (the bytes of ``path``), bounded in size and depth.

    Raises
    ------
    FormatError
        Too large, nested too deep, not UTF-8, not JSON or not a symbreak model config.
    """
    if len(raw) > MAX_CONFIG_BYTES:
        raise FormatError(f"{path} is larger than {MAX_CONFIG_BYTES:,} bytes; it is not the "
                          "config.json of a symbreak model (a few kB): train the model again")
    # an upper bound of the lists and objects parsing makes (brackets in strings count
    # too): hostile text of a few MB could otherwise become GBs of empty lists
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > MAX_CONTAINERS:
        raise FormatError(f"{path} holds {containers:,} lists or objects (at most "
                          f"{MAX_CONTAINERS:,}); it is not the config.json of a symbreak "
                          "model: train the model again")
    try:
        config = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path} is not UTF-8 text (byte {exc.start}); it is not the "
                          "config.json of a symbreak model") from None
    except RecursionError:
        config = None  # nested deeper than the parser's recursion limit: refused below
    except ValueError as exc:  # JSONDecodeError, integers of more than 4300 digits
        raise FormatError(f"{path} is not valid JSON ({' '.join(str(exc).split())[:200]})"
                          ) from None
    depth = MAX_DEPTH + 1 if config is None else nesting_depth(config)
    if depth > MAX_DEPTH:
        raise FormatError(f"{path} nests lists or objects more than {MAX_DEPTH} deep; it is "
                          "not the config.json of a symbreak model: train the model again")
    found = config.get("format") if isinstance(config, dict) else None
    if found != FORMAT:
        raise FormatError(f"{path} is not a symbreak RotationalVAE configuration "
                          f"(format {describe(found)})")
    return config


class _Fields:
    """Checks of the fields of one config.json; every failure is :func:`damaged`."""

    def __init__(self, path: Path | str) -> None:
        self.path = path

    def fail(self, name: str, want: str, value: Any) -> NoReturn:
        damaged(self.path, f"{name} must be {want}, got {describe(value)}")

    def mapping(self, name: str, value: Any, required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(name, "an object", value)
        missing = [k for k in required if k not in value]
        if missing:
            damaged(self.path, f"{name} has no {', '.join(map(repr, missing))}")
        return value

    def integer(self, name: str, value: Any, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(name, f"an integer in {lo}..{hi}", value)
        return value

    def number(self, name: str, value: Any, finite: bool = False, none: bool = False
               ) -> float | None:
        if value is None and none:
            return None
        try:  # an integer beyond float's range is refused: it would overflow later
            number = float(value) if not isinstance(value, (bool, str)) else None
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is None or (finite and not math.isfinite(number)):
            self.fail(name, "a finite number" if finite else "a number", value)
        return number

    def text(self, name: str, value: Any, choices: tuple[str, ...] | None = None,
             none: bool = False) -> str | None:
        if value is None and none:
            return None
        if not isinstance(value, str) or (choices is not None and value not in choices):
            self.fail(name, "text" if choices is None else
                      "one of " + ", ".join(map(repr, choices)), value)
        return value

    def items(self, name: str, value: Any, most: int) -> list:
        if not isinstance(value, list) or len(value) > most:
            self.fail(name, f"a list of at most {most} items", value)
        return value

    def parameters(self, name: str, values: Mapping[str, Any]) -> None:
        """The values that are :class:`VAEParameters` fields, validated by it."""
        known = {k: values[k] for k in VAEParameters.__dataclass_fields__ if k in values}
        for key, value in known.items():
            self.not_huge(f"{name}.{key}", value)
        try:
            VAEParameters(**known)
        except SettingsError as exc:
            damaged(self.path, f"{name}: {' '.join(str(exc).split())[:200]}")
        except OverflowError:  # an integer beyond float's range for a float parameter
            damaged(self.path, f"{name} holds an integer too large for a number")

    def parameter(self, name: str, key: str, value: Any) -> Any:
        """``value`` of the :class:`VAEParameters` field ``key`` (stored as ``name.key``),
        checked by that field's one validator."""
        self.not_huge(f"{name}.{key}", value)
        try:
            return check_parameter(key, value, f"{name}.{key}")
        except SettingsError as exc:
            damaged(self.path, ' '.join(str(exc).split())[:200])

    def not_huge(self, name: str, value: Any) -> None:
        """Refuse integers beyond float's range (OverflowError in checks)."""
        if isinstance(value, int) and value.bit_length() > 1000:
            self.fail(name, "a number of at most 300 digits", value)

    def records(self, name: str, value: Any, most: int) -> list[dict]:
        """A list of flat records (history epochs, attempts): numbers, text, booleans."""
        for i, record in enumerate(self.items(name, value, most)):
            for key, item in self.mapping(f"{name}[{i}]", record).items():
                if not isinstance(item, (str, bool, type(None))):
                    self.number(f"{name}[{i}].{key}", item)
        return value


def check_config(config: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """Check every field of a parsed config.json (see the module's docstring).

    Returns ``config`` itself; afterwards every field the loader reads is present (or
    optional and absent), of the right type and within its bounds.

    Raises
    ------
    FormatError
        One line naming the first field that is wrong.
    """
    f = _Fields(path)
    version = config.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise FormatError(f"{path} was written by a newer symbreak (format version "
                          f"{describe(version)}); upgrade symbreak to load it")
    f.integer("format_version", version, 1, FORMAT_VERSION)
    f.mapping("config.json", config, ("architecture", "settings", "params", "data"))
    arch = _architecture(f, config["architecture"])
    _settings(f, config["settings"], arch)
    params = f.mapping("params", config["params"])
    f.parameters("params", params)
    f.text("params.checkpoint_dir", params.get("checkpoint_dir"), none=True)
    if params.get("progress") not in (None, True, False):
        f.fail("params.progress", "true, false or null", params["progress"])
    data = f.mapping("data", config["data"], ("pattern_shape", "n_train", "n_validation"))
    if data["pattern_shape"] != arch["pattern_shape"]:
        f.fail("data.pattern_shape", f"the architecture's {arch['pattern_shape']}",
               data["pattern_shape"])
    for key in ("n_train", "n_validation"):
        f.integer(f"data.{key}", data[key], 0, MAX_PATTERNS)
    _outcome(f, config)
    _preprocessing(f, config.get("extra", {}), arch)
    if config.get("diagnostics") is not None:
        _diagnostics(f, config["diagnostics"], arch["latent_dim"])
    return config


def _architecture(f: _Fields, arch: Any) -> dict[str, Any]:
    f.mapping("architecture", arch, ARCHITECTURE_KEYS)
    unknown = sorted(set(arch) - set(ARCHITECTURE_KEYS))
    if unknown:
        damaged(f.path, f"architecture has unknown field(s) {', '.join(unknown)[:100]}")
    shape = arch["pattern_shape"]
    if not isinstance(shape, list) or len(shape) != 2:
        f.fail("architecture.pattern_shape", "[height, width]", shape)
    for i, side in enumerate(shape):
        f.integer(f"architecture.pattern_shape[{i}]", side, 2, MAX_PATTERN)
    for key in ARCHITECTURE_KEYS[1:]:  # the parameters the network is built from
        f.parameter("architecture", key, arch[key])
    return arch


def _settings(f: _Fields, settings: Any, arch: Mapping[str, Any]) -> None:
    required = tuple(k for k in VAEParameters.__dataclass_fields__ if k not in
                     ESTIMATOR_ONLY + SETTINGS_OPTIONAL) + tuple(k for k, _ in RECIPE_ONLY)
    f.mapping("settings", settings, required)
    f.parameters("settings", settings)
    f.text("settings.schedule", settings["schedule"], SCHEDULES)
    f.integer("settings.warmup_epochs", settings["warmup_epochs"], 0, MAX_EPOCHS)
    if settings.get("cpu") is not None:
        f.mapping("settings.cpu", settings["cpu"])
    for key in ARCHITECTURE_KEYS[1:]:
        if settings[key] != arch[key]:
            f.fail(f"settings.{key}", f"the architecture's {describe(arch[key])}",
                   settings[key])


def _outcome(f: _Fields, config: Mapping[str, Any]) -> None:
    """The training's record: history, losses, attempts, stop reason, fingerprint."""
    for i, epoch in enumerate(f.records("history", config.get("history", []), MAX_EPOCHS)):
        for key in ("train_loss", "val_loss", "time"):
            if key in epoch:
                f.number(f"history[{i}].{key}", epoch[key], none=True)
    f.number("best_validation_loss", config.get("best_validation_loss"), none=True)
    f.text("fingerprint", config.get("fingerprint"), none=True)
    f.text("stop_reason", config.get("stop_reason"), none=True)
    attempts = f.records("attempts", config.get("attempts", []), MAX_ATTEMPTS)
    best = config.get("best_attempt")
    if best is not None:
        f.integer("best_attempt", best, 0, max(len(attempts) - 1, 0))


def _preprocessing(f: _Fields, extra: Any, arch: Mapping[str, Any]) -> None:
    """``extra.preprocessing``: valid preprocessing settings that produce patterns of the
    model's shape (``encode`` applies them to new data)."""
    from ..preprocess.settings import PreprocessSettings

    values = f.mapping("extra", extra).get("preprocessing")
    if values is None:
        return
    f.mapping("extra.preprocessing", values)
    fields = PreprocessSettings.__dataclass_fields__
    unknown = sorted(k for k in values if k not in fields)
    if unknown:
        damaged(f.path, f"extra.preprocessing has unknown option(s) "
                f"{', '.join(map(str, unknown))[:100]}")
    try:
        settings = PreprocessSettings(**values)
    except (SettingsError, OverflowError) as exc:
        damaged(f.path, f"extra.preprocessing: {' '.join(str(exc).split())[:200]}")
    ky, kx = arch["pattern_shape"]
    side = settings.resize if settings.resize is not None else (
        None if settings.crop is None else settings.crop // settings.bin)
    if side is not None and (side, side) != (ky, kx):
        damaged(f.path, f"extra.preprocessing gives {side} x {side} px patterns but the "
                f"model takes {ky} x {kx} px")
    if settings.denoise and settings.denoise_components > ky * kx:
        f.fail("extra.preprocessing.denoise_components", f"at most {ky * kx} (the pixels of "
               "a pattern)", settings.denoise_components)


DIAGNOSTIC_NUMBERS = ("explained_fraction", "baseline_loss", "validation_loss",
                      "angle_spread", "angle_vs_moment", "content_drift_turn",
                      "content_drift_turn_raw", "angle_shift_turn",
                      "content_drift_interpolated", "angle_shift_interpolated",
                      "pca_explained")
DIAGNOSTIC_LISTS = ("kl_per_latent", "latent_spread", "latent_posterior_sd",
                    "latent_activity", "latent_explained")


def _diagnostics(f: _Fields, diag: Any, latent_dim: int) -> None:
    f.mapping("diagnostics", diag)
    for key in DIAGNOSTIC_NUMBERS + ("angle_vs_com",):
        if key in diag:
            f.number(f"diagnostics.{key}", diag[key], none=key == "angle_vs_com")
    for key in DIAGNOSTIC_LISTS:
        for i, value in enumerate(f.items(f"diagnostics.{key}", diag.get(key, []),
                                          latent_dim)):
            f.number(f"diagnostics.{key}[{i}]", value)
    for key in ("reasons", "advice", "notes"):
        for i, value in enumerate(f.items(f"diagnostics.{key}", diag.get(key, []), 100)):
            f.text(f"diagnostics.{key}[{i}]", value)
    f.records("diagnostics.attempts", diag.get("attempts", []), MAX_ATTEMPTS)
    f.text("diagnostics.stop_reason", diag.get("stop_reason", "unknown"))
    f.integer("diagnostics.epochs", diag.get("epochs", 0), 0, MAX_EPOCHS)
    f.text("diagnostics.verdict", diag.get("verdict", "ok"), VERDICTS)
