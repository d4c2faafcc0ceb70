"""Command-line options generated from settings dataclasses (:mod:`symbreak.options`).

Every described field becomes ``--field-name`` with its help text, unit, default and
choices; the value is read and checked after parsing, so that a bad value gives one line
naming the option, the value and what is allowed. Tuple settings take ``Y,X`` (one
token) or ``Y X`` (separate tokens).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from ..errors import SettingsError
from ..options import Setting, check_value, settings_fields

_NUM = r"\s*[-+]?(?:\d+\.?\d*|\.\d+|inf)(?:[eE][-+]?\d+)?\s*"
_NUMBER = re.compile(f"^{_NUM}$", re.IGNORECASE)
_NUMBERS = re.compile(f"^{_NUM}(?:,{_NUM})*$", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """ArgumentParser that also reads tuple options written as separate tokens."""

    spaced: dict[str, int]

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        spaced = getattr(self, "spaced", {})
        if args is not None and spaced:
            args = join_spaced(list(args), spaced)
        return super().parse_known_args(args, namespace)


def join_spaced(argv: list[str], spaced: dict[str, int]) -> list[str]:
    """``--scan-shape 4 3`` -> ``--scan-shape=4,3`` for the options in ``spaced`` (flag ->
    number of values); ``--scan-shape 4,3`` stays one value. Joined with ``=`` so that
    negative numbers (``--defect-site -1.5 2``) are not taken for options."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        n = spaced.get(argv[i], 0)
        values = argv[i + 1:i + 1 + n]
        if n > 1 and len(values) == n and all(_NUMBER.match(v) for v in values):
            out.append(f"{argv[i]}={','.join(values)}")
            i += n + 1
        elif n and i + 1 < len(argv) and _NUMBERS.match(argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def flag_of(name: str, spec: Setting) -> str:
    """The option string of a setting: ``latent_dim`` -> ``--latent-dim``."""
    return spec.flag or "--" + name.replace("_", "-")


def _metavar(name: str, spec: Setting) -> str | None:
    if spec.metavar:
        return spec.metavar
    if spec.choices is not None:
        return "{" + ",".join(str(c) for c in spec.choices) + "}"
    if spec.length is not None:
        return ",".join(["V"] * spec.length) if spec.length > 2 else "Y,X"
    return {int: "N", float: "X"}.get(spec.kind, name.upper())


def _help(spec: Setting, default: Any) -> str:
    text = spec.describe()
    if spec.kind is bool and default is not None:
        text += f" (default: {'on' if default else 'off'})"
    elif default is not None:
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text += f" (default: {shown})"
    return text.replace("%", "%%")


def add_settings_options(parser: Any, cls: type, *, title: str | None = None,
                         skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None
                         ) -> Any:
    """One option per described field of ``cls`` (or of the fields named in ``only``);
    every argparse default is None (not given). Returns the argument group (or
    ``parser`` without ``title``)."""
    group = parser.add_argument_group(title) if title else parser
    for field, spec in settings_fields(cls):
        if not spec.cli or field.name in skip or (only is not None and field.name not in only):
            continue
        flag = flag_of(field.name, spec)
        help_text = _help(spec, field.default)
        if spec.kind is bool and spec.length is None:
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction,
                               default=None, help=help_text)
            continue
        names = (spec.short, flag) if spec.short else (flag,)
        group.add_argument(*names, dest=field.name, default=None, help=help_text,
                           metavar=_metavar(field.name, spec),
                           action="append" if spec.repeat else "store")
        if spec.length:
            if not hasattr(parser, "spaced"):
                parser.spaced = {}
            parser.spaced[flag] = spec.length
    return group


def read_option(flag: str, spec: Setting, text: Any) -> Any:
    """The value of option ``flag`` from its command-line text, checked by ``spec``."""
    if spec.repeat and isinstance(text, list):
        one = dataclasses.replace(spec, repeat=False)
        value: Any = tuple(_read_text(flag, one, item) for item in text)
    else:
        value = _read_text(flag, spec, text)
    return check_value(flag, spec, value)


def _read_text(flag: str, spec: Setting, text: Any) -> Any:
    """``text`` read by ``spec`` (unchecked); parse errors name the option."""
    if not isinstance(text, str):
        return text
    try:
        return _from_text(spec, text)
    except SettingsError as exc:
        message = str(exc)
        raise SettingsError(message if flag in message else f"{flag}: {message}") from None
    except ValueError:
        raise SettingsError(f"{flag} must be {spec.allowed()}, got {text!r}") from None


def _from_text(spec: Setting, text: str) -> Any:
    if spec.parse is not None:
        return spec.parse(text)
    if spec.length is None:
        return _item(spec.kind, text)
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    values = [_item(spec.kind, p) for p in parts]
    return values[0] if spec.scalar_pair and len(values) == 1 else tuple(values)


def _item(kind: type, text: str) -> Any:
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    return text


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """``{field: value}`` of the settings of ``cls`` given on the command line."""
    values = {}
    for field, spec in settings_fields(cls):
        text = getattr(args, field.name, None)
        if spec.cli and text is not None:
            values[field.name] = read_option(flag_of(field.name, spec), spec, text)
    return values
