"""The settings of one fit: the estimator's parameters with the recipe filled in.

``recipe="paper"`` is the notebook of Oxley et al. (2021) run through atomai's rVAE;
``recipe="default"`` is symbreak's faster recipe (see docs/vae.md for the measurements).
Any explicit argument overrides the recipe's value. The parameters, their defaults and
their bounds are described once, in :class:`~symbreak.vae.parameters.VAEParameters`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import torch

from ..errors import SettingsError
from ..options import settings_fields
from .cpu import cpu_capability
from .parameters import DEVICES, PRECISIONS, RECIPES, VAEParameters

__all__ = ["FitSettings", "fit_settings", "resolve_device", "resolve_precision", "RECIPES"]

@dataclasses.dataclass(frozen=True)
class FitSettings:
    """The settings of one fit: every parameter validated, the recipe's values filled
    in, ``"auto"`` device and precision replaced by what this machine has."""

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
    cpu: dict[str, Any] | None = None  # the CPU detected (model, flags, native bf16)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")
    return value


def resolve_device(device: str) -> str:
    _choice("device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device='cuda' was requested but PyTorch sees no CUDA GPU; "
                            "use device='cpu' or 'auto'")
    return device


# decoders whose CPU training step bf16 autocast speeds up at equal fit quality, measured
# with bench/bench_rvae_roofline.py and tests/vae/test_precision.py (see docs/vae.md)
BF16_CPU_DECODERS = ("spatial",)


def resolve_precision(precision: str, device: str, decoder: str = "rotate",
                      native_bf16: bool | None = None) -> str:
    """The arithmetic of a fit: ``"auto"`` is bf16 autocast on CUDA GPUs that support it
    and, on CPUs with native bf16 (AVX512-BF16 or AMX, detected at run time), for the
    decoders in ``BF16_CPU_DECODERS``; float32 otherwise. ``native_bf16`` None: detect."""
    _choice("precision", precision, PRECISIONS)
    if precision == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "float32"
        if native_bf16 is None:
            native_bf16 = bool(cpu_capability()["native_bf16"])
        return "bf16" if native_bf16 and decoder in BF16_CPU_DECODERS else "float32"
    if precision == "fp16" and device != "cuda":
        raise SettingsError("precision='fp16' needs device='cuda'; use 'bf16' or 'float32'")
    return precision


def fit_settings(params: Mapping[str, Any]) -> FitSettings:
    """Validate the estimator's parameters and fill the rest from the recipe.

    ``params`` is ``RotationalVAE.get_params()``; names that are not parameters of
    :class:`~symbreak.vae.parameters.VAEParameters` (``checkpoint_dir``, ``progress``)
    are ignored.
    """
    given = {f.name: params[f.name] for f, _ in settings_fields(VAEParameters)
             if f.name in params}
    p = VAEParameters(**given)
    base = RECIPES[p.recipe]

    def pick(name: str) -> Any:
        value = getattr(p, name)
        return base[name] if value is None else value

    early = base["early_stopping"] if p.early_stopping == "auto" else p.early_stopping
    device = resolve_device(p.device)
    decoder = pick("decoder")
    return FitSettings(
        latent_dim=p.latent_dim, translation=p.translation, encoder=pick("encoder"),
        decoder=decoder, hidden=p.hidden, output=p.output,
        angle_head=pick("angle_head"), likelihood=p.likelihood,
        beta=1.0 if p.beta == "auto" else p.beta,  # "auto" is set from the data at fit
        rotation_prior=p.rotation_prior, translation_prior=p.translation_prior,
        recipe=p.recipe, epochs=pick("epochs"), batch_size=pick("batch_size"),
        learning_rate=float(pick("learning_rate")), schedule=base["schedule"],
        warmup_epochs=base["warmup_epochs"], consistency=float(pick("consistency")),
        validation_fraction=p.validation_fraction, early_stopping=early or None,
        max_time=p.max_time, device=device, precision=resolve_precision(p.precision, device, decoder),
        random_state=p.random_state, n_threads=p.n_threads,
        angle_warmup=pick("angle_warmup"), cpu=dict(cpu_capability()),
    )
