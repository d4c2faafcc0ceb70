"""Paths as symbreak shows and compares them."""

from __future__ import annotations

import os
from pathlib import Path


def display(path: str | os.PathLike) -> str:
    """``path`` as printable text: bytes that are not UTF-8 (a file name from another
    system) are shown as ``\\xff`` escapes instead of failing the print."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def absolute(path: str | os.PathLike) -> Path:
    """``path`` made absolute (``~`` expanded, ``.`` and ``..`` folded), links kept."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
