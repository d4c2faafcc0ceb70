"""The report's one way to write HTML: every value is escaped unless it is :class:`Html`.

:class:`Html` can only be made here: by :func:`html` from a literal template (its
placeholders are escaped), by :func:`trusted` from a literal of the report's own
markup (styles, scripts), by :func:`json_script` and by :func:`join` / ``+`` of other
:class:`Html`. A plain ``str`` never becomes HTML by accident: adding one to
:class:`Html` is a ``TypeError``. ``tests/reporting/test_escaping.py`` checks the
source of :mod:`symbreak.reporting` so that no markup is written any other way (no
f-string or string sum holds a tag, :func:`trusted` takes literals only).
"""

from __future__ import annotations

import functools
import html as _html
import json
import re
import string
from typing import Any, Iterable

_KEY = object()  # only this module makes Html
# placeholders are refused where escaping is not enough: in scripts, styles, event
# handlers and inline style attributes
_UNSAFE_SLOT = re.compile(r"<script|<style|\son\w+\s*=\s*[\"'][^\"']*\{|style\s*=\s*[\"'][^\"']*\{",
                          re.I)


class Html:
    """A piece of the page that is safe to insert as it is (see the module docstring)."""

    __slots__ = ("_text",)

    def __init__(self, text: str, key: object = None) -> None:
        if key is not _KEY:
            raise TypeError("Html is made by symbreak.reporting.markup (html(), trusted(), "
                            "join()), never from a plain string")
        self._text = text

    def __str__(self) -> str:
        return self._text

    def __html__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Html({self._text[:60]!r}{'...' if len(self._text) > 60 else ''})"

    def __bool__(self) -> bool:
        return bool(self._text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Html) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __add__(self, other: Html) -> Html:
        if not isinstance(other, Html):
            raise TypeError(f"only Html can be added to Html, not {type(other).__name__}: "
                            "pass text through markup.html()")
        return Html(self._text + other._text, _KEY)


EMPTY = Html("", _KEY)


def escape(value: Any) -> Html:
    """``value`` as text (``str(value)``, quotes escaped too); :class:`Html` unchanged."""
    if isinstance(value, Html):
        return value
    return Html(_html.escape(str(value), quote=True), _KEY)


class _Escaping(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Html):
            if format_spec:
                raise ValueError("a format spec cannot apply to Html")
            return str(value)
        return _html.escape(format(value, format_spec), quote=True)


_FORMATTER = _Escaping()


@functools.lru_cache(maxsize=512)
def _checked(template: str) -> str:
    if not isinstance(template, str):
        raise TypeError(f"an HTML template is a str literal, not {type(template).__name__}")
    if "{" in template.replace("{{", "") and _UNSAFE_SLOT.search(template):
        raise ValueError(f"placeholder in a script, style or event handler: {template[:80]!r}")
    return template


def html(template: str, *args: Any, **kwargs: Any) -> Html:
    """Fill a literal HTML ``template`` (``str.format`` syntax); every value is escaped
    (after its format spec) unless it is :class:`Html`."""
    return Html(_FORMATTER.vformat(_checked(template), args, kwargs), _KEY)


def trusted(literal: str) -> Html:
    """The report's own markup (a string literal in this package: styles, scripts)."""
    if not isinstance(literal, str):
        raise TypeError("trusted() takes a string literal")
    return Html(literal, _KEY)


def join(parts: Iterable[Html | Any], separator: Html = EMPTY) -> Html:
    """Parts joined; parts that are not :class:`Html` are escaped."""
    return Html(str(separator).join(str(escape(p)) for p in parts), _KEY)


def json_script(data: Any, element_id: str) -> Html:
    """``data`` as JSON inside ``<script type="application/json">``: ``<``, ``>``, ``&``
    and the line separators U+2028/2029 written as ``\\uXXXX``, so no string in it can
    end the element or open a comment."""
    text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return (trusted('<script type="application/json" id="') + escape(element_id)
            + trusted('">') + Html(text, _KEY) + trusted("</script>"))


def table(rows: Iterable[Iterable[Any]], header: Iterable[Any] | None = None) -> Html:
    """A table; cells that are not :class:`Html` are escaped."""
    head = (html("<tr>{}</tr>", join(html("<th>{}</th>", h) for h in header))
            if header else EMPTY)
    body = join(html("<tr>{}</tr>", join(html("<td>{}</td>", c) for c in row)) for row in rows)
    return html("<table>{}{}</table>", head, body)


def render(page: Html) -> str:
    """The page's text; only :class:`Html` is written out."""
    if not isinstance(page, Html):
        raise TypeError(f"the report page must be Html, not {type(page).__name__}")
    return str(page)
