"""The ``symbreak`` command. Thin: parses arguments, calls the API, shows progress.

Each sub-command lives in its own module ``symbreak.cli.<name>`` exposing
``add_arguments(parser)`` and ``run(args) -> exit status``; its docstring is its help
(first line: ``usage``: summary for ``symbreak --help``; the rest: the description).
Options of settings are generated from the settings dataclasses
(:mod:`symbreak.cli.options`), the input options from
:class:`~symbreak.io.spec.InputSpec` (:mod:`symbreak.cli.common`). Heavy libraries are
imported inside ``run`` so that ``symbreak --help`` stays instant. Error messages are
written in API words (``overwrite=True``) and shown in command-line words
(``--overwrite``) by :func:`symbreak.cli.words.cli_words`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import io
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

from .. import __version__
from ..errors import SymbreakError
from ..storage.safe_output import describe_disk_error, disk_error, display, install_kill_hook
from .options import Parser
from .words import cli_words

COMMANDS = (
    "info", "convert", "simulate", "com", "virtual", "decompose", "preprocess",
    "train", "encode", "analyze", "report", "demo", "reproduce",
)

ALIASES = {"analyze": ["analyse"]}  # British spelling, as the help text is written


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="symbreak",
        description="Find atomic-scale symmetry breaking in 4D-STEM data: rotationally "
        "invariant VAE, COM/DPC, virtual detectors, PCA/NMF, abTEM simulations.",
    )
    parser.add_argument("--version", action="version", version=f"symbreak {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if importlib.util.find_spec(f"symbreak.cli.{name}") is None:
            continue
        module = importlib.import_module(f"symbreak.cli.{name}")
        summary, description = describe(module.__doc__)
        command = sub.add_parser(name, help=summary, description=description,
                                 aliases=ALIASES.get(name, []))
        module.add_arguments(command)
        command.set_defaults(func=module.run, parser=command)
    return parser


def describe(doc: str) -> tuple[str, str]:
    """(summary, description) of a command from its module docstring."""
    first, _, rest = doc.strip().partition("\n\n")
    summary = " ".join(first.split()).split("``: ", 1)[-1].rstrip(".")
    return summary, " ".join(rest.split())


def _printable_streams() -> None:
    """Let stdout and stderr print file names that are not UTF-8 (kept as surrogate
    escapes by Python) instead of failing after the work is done: stdout writes the
    name's own bytes, stderr ``\\xNN`` escapes."""
    for stream, errors in ((sys.stdout, "surrogateescape"), (sys.stderr, "backslashreplace")):
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors=errors)


@contextlib.contextmanager
def _one_line_warnings(debug: bool) -> Iterator[None]:
    """Warnings as one line each (``symbreak: warning: ...``), without the library's
    source path and line; ``--debug`` keeps Python's format."""
    if debug:
        yield
        return
    original = warnings.formatwarning

    def one_line(message: Any, category: Any, *args: Any, **kwargs: Any) -> str:
        text = " ".join(str(message).split())
        return f"symbreak: warning: {display(text)}\n"

    warnings.formatwarning = one_line
    try:
        yield
    finally:
        warnings.formatwarning = original


def main(argv: list[str] | None = None) -> int:
    _printable_streams()
    install_kill_hook()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        status = _run(args)
    except Exception as exc:  # a full disk or a denied write inside a library's error
        error = disk_error(exc)
        if error is None:
            raise
        if args.debug:
            traceback.print_exc()
        print(f"symbreak {args.command}: error: {describe_disk_error(error)}", file=sys.stderr)
        status = 1
    if status != 0 and argv is None and not args.debug:
        _quiet_exit(status)
    return status


def _quiet_exit(status: int) -> None:
    """End the command after its one-line error without the interpreter's shutdown, where
    reads still running in library threads (zarr's event loop, a decompressor) would
    print pages of "Event loop is closed" tracebacks or crash. Every output is closed
    or removed by now; only the command line (``argv`` None) exits this way."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _run(args: argparse.Namespace) -> int:
    try:
        with _one_line_warnings(args.debug):
            return int(args.func(args) or 0)
    except SymbreakError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"symbreak {args.command}: error: {cli_words(error_text(exc), args.parser)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"symbreak {args.command}: interrupted; nothing was written under the final "
              "name (zarr writes and training keep their progress for --resume)",
              file=sys.stderr)
        return 130
    except (OSError, MemoryError) as exc:
        if disk_error(exc) is not None:
            raise
        if args.debug:
            traceback.print_exc()
        print(f"symbreak {args.command}: error: {display(error_text(exc))}", file=sys.stderr)
        return 1


def error_text(exc: BaseException) -> str:
    """The one line shown for ``exc``: its message, never empty. Running out of memory
    says so and what to lower (numpy's MemoryError names the array; a failed allocation
    inside a library has no message at all); any other empty message names the
    exception's type."""
    text = " ".join(str(exc).split())
    if isinstance(exc, MemoryError):
        detail = f" ({text})" if text else ""
        return (f"out of memory (MemoryError){detail}; lower $SYMBREAK_MEMORY_BUDGET or "
                "--memory-budget where the command has it, or give smaller sizes (scan, "
                "detector pixels, grid, batch), or run where more memory is free")
    return text or f"{type(exc).__name__} (no message); run again with --debug for details"
