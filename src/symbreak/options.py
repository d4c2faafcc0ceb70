"""One convention for settings: frozen dataclasses whose fields describe themselves.

A field made with :func:`setting` carries its help text, unit, allowed choices and
bounds; :func:`check_fields` validates (and normalises) every field of a frozen
dataclass from that description, and :mod:`symbreak.cli.options` builds the
command-line options from the same description. A default is written once, in the
field; nothing else (CLI, docs, other settings classes) repeats it::

    @dataclasses.dataclass(frozen=True)
    class PCASettings:
        pca_components: int = setting(6, help="number of PCA components", minimum=1)

        def __post_init__(self) -> None:
            check_fields(self)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from .errors import SettingsError

KINDS = (int, float, bool, str)
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seeds are unsigned 32-bit


@dataclasses.dataclass(frozen=True)
class Setting:
    """What a settings field accepts, and how it is described to users.

    Attributes
    ----------
    help
        One-line description, in words a microscopist uses.
    kind
        ``int``, ``float``, ``bool`` or ``str`` (of each item for tuples).
    unit
        Unit written after the help text, e.g. ``"mrad"`` (shown as ``[mrad]``).
    choices
        Allowed values (for ``str`` kinds).
    minimum, maximum
        Inclusive bounds of numbers (of every item for tuples).
    above, below
        Exclusive bounds of numbers.
    length
        Number of items for tuple settings (``None``: a single value).
    scalar_pair
        For ``length=2``: a single number means the same value twice.
    optional
        ``None`` is allowed (means "derived", "off" or "the recipe's").
    parse
        Turns command-line text into a value (``"60kV"`` -> 60000.0); default: by kind.
    check
        Extra check ``check(name, value) -> value`` for values the rules above cannot
        describe (``early_stopping="auto"``); it replaces the kind check.
    metavar
        Placeholder shown in ``--help`` (default from the kind or the choices).
    flag
        Command-line option when it differs from the field name (``--seed`` for
        ``random_state``).
    cli
        ``False`` keeps the setting off the command line (API only).
    short
        A one-letter alias of the option (``-n`` for ``--n-components``).
    repeat
        The option may be given several times (``--detector bf:0:20 --detector ...``);
        the value is a tuple of items, each read by ``parse`` and checked by the rules
        above (``check`` then checks one item).
    """

    help: str
    kind: type = str
    unit: str | None = None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    length: int | None = None
    scalar_pair: bool = False
    optional: bool = False
    parse: Callable[[str], Any] | None = None
    check: Callable[[str, Any], Any] | None = None
    metavar: str | None = None
    flag: str | None = None
    cli: bool = True
    short: str | None = None
    repeat: bool = False

    def describe(self) -> str:
        """The help text with its unit, e.g. ``"probe semi-angle [mrad]"``."""
        return f"{self.help} [{self.unit}]" if self.unit else self.help

    def allowed(self) -> str:
        """The allowed values in words, e.g. ``"an integer >= 1"``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.check is not None and self.metavar:
            *first, last = self.metavar.split("|")
            return f"{', '.join(first)} or {last}" if first else last
        noun = {int: "an integer", float: "a finite number", bool: "true or false",
                str: "text"}[self.kind]
        above = self.above
        if above == 0 and self.kind in (int, float):
            noun, above = ("a positive integer" if self.kind is int else "a positive number"), None
        bounds = [f"{op} {_num(v)}" for op, v in ((">=", self.minimum), ("<=", self.maximum),
                                                   (">", above), ("<", self.below))
                  if v is not None]
        text = noun + (" " + " and ".join(bounds) if bounds else "")
        if self.length is not None:
            text = f"{self.length} values, each {text}"
            if self.scalar_pair:
                text = "one number or " + text
        return text


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting(default: Any = None, *, help: str, kind: type | None = None, **spec: Any) -> Any:
    """A dataclass field that carries its description (see :class:`Setting`).

    ``kind`` defaults to the type of ``default``; a ``None`` default makes the setting
    optional (``None`` allowed) and then needs ``kind``. Tuple defaults need ``kind`` of
    their items and set ``length``.
    """
    if kind is None:
        sample = default[0] if isinstance(default, tuple) else default
        if sample is None:
            raise TypeError(f"setting(None, help={help!r}) needs kind=")
        kind = type(sample)
    if kind not in KINDS:
        raise TypeError(f"setting kind must be one of {KINDS}, got {kind!r}")
    if isinstance(default, tuple):
        spec.setdefault("length", len(default))
    if default is None:
        spec.setdefault("optional", True)
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable setting defaults are not allowed; use a tuple")
    meta = Setting(help=help, kind=kind, **spec)
    return dataclasses.field(default=default, metadata={"setting": meta})


