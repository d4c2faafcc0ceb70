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
detector ranges from the convergence semi-angle; ``analyze`` fills those in and writes
the settings it used to ``settings.toml``. Every field carries its help text, unit and
bounds (:func:`symbreak.options.setting`); ``symbreak analyze`` builds its options from
them.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any, Mapping

from ..classical.settings import COM_REFERENCES
from ..errors import SettingsError
from ..options import borrow, check_fields, defaults, setting
from ..preprocess.settings import CROP_PER_DISK_DIAMETER, PreprocessSettings  # noqa: F401
from ..vae.parameters import VAEParameters


def _check_range(name: str, value: tuple[float, float] | None) -> None:
    if value is not None and not value[0] < value[1]:
        raise SettingsError(f"{name} needs 0 <= inner < outer, got {value!r}")


@dataclasses.dataclass(frozen=True)
class DetectorSettings:
    """Virtual detectors as (inner, outer) angles in ``detector_units``.

    ``None`` derives them from the convergence semi-angle alpha: bright field
    (0, alpha), annular dark field (1.5 alpha, 3 alpha) capped at the detector edge, dark
    field (1.1 alpha, beyond the detector's corners): every electron scattered out of the
    disk, whose count is what tells a light substitution (N for C) from its host.
    """

    bf: tuple[float, float] | None = setting(
        None, kind=float, length=2, minimum=0.0, metavar="INNER,OUTER",
        help="bright-field detector (default: 0, semi-angle)")
    adf: tuple[float, float] | None = setting(
        None, kind=float, length=2, minimum=0.0, metavar="INNER,OUTER",
        help="annular dark-field detector (default: 1.5, 3 x semi-angle)")
    df: tuple[float, float] | None = setting(
        None, kind=float, length=2, minimum=0.0, metavar="INNER,OUTER",
        help="dark-field detector: every electron scattered outside the bright-field disk "
        "(default: 1.1 x semi-angle to beyond the detector's corners)")
    detector_units: str | None = setting(None, kind=str, choices=("mrad", "px"),
                                         help="units of bf and adf (default: mrad when the "
                                         "detector is calibrated, else px)")

    def __post_init__(self) -> None:
        check_fields(self)
        _check_range("bf", self.bf)
        _check_range("adf", self.adf)
        _check_range("df", self.df)


@dataclasses.dataclass(frozen=True)
class COMSettings:
    """Centre of mass, computed by :func:`symbreak.classical.com` with the choices of
    ``symbreak com``: ``com_reference`` is ``"mean"`` (relative to the COM of the mean
    pattern, the paper's choice), ``"center"`` (relative to the detector centre) or
    ``"plane"`` (a least-squares plane over the scan removed: descan); pixels below
    ``com_threshold`` [counts] count as 0 (0 ignores negative values left by dark
    subtraction); None uses every pixel as it is."""

    com_reference: str = setting("mean", choices=COM_REFERENCES,
                                 help="COM measured from the mean pattern's COM (mean), the "
                                 "detector centre (center) or a fitted descan plane (plane)")
    com_threshold: float | None = setting(None, kind=float, unit="counts",
                                          help="pixels below this value count as 0 in the "
                                          "COM (0 ignores negative values)")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class PCASettings:
    """PCA of the preprocessed patterns with ``pca_components`` components."""

    pca_components: int = setting(6, minimum=1, help="number of PCA components")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class VAESettings:
    """The rotationally invariant VAE of the analysis.

    ``latent_dim``, ``recipe``, ``epochs``, ``seed`` and ``max_time`` are the
    :class:`~symbreak.vae.parameters.VAEParameters` of the same names (``seed`` is
    ``random_state``): same defaults, help and bounds. ``max_time`` makes the result
    depend on the machine's speed: use it for demos.
    """

    latent_dim: int = borrow(VAEParameters, "latent_dim", help="number of rrVAE content "
                             "latents")
    recipe: str = borrow(VAEParameters, "recipe")
    epochs: int | None = borrow(VAEParameters, "epochs")
    seed: int = borrow(VAEParameters, "random_state", flag=None)
    restarts: int = borrow(VAEParameters, "restarts")
    manifold_size: int = setting(9, minimum=2, help="side of the decoded manifold grid "
                                 "(the paper shows 9 x 9)")
    max_time: float | None = borrow(VAEParameters, "max_time")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclasses.dataclass(frozen=True)
