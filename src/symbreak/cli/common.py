"""Options shared by the commands: the input (file, reader, calibration), the output,
the progress bar. The input options are generated from
:class:`~symbreak.io.spec.InputSpec` and
:class:`~symbreak.io.spec.CalibrationOverrides`, so every command that reads a file
takes the same ``--format``, ``--dataset``, ``--scan-shape NY,NX``, ``--allow-external``,
``--energy 60kV``, ``--semiangle``, ... with the same syntax."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any

from ..io.spec import CalibrationOverrides, InputSpec
from .options import add_settings_options, given


def add_input_options(parser: argparse.ArgumentParser, *, metavar: str = "DATA",
                      help: str = "4D-STEM data file or zarr store") -> None:
    """The input file (positional ``data``), the reader options and the calibration
    overrides."""
    parser.add_argument("data", metavar=metavar, help=help)
    add_settings_options(parser, InputSpec, title="input")
    add_settings_options(parser, CalibrationOverrides,
                         title="calibration (overrides the file's values)")


def input_spec(args: argparse.Namespace) -> InputSpec:
    """The :class:`InputSpec` the input options describe."""
    calibration = CalibrationOverrides(**given(args, CalibrationOverrides))
    return InputSpec(args.data, calibration=calibration, **given(args, InputSpec))


def add_output_options(parser: argparse.ArgumentParser, *, help: str,
                       metavar: str | None = None, required: bool = True,
                       what: str = "an existing output", short: tuple[str, ...] = ()) -> None:
    """``--out`` (and ``short`` aliases such as ``-o``) and ``--overwrite``."""
    parser.add_argument("--out", *short, required=required, metavar=metavar, help=help)
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress`` (default: when stderr is a terminal)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: when stderr is a terminal)")


def open_input(args: argparse.Namespace, out: Any = None) -> Any:
    """Check the output path (``--out``/``--overwrite``) first, then open the input
    lazily as the input options describe."""
    from ..io import load
    from ..storage.atomic import check_output

    spec = input_spec(args)
    if out is not None:
        check_output(out, args.overwrite, inputs=[spec.path])
    return load(spec)


@contextlib.contextmanager
def guarded_output(args: argparse.Namespace, what: str, out: Any = None,
                   lock: bool = True) -> Iterator[None]:
    """Check the command's output (``--out``, or ``out``) against ``--overwrite`` and its
    input, and hold the output's lock for the whole command (``lock=False``: check only,
    for torchrun processes other than rank 0, which write nothing)."""
    from ..storage.safe_output import check_target, writing

    out = args.out if out is None else out
    inputs = [args.data] if getattr(args, "data", None) else []
    if not lock:
        check_target(out, overwrite=args.overwrite, inputs=inputs)
        yield
        return
    with writing(out, what, overwrite=args.overwrite, inputs=inputs):
        yield