def spec_of(field: dataclasses.Field) -> Setting | None:
    """The :class:`Setting` of a dataclass field, or None for a plain field."""
    return field.metadata.get("setting")


def settings_fields(cls_or_obj: Any) -> list[tuple[dataclasses.Field, Setting]]:
    """The described fields of a settings dataclass, in order."""
    return [(f, spec_of(f)) for f in dataclasses.fields(cls_or_obj) if spec_of(f)]


def borrow(cls: type, name: str, **changes: Any) -> Any:
    """A field copied from another settings class: same default, help and bounds.

    Lets one setting appear in two classes (``latent_dim`` of the analysis and of the
    rrVAE) with its default written once; ``changes`` adjust the description.
    """
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    meta = dataclasses.replace(spec_of(field), **changes)
    return dataclasses.field(default=field.default, metadata={"setting": meta})


def check_value(name: str, spec: Setting, value: Any) -> Any:
    """``value`` validated and normalised (ints for floats, tuples for lists) by ``spec``.

    Raises
    ------
    SettingsError
        One line naming ``name``, the value and what is allowed.
    """
    if value is None:
        if spec.optional:
            return None
        raise SettingsError(f"{name} must be {spec.allowed()}, got None")
    if spec.repeat:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise SettingsError(f"{name} must be a list, each item {spec.allowed()}, "
                                f"got {value!r}")
        one = dataclasses.replace(spec, repeat=False)
        return tuple(check_value(name, one, item) for item in value)
    if spec.check is not None:
        return spec.check(name, value)
    if spec.length is None:
        return _check_item(name, spec, value, value)
    items = value
    if spec.scalar_pair and _is_number(value):
        items = (value,) * spec.length
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) \
            or len(items) != spec.length:
        raise SettingsError(f"{name} must be {spec.allowed()}, got {value!r}")
    return tuple(_check_item(name, spec, item, value) for item in items)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(number: Any) -> bool:
    """A finite float, or an int that a float can hold (not 10**400)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _check_item(name: str, spec: Setting, item: Any, value: Any) -> Any:
    kind = spec.kind
    if kind is bool:
        ok = isinstance(item, bool)
    elif kind is int:
        ok = isinstance(item, numbers.Integral) and not isinstance(item, bool)
        item = int(item) if ok else item
    elif kind is float:
        ok = _is_number(item) and _finite(item)
        item = float(item) if ok else item
    else:
        ok = isinstance(item, str)
    if ok and spec.choices is not None:
        ok = item in spec.choices
    if ok and kind in (int, float):
        ok = ((spec.minimum is None or item >= spec.minimum)
              and (spec.maximum is None or item <= spec.maximum)
              and (spec.above is None or item > spec.above)
              and (spec.below is None or item < spec.below))
    if not ok:
        raise SettingsError(f"{name} must be {spec.allowed()}, got {value!r}")
    return item


def check_fields(obj: Any) -> None:
    """Validate every described field of the frozen dataclass ``obj`` in place.

    Call it from ``__post_init__``; values are normalised (``1`` -> ``1.0`` for floats,
    lists -> tuples) with ``object.__setattr__``.
    """
    for field, spec in settings_fields(obj):
        value = check_value(field.name, spec, getattr(obj, field.name))
        object.__setattr__(obj, field.name, value)


def defaults(cls: type) -> dict[str, Any]:
    """``{name: default}`` of a settings dataclass."""
    return {f.name: f.default for f in dataclasses.fields(cls)}
