"""Training recipes and the validation of the estimator's hyper-parameters.

``recipe="paper"`` is the notebook of Oxley et al. (2021) run through atomai's rVAE;
``recipe="default"`` is symbreak's faster recipe (see docs/vae.md for the measurements).
Any explicit argument overrides the recipe's value.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import torch

from ..errors import SettingsError
from .loss import LIKELIHOODS

RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(encoder="mlp", decoder="spatial", angle_head="linear", epochs=1000,
                  batch_size=20, learning_rate=1e-4, schedule="constant", warmup_epochs=0,
                  consistency=0.0, early_stopping=None, angle_warmup=0),
    "default": dict(encoder="mlp", decoder="rotate", angle_head="circular", epochs=200,
                    batch_size=64, learning_rate=5e-4, schedule="cosine", warmup_epochs=2,
                    consistency=0.2, early_stopping=20, angle_warmup=10),
}
ENCODERS = ("mlp", "conv")
DECODERS = ("spatial", "rotate")
OUTPUTS = ("softplus", "linear")
ANGLE_HEADS = ("linear", "circular")
PRECISIONS = ("auto", "float32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved, validated settings of one fit."""

    latent_dim: int
    translation: bool
    encoder: str
    decoder: str
    hidden: int
    output: str
    angle_head: str
    likelihood: str
    beta: float
    rotation_prior: float
    translation_prior: float
    recipe: str
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    warmup_epochs: int
    consistency: float
    validation_fraction: float
    early_stopping: int | None
    max_time: float | None
    device: str
    precision: str
    random_state: int
    n_threads: int | None = None
    angle_warmup: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")
    return value


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) or value < minimum:
        raise SettingsError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _positive_float(name: str, value: Any, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise SettingsError(f"{name}={value!r} must be a finite number {bound}")
    return float(value)


def resolve_device(device: str) -> str:
    _choice("device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device='cuda' was requested but PyTorch sees no CUDA GPU; "
                            "use device='cpu' or 'auto'")
    return device


def resolve_precision(precision: str, device: str) -> str:
    _choice("precision", precision, PRECISIONS)
    if precision == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "float32"
    if precision == "fp16" and device != "cuda":
        raise SettingsError("precision='fp16' needs device='cuda'; use 'bf16' or 'float32'")
    return precision


def resolve(params: Mapping[str, Any]) -> Settings:
    """Validate the estimator's parameters and fill the rest from the recipe."""
    recipe = _choice("recipe", params["recipe"], tuple(RECIPES))
    base = RECIPES[recipe]

    def pick(name: str) -> Any:
        value = params.get(name)
        return base[name] if value is None else value

    early = params.get("early_stopping", "auto")
    if early == "auto":
        early = base["early_stopping"]
    if early is not None and early is not False:
        early = _positive_int("early_stopping", early)
    else:
        early = None
    vf = params["validation_fraction"]
    if not isinstance(vf, (int, float)) or isinstance(vf, bool) or not 0 < vf < 1:
        raise SettingsError(f"validation_fraction={vf!r} must be a number between 0 and 1 "
                            "(exclusive), e.g. 0.15")
    max_time = params.get("max_time")
    if max_time is not None:
        max_time = _positive_float("max_time", max_time)
    seed = params["random_state"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SettingsError(f"random_state={seed!r} must be a non-negative integer")
    device = resolve_device(params["device"])
    return Settings(
        latent_dim=_positive_int("latent_dim", params["latent_dim"]),
        translation=bool(params["translation"]),
        encoder=_choice("encoder", pick("encoder"), ENCODERS),
        decoder=_choice("decoder", pick("decoder"), DECODERS),
        hidden=_positive_int("hidden", params["hidden"], 2),
        output=_choice("output", params["output"], OUTPUTS),
        angle_head=_choice("angle_head", pick("angle_head"), ANGLE_HEADS),
        likelihood=_choice("likelihood", params["likelihood"], LIKELIHOODS),
        beta=_positive_float("beta", params["beta"], allow_zero=True),
        rotation_prior=_positive_float("rotation_prior", params["rotation_prior"]),
        translation_prior=_positive_float("translation_prior", params["translation_prior"]),
        recipe=recipe,
        epochs=_positive_int("epochs", pick("epochs")),
        batch_size=_positive_int("batch_size", pick("batch_size")),
        learning_rate=_positive_float("learning_rate", pick("learning_rate")),
        schedule=base["schedule"],
        warmup_epochs=base["warmup_epochs"],
        consistency=_positive_float("consistency", pick("consistency"), allow_zero=True),
        validation_fraction=float(vf),
        early_stopping=early,
        max_time=max_time,
        device=device,
        precision=resolve_precision(params["precision"], device),
        random_state=seed,
        n_threads=None if params.get("n_threads") is None
        else _positive_int("n_threads", params["n_threads"]),
        angle_warmup=_positive_int("angle_warmup", pick("angle_warmup"), 0),
    )
