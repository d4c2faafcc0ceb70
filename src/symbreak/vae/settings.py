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
from .parameters import (ESTIMATOR_ONLY, LEGACY_DEFAULTS, RECIPE_ONLY, RECIPES,
                         VAEParameters, check_parameter)

__all__ = ["FitSettings", "fit_settings", "resolve_device", "resolve_precision", "RECIPES"]

# types once the recipe and "auto" are filled in (recipe fields lose their ``None``)
RESOLVED_TYPES = {"beta": "float", "early_stopping": "int | None"}


def _resolved_type(field: dataclasses.Field) -> str:
    if field.name in RESOLVED_TYPES:
        return RESOLVED_TYPES[field.name]
    if field.name in RECIPES["default"]:
        return str(field.type).replace(" | None", "")
    return str(field.type)


def _fit_fields() -> list[tuple]:
    """The fields of :class:`FitSettings`, derived from those of :class:`VAEParameters`."""
    fields: list[tuple] = []
    for f in dataclasses.fields(VAEParameters):
        if f.name in ESTIMATOR_ONLY:
            continue
        spec = (f.name, _resolved_type(f))
        fields.append(spec + ((dataclasses.field(default=LEGACY_DEFAULTS[f.name]),)
                              if f.name in LEGACY_DEFAULTS else ()))
        if f.name == "learning_rate":
            fields.extend(RECIPE_ONLY)
    # the CPU detected (model, flags, native bf16)
    fields.append(("cpu", "dict[str, Any] | None", dataclasses.field(default=None)))
    return fields


def _to_dict(self: Any) -> dict[str, Any]:
    """The settings as JSON-able values, keyed as in config.json and results attributes."""
    return dataclasses.asdict(self)


def _from_dict(cls: type, values: Mapping[str, Any]) -> Any:
    """Settings from a (checked) config.json's ``settings``; other keys are ignored and
    settings that older files lack take :data:`LEGACY_DEFAULTS`."""
    return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


FitSettings = dataclasses.make_dataclass(
    "FitSettings", _fit_fields(), frozen=True,
    namespace={"__module__": __name__, "to_dict": _to_dict, "from_dict": classmethod(_from_dict),
               "__doc__": "The settings of one fit: every parameter of :class:`VAEParameters` "
                          "validated (but those in ``ESTIMATOR_ONLY``), the recipe's values "
                          "filled in, ``\"auto\"`` device and precision replaced by what "
                          "this machine has; the recipe's ``schedule`` and ``warmup_epochs`` "
                          "and the ``cpu`` detected on top."})


def resolve_device(device: str) -> str:
    check_parameter("device", device)
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
    check_parameter("precision", precision)
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
    values = {}
    for name in FitSettings.__dataclass_fields__:
        if name in VAEParameters.__dataclass_fields__:
            value = getattr(p, name)  # None: the recipe's
            values[name] = base[name] if value is None and name in base else value
    device = resolve_device(p.device)
    early = base["early_stopping"] if p.early_stopping == "auto" else p.early_stopping
    values.update(
        schedule=base["schedule"], warmup_epochs=base["warmup_epochs"],
        beta=1.0 if p.beta == "auto" else p.beta,  # "auto" is set from the data at fit
        learning_rate=float(values["learning_rate"]), consistency=float(values["consistency"]),
        early_stopping=early or None, device=device,
        precision=resolve_precision(p.precision, device, values["decoder"]),
        cpu=dict(cpu_capability()))
    return FitSettings(**values)