class SymmetrySettings:
    """Where the symmetry is broken: every map compared with its lattice-equivalent
    positions. ``lattice`` gives the two lattice vectors (a1y, a1x, a2y, a2x) [Å] in the
    scan frame; ``None`` finds them from the periodicity of the BF, ADF and COM maps."""

    lattice: tuple[float, float, float, float] | None = setting(
        None, kind=float, length=4, unit="Å", metavar="A1Y,A1X,A2Y,A2X",
        help="lattice vectors in the scan frame (default: found from the BF/ADF/COM maps)")

    def __post_init__(self) -> None:
        check_fields(self)


SECTIONS: dict[str, type] = {
    "preprocess": PreprocessSettings,
    "detectors": DetectorSettings,
    "com": COMSettings,
    "pca": PCASettings,
    "vae": VAESettings,
    "symmetry": SymmetrySettings,
}
OPTION_SECTION = {
    field.name: section
    for section, cls in SECTIONS.items()
    for field in dataclasses.fields(cls)
}

_DEFAULTS = {name: value for cls in SECTIONS.values() for name, value in defaults(cls).items()}


@dataclasses.dataclass(frozen=True)
class AnalyzeSettings:
    """All settings of :func:`symbreak.analyze`, one frozen section per stage."""

    preprocess: PreprocessSettings = PreprocessSettings()
    detectors: DetectorSettings = DetectorSettings()
    com: COMSettings = COMSettings()
    pca: PCASettings = PCASettings()
    vae: VAESettings = VAESettings()
    symmetry: SymmetrySettings = SymmetrySettings()

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
            text = read_settings_text(path)
            try:
                values = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"cannot read settings file {path}: {exc}") from None
            except RecursionError:  # tomllib parses nested arrays recursively
                raise _too_deep(path) from None
        elif suffix in (".yaml", ".yml"):
            values = _read_yaml(path)
        else:
            raise SettingsError(
                f"settings file {path} must end in .toml, .yaml or .yml, got {suffix!r}"
            )
        check_depth(values, path)
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


MAX_SETTINGS_BYTES = 1_000_000  # a settings file is a page of text, never megabytes
MAX_SETTINGS_DEPTH = 8  # nesting of tables and arrays: a settings file needs 3


def _too_deep(path: Path) -> SettingsError:
    return SettingsError(f"settings file {path} nests tables or arrays deeper than "
                         f"{MAX_SETTINGS_DEPTH} levels; it is not a settings file: give "
                         "[section] tables of name = value options")


def check_depth(values: Any, path: Path) -> None:
    """Refuse values nested deeper than :data:`MAX_SETTINGS_DEPTH` (walked without
    recursion, before anything formats or validates them)."""
    stack = [(values, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_SETTINGS_DEPTH:
            raise _too_deep(path)
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)


def read_settings_text(path: Path) -> str:
    """The UTF-8 text of a settings file (at most :data:`MAX_SETTINGS_BYTES`).

    Raises
    ------
    SettingsError
        The file is not a regular file, is too large or is not UTF-8 text.
    """
    if not path.is_file():
        raise SettingsError(f"settings file {path} is not a regular file; give a .toml or "
                            ".yaml text file")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_SETTINGS_BYTES + 1)
    if len(raw) > MAX_SETTINGS_BYTES:
        raise SettingsError(f"settings file {path} is larger than {MAX_SETTINGS_BYTES:,} "
                            "bytes; it is not a settings file: give the .toml written by "
                            "symbreak analyze or your own")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"settings file {path} is not UTF-8 text (byte {exc.start}: "
                            f"{raw[exc.start:exc.start + 1]!r}); save it as UTF-8") from None


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        import yaml  # optional: comes with rosettasciio
    except ImportError:
        raise SettingsError(
            f"reading {path} needs PyYAML (pip install pyyaml), or write the settings as TOML"
        ) from None
    text = read_settings_text(path)
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise _too_deep(path) from None
    if not isinstance(values, Mapping):
        raise SettingsError(f"settings file {path} must hold a mapping of options")
    return values
