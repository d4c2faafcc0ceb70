"""Error messages in command-line words.

The library writes its errors in API words (``pass overwrite=True``); the command line
shows them with its options (``pass --overwrite``). A keyword is translated only where the
command has the matching option, so messages about other things are left alone.
"""

from __future__ import annotations

import argparse
import re

_KEYWORD = re.compile(r"\b([a-z][a-z0-9_]*)=([^\s,;()]+)")


def cli_words(message: str, parser: argparse.ArgumentParser | None) -> str:
    """``message`` with ``name=VALUE`` written as the command's ``--name VALUE``.

    ``name=True`` becomes ``--name``, ``name=False`` ``--no-name`` (where those options
    exist); a restatement in brackets after it (``(--overwrite)``) is dropped.
    """
    if parser is None:
        return message
    flags = {s for action in parser._actions for s in action.option_strings}

    def option(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        flag = "--" + name.replace("_", "-")
        if value == "True" and flag in flags:
            return flag
        if value == "False" and "--no-" + flag[2:] in flags:
            return "--no-" + flag[2:]
        if value not in ("True", "False") and flag in flags:
            return f"{flag} {value}"
        return match.group(0)

    text = _KEYWORD.sub(option, message)
    # "--overwrite (--overwrite on the command line)" -> "--overwrite"
    text = re.sub(r"(--[\w-]+)((?: [^\s()]+)?) \(\1\b[^)]*\)", r"\1\2", text)
    # "--resume (--resume)" written CLI-first in older messages
    return re.sub(r"(--[\w-]+) \(\1\)", r"\1", text)
