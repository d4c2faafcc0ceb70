"""The rrVAE's hyper-parameters, each with its default, help, choices and bounds.

:class:`VAEParameters` is the one place where a default of
:class:`~symbreak.vae.RotationalVAE` is written (``latent_dim`` 2, ...); ``None`` means
"the recipe's". ``symbreak train`` builds its options from it and the analysis settings
borrow ``latent_dim``, ``recipe``, ``epochs``, ``seed`` and ``max_time`` from it. Light:
no PyTorch import, so ``symbreak --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import SettingsError
from ..options import MAX_SEED, check_fields, check_value, setting, spec_of

RECIPES: dict[str, dict[str, Any]] = {
    "default": dict(encoder="mlp", decoder="rotate", angle_head="circular", epochs=200,
                    batch_size=64, learning_rate=5e-4, schedule="cosine", warmup_epochs=2,
                    consistency=0.2, early_stopping=20, angle_warmup=10),
    "paper": dict(encoder="mlp", decoder="spatial", angle_head="linear", epochs=1000,
                  batch_size=20, learning_rate=1e-4, schedule="constant", warmup_epochs=0,
                  consistency=0.0, early_stopping=None, angle_warmup=0),
}
ENCODERS = ("mlp", "conv")
DECODERS = ("spatial", "rotate")
OUTPUTS = ("softplus", "linear")
ANGLE_HEADS = ("linear", "circular")
LIKELIHOODS = ("gaussian", "bernoulli", "continuous_bernoulli")
PRECISIONS = ("auto", "float32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
# bounds of sizes that decide how much memory the networks take (checked before any
# allocation: a settings or model file could otherwise ask for terabytes)
MAX_LATENT_DIM = 1024
MAX_HIDDEN = 8192
# bounds of counts that a settings or model file could otherwise set absurdly: a
# thread count becomes OS threads, a batch a tensor, epochs a history held in memory
MAX_EPOCHS = 100_000  # 100 x the paper's 1000; the history of each is kept
MAX_BATCH = 2**24
MAX_THREADS = 1024
MAX_WORKERS = 256
MAX_RESTARTS = 100
STREAMING = {"auto": "auto", "on": True, "off": False}
# The settings of one fit (:class:`~symbreak.vae.settings.FitSettings`, stored in a
# model's config.json) are these parameters but for ESTIMATOR_ONLY ones (how the estimator
# fits: where patterns come from, restarts), plus RECIPE_ONLY ones (placed after
# ``learning_rate``, as in config.json format version 1) and the ``cpu`` detected.
ESTIMATOR_ONLY = ("streaming", "loader_workers", "restarts", "symmetrize")
RECIPE_ONLY = (("schedule", "str"), ("warmup_epochs", "int"))
# defaults of the settings that older config.json files lack (their fits had no warm-up)
LEGACY_DEFAULTS = {"n_threads": None, "angle_warmup": 0, "cpu": None}


def _early_stopping(name: str, value: Any) -> Any:
    if value is None or value is False or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"{name} must be 'auto', off (None) or an integer >= 1 "
                            f"(epochs without improvement), got {value!r}")
    return value


def _parse_early_stopping(text: str) -> Any:
    words = {"auto": "auto", "off": None}
    return words[text.lower()] if text.lower() in words else int(text)


def _streaming(name: str, value: Any) -> Any:
    if value not in ("auto", True, False):
        raise SettingsError(f"{name} must be 'auto', True or False (on/off), got {value!r}")
    return value


def _parse_streaming(text: str) -> Any:
    if text not in STREAMING:
        raise ValueError(text)
    return STREAMING[text]


def _beta(name: str, value: Any) -> Any:
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise SettingsError(f"{name} must be a number >= 0 or 'auto' (a Gaussian with the "
                            f"data's own noise scale), got {value!r}")
    return float(value)


def _parse_beta(text: str) -> Any:
    return "auto" if text.lower() == "auto" else float(text)


@dataclasses.dataclass(frozen=True)
class VAEParameters:
    """The parameters of :class:`~symbreak.vae.RotationalVAE` as given (validated).

    ``None`` for ``encoder``, ``decoder``, ``angle_head``, ``epochs``, ``batch_size``,
    ``learning_rate`` and ``consistency`` means the recipe's value; see
    :func:`symbreak.vae.settings.fit_settings` for the settings of one fit.
    """

    latent_dim: int = setting(2, help="number of content latents (the angle latent comes "
                              "on top)", minimum=1, maximum=MAX_LATENT_DIM)
    translation: bool = setting(False, help="add two shift latents (rVAE)")
    encoder: str | None = setting(None, kind=str, choices=ENCODERS,
                                  help="encoder network (default: the recipe's)")
    decoder: str | None = setting(None, kind=str, choices=DECODERS,
                                  help="decoder: the paper's spatial generator or the faster "
                                  "rotate decoder (default: the recipe's)")
    hidden: int = setting(128, help="width of the hidden layers", minimum=2,
                          maximum=MAX_HIDDEN)
    output: str = setting("softplus", choices=OUTPUTS,
                          help="decoder output of the Gaussian likelihood")
    angle_head: str | None = setting(None, kind=str, choices=ANGLE_HEADS,
                                     help="angle output (default: the recipe's)")
    likelihood: str = setting("gaussian", choices=LIKELIHOODS,
                              help="reconstruction likelihood (Bernoulli ones need "
                              "intensities in [0, 1])")
    beta: Any = setting(1.0, check=_beta, parse=_parse_beta, metavar="BETA|auto",
                        help="weight of the KL terms; auto: a Gaussian with the data's own "
                        "noise scale (the variance PCA leaves)")
    rotation_prior: float = setting(0.1, help="prior sd of the angle latent", unit="rad",
                                    above=0.0)
    translation_prior: float = setting(0.1, help="prior sd of the shift latents "
                                       "(half the pattern width = 1)", above=0.0)
    recipe: str = setting("default", choices=tuple(RECIPES),
                          help="training recipe: default (fast) or paper (as published)")
    epochs: int | None = setting(None, kind=int, minimum=1, maximum=MAX_EPOCHS,
                                 help="training epochs (default: the recipe's)")
    batch_size: int | None = setting(None, kind=int, minimum=1, maximum=MAX_BATCH,
                                     help="patterns per batch (default: the recipe's)")
    learning_rate: float | None = setting(None, kind=float, above=0.0,
                                          help="Adam learning rate (default: the recipe's)")
    consistency: float | None = setting(None, kind=float, minimum=0.0,
                                        help="weight of the rotation-consistency term "
                                        "(default: the recipe's)")
    validation_fraction: float = setting(0.15, help="share of patterns held out for "
                                         "validation", above=0.0, below=1.0)
    early_stopping: Any = setting("auto", check=_early_stopping, parse=_parse_early_stopping,
                                  optional=True, metavar="auto|off|N",
                                  help="stop after N epochs without a better validation "
                                  "loss (auto: the recipe's)")
    max_time: float | None = setting(None, kind=float, above=0.0, unit="s",
                                     help="stop training after this long (checked between "
                                     "epochs; default: no limit)")
    device: str = setting("auto", choices=DEVICES, help="where to train (auto: CUDA when "
                          "available)")
    precision: str = setting("auto", choices=PRECISIONS,
                             help="arithmetic (auto: bf16 autocast on GPUs that support it "
                             "and for the spatial decoder on CPUs with native bf16, "
                             "AVX512-BF16 or AMX; else float32)")
    random_state: int = setting(0, minimum=0, maximum=MAX_SEED, flag="--seed",
                                help="random seed of the split, the weights and the sampling")
    n_threads: int | None = setting(None, kind=int, minimum=1, maximum=MAX_THREADS,
                                    flag="--threads",
                                    help="PyTorch CPU threads (default: 1 for the rotate "
                                    "decoder)")
    streaming: Any = setting("auto", check=_streaming, parse=_parse_streaming,
                             choices=tuple(STREAMING),
                             help="stream patterns from disk chunk by chunk (auto: when they "
                             "exceed a quarter of the memory budget)")
    loader_workers: int | None = setting(None, kind=int, minimum=0,
                                         maximum=MAX_WORKERS,
                                         help="DataLoader processes reading chunks ahead "
                                         "while streaming (default 1)")

    restarts: int = setting(2, minimum=0, maximum=MAX_RESTARTS,
                            help="further attempts from other seeds when a fit stays in the "
                            "explain-nothing state")
    symmetrize: bool = setting(True, help="encode each pattern's four exact 90-degree turns "
                               "and combine them (content exactly invariant)")
    angle_warmup: int | None = setting(None, kind=int, minimum=0, maximum=MAX_EPOCHS,
                                       help="epochs that pull the angle towards each "
                                       "pattern's first-moment direction (default: the "
                                       "recipe's, 10 default, 0 paper)")

    def __post_init__(self) -> None:
        check_fields(self)


def check_parameter(name: str, value: Any, label: str | None = None) -> Any:
    """``value`` of the parameter ``name``, validated by its one description above.

    Used wherever a single parameter arrives on its own (a device given to ``load``, the
    architecture of a config.json); ``label`` names it in the message (default ``name``).

    Raises
    ------
    SettingsError
        One line naming ``label``, the value and what is allowed.
    """
    field = VAEParameters.__dataclass_fields__[name]
    return check_value(label or name, spec_of(field), value)
