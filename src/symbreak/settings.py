"""Settings of :func:`symbreak.analyze`: one frozen object, validated when built.

Settings come in sections (``preprocess``, ``detectors``, ``com``, ``pca``, ``vae``);
every option name is unique across sections, so keywords and command-line options are
flat (``crop=64, epochs=50``) while files are sectioned (TOML, or YAML when PyYAML is
installed)::

    [preprocess]
    crop = 78
    [vae]
    epochs = 50

``None`` means "derive from the data": the crop from the bright-field disk, the
detector ranges from the convergence semi-angle. :meth:`AnalyzeSettings.resolve` fills
those in, and the resolved settings are what ``analyze`` writes to ``settings.toml``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Mapping

from .errors import SettingsError

# The paper crops 256 px patterns to 78 px around a bright-field disk of ~67 px diameter.
CROP_PER_DISK_DIAMETER = 78 / 67.4


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingsError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{name} must be true or false, got {value!r}")
    return value


def _range(name: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        inner, outer = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"{name} must be an (inner, outer) pair of angles, got {value!r}; e.g. {name} = [0, 30]"
        ) from None
    if not (0 <= inner < outer and math.isfinite(outer)):
        raise SettingsError(f"{name} needs 0 <= inner < outer, got {value!r}")
    return (inner, outer)


@dataclasses.dataclass(frozen=True)
class PreprocessSettings:
    """How patterns are prepared for PCA and the rrVAE (the paper's recipe by default).

    Parameters
    ----------
    crop
        Side of the square window [px] cut around the centre of mass of the mean
        pattern; ``None`` derives it from the bright-field disk (1.16 x its diameter,
        the paper's 78 px for a 67 px disk), capped at the pattern size.
    bin
        Integer binning factor applied after cropping (mean of ``bin x bin`` pixels).
    resize
        Side [px] to resample each pattern to (bicubic) after binning; ``None``: off.
    subtract_mean
        Subtract the mean pattern.
    normalize
        Min-max normalise the whole stack to [0, 1].
    denoise
        PCA denoising: project on ``denoise_components`` components and keep the first
        ``denoise_keep`` (the paper's experimental recipe: 20 and 13).
    """

    crop: int | None = None
    bin: int = 1
    resize: int | None = None
    subtract_mean: bool = True
    normalize: bool = True
    denoise: bool = False
    denoise_components: int = 20
    denoise_keep: int = 13

    def __post_init__(self) -> None:
        if self.crop is not None:
            _int("crop", self.crop, 2)
        _int("bin", self.bin, 1)
        if self.resize is not None:
            _int("resize", self.resize, 2)
        for name in ("subtract_mean", "normalize", "denoise"):
            _bool(name, getattr(self, name))
        _int("denoise_components", self.denoise_components, 1)
        _int("denoise_keep", self.denoise_keep, 1)
        if self.denoise_keep > self.denoise_components:
            raise SettingsError(
                f"denoise_keep ({self.denoise_keep}) cannot exceed denoise_components "
                f"({self.denoise_components})"
            )

    def check_pattern_shape(self, pattern_shape: tuple[int, int]) -> None:
        """Reject a crop or binning that does not fit patterns of ``pattern_shape`` [px]."""
        smallest = min(pattern_shape)
        if self.crop is not None and self.crop > smallest:
            raise SettingsError(
                f"crop {self.crop} px is larger than the patterns {tuple(pattern_shape)} px; "
                f"use crop <= {smallest} or leave it unset to derive it from the disk"
            )
        side = self.crop if self.crop is not None else smallest
        if self.bin > side // 2:
            raise SettingsError(
                f"bin {self.bin} leaves fewer than 2 px of a {side} px pattern; use bin <= {side // 2}"
            )


@dataclasses.dataclass(frozen=True)
class DetectorSettings:
    """Virtual detectors as (inner, outer) angles in ``detector_units``.

    ``None`` derives them from the convergence semi-angle alpha: bright field
    (0, alpha), annular dark field (1.5 alpha, 3 alpha) capped at the detector edge.
    """

    bf: tuple[float, float] | None = None
    adf: tuple[float, float] | None = None
    detector_units: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bf", _range("bf", self.bf))
        object.__setattr__(self, "adf", _range("adf", self.adf))
        if self.detector_units not in (None, "mrad", "px"):
            raise SettingsError(
                f"detector_units must be 'mrad' or 'px', got {self.detector_units!r}"
            )


@dataclasses.dataclass(frozen=True)
class COMSettings:
    """Centre of mass: ``com_reference`` is ``"mean"`` (relative to the COM of the mean
    pattern, the paper's choice) or ``"center"`` (relative to the detector centre);
    pixels below ``com_threshold`` [counts] count as 0 (0 ignores negative values left by
    dark subtraction); None uses every pixel as it is."""

    com_reference: str = "mean"
    com_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.com_reference not in ("mean", "center"):
            raise SettingsError(
                f"com_reference must be 'mean' or 'center', got {self.com_reference!r}"
            )
        t = self.com_threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float))
                              or not math.isfinite(t)):
            raise SettingsError(f"com_threshold must be a finite number (pixels below it "
                                f"count as 0), got {t!r}")


@dataclasses.dataclass(frozen=True)
class PCASettings:
    """PCA of the preprocessed patterns with ``pca_components`` components."""

    pca_components: int = 6

    def __post_init__(self) -> None:
        _int("pca_components", self.pca_components, 1)


@dataclasses.dataclass(frozen=True)
class VAESettings:
    """The rotationally invariant VAE.

    Parameters
    ----------
    latent_dim
        Number of content latents (the angle latent comes on top).
    recipe
        ``"default"`` (fast) or ``"paper"`` (Adam 1e-4, batch 20, as published).
    epochs
        Training epochs; ``None`` uses the recipe's default.
    seed
        Random seed of the split, the initialisation and the sampling.
    manifold_size
        Side of the decoded manifold grid (the paper shows 9 x 9).
    max_time
        Stop training after this many seconds [s] (checked between epochs); ``None``: no
        limit. Makes the result depend on the machine's speed: use it for demos.
    """

    latent_dim: int = 2
    recipe: str = "default"
    epochs: int | None = None
    seed: int = 0
    manifold_size: int = 9
    max_time: float | None = None

    def __post_init__(self) -> None:
        _int("latent_dim", self.latent_dim, 1)
        if self.recipe not in ("default", "paper"):
            raise SettingsError(f"recipe must be 'default' or 'paper', got {self.recipe!r}")
        if self.epochs is not None:
            _int("epochs", self.epochs, 1)
        _int("seed", self.seed, 0)
        _int("manifold_size", self.manifold_size, 2)
        if self.max_time is not None:
            if isinstance(self.max_time, bool) or not isinstance(self.max_time, (int, float)) \
                    or not self.max_time > 0:
                raise SettingsError(f"max_time must be a positive number of seconds, got "
                                    f"{self.max_time!r}")
            object.__setattr__(self, "max_time", float(self.max_time))


SECTIONS: dict[str, type] = {
    "preprocess": PreprocessSettings,
    "detectors": DetectorSettings,
    "com": COMSettings,
    "pca": PCASettings,
    "vae": VAESettings,
}
OPTION_SECTION = {
    field.name: section
    for section, cls in SECTIONS.items()
    for field in dataclasses.fields(cls)
}

_DEFAULTS = {
    field.name: field.default for cls in SECTIONS.values() for field in dataclasses.fields(cls)
}


@dataclasses.dataclass(frozen=True)
class AnalyzeSettings:
    """All settings of :func:`symbreak.analyze`, one frozen section per stage."""

    preprocess: PreprocessSettings = PreprocessSettings()
    detectors: DetectorSettings = DetectorSettings()
    com: COMSettings = COMSettings()
    pca: PCASettings = PCASettings()
    vae: VAESettings = VAESettings()

    @classmethod
    def from_options(cls, **options: Any) -> "AnalyzeSettings":
        """Build from flat keywords (``crop=64, epochs=50``); unknown names are an error."""
        return cls().replace(**options)

    def replace(self, **options: Any) -> "AnalyzeSettings":
        """A copy with flat options changed; ``None`` values are ignored only for
        options whose default is not ``None``."""
        unknown = sorted(set(options) - set(OPTION_SECTION))
        if unknown:
            raise SettingsError(
                f"unknown option(s) {unknown}; known options: {sorted(OPTION_SECTION)}"
            )
        grouped: dict[str, dict[str, Any]] = {}
        for name, value in options.items():
            if value is None and _DEFAULTS[name] is not None:
                continue
            grouped.setdefault(OPTION_SECTION[name], {})[name] = value
        changes = {
            section: dataclasses.replace(getattr(self, section), **values)
            for section, values in grouped.items()
        }
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "AnalyzeSettings":
        """Build from a sectioned (``{"vae": {"epochs": 5}}``) or flat mapping."""
        flat: dict[str, Any] = {}
        for key, value in values.items():
            if key in SECTIONS:
                if not isinstance(value, Mapping):
                    raise SettingsError(f"section [{key}] must be a table of options, got {value!r}")
                for name, item in value.items():
                    if OPTION_SECTION.get(name) != key:
                        raise SettingsError(
                            f"unknown option {name!r} in section [{key}]; known: "
                            f"{[f.name for f in dataclasses.fields(SECTIONS[key])]}"
                        )
                    flat[name] = item
            else:
                flat[key] = value
        return cls.from_options(**flat)

    @classmethod
    def from_file(cls, path: str | Path) -> "AnalyzeSettings":
        """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) settings file."""
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"settings file {path} does not exist")
        suffix = path.suffix.lower()
        if suffix == ".toml":
            try:
                values = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"cannot read settings file {path}: {exc}") from None
        elif suffix in (".yaml", ".yml"):
            values = _read_yaml(path)
        else:
            raise SettingsError(
                f"settings file {path} must end in .toml, .yaml or .yml, got {suffix!r}"
            )
        return cls.from_mapping(values)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Sectioned plain dict (tuples as lists)."""
        out = {}
        for section in SECTIONS:
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    def to_toml(self) -> str:
        """TOML text that :meth:`from_file` reads back to the same settings.

        Options that are ``None`` are written as comments (TOML has no null)."""
        lines = ["# settings used by symbreak analyze; pass back with --config"]
        for section, values in self.to_dict().items():
            lines.append(f"\n[{section}]")
            for name, value in values.items():
                if value is None:
                    lines.append(f"# {name} = (unset: derived from the data or off)")
                else:
                    lines.append(f"{name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise SettingsError(f"cannot write {value!r} to TOML")


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        import yaml  # optional: comes with rosettasciio
    except ImportError:
        raise SettingsError(
            f"reading {path} needs PyYAML (pip install pyyaml), or write the settings as TOML"
        ) from None
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    if not isinstance(values, Mapping):
        raise SettingsError(f"settings file {path} must hold a mapping of options")
    return values
