"""``symbreak analyze DATA --out DIR``: virtual images, COM, PCA and the rrVAE, with an
HTML report.

Analyse a 4D-STEM file: virtual images, COM maps, PCA and the rotationally invariant
VAE. Writes DIR/results.zarr, DIR/model/, DIR/settings.toml and DIR/report.html. Options
override --config, which overrides the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..analysis.settings import SECTIONS
from .options import add_settings_options, given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ._cluster import add_cluster_options
    from ._fit_quality import add_strict_option
    from .common import add_input_options, add_output_options

    add_input_options(parser, help="4D-STEM file (any format symbreak load reads)")
    add_output_options(parser, help="output folder (new or empty)", what="earlier results")
    parser.add_argument("--config", help="settings file (.toml, .yaml); see DIR/settings.toml")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_strict_option(parser)
    add_cluster_options(parser)
    for section, cls in SECTIONS.items():
        add_settings_options(parser, cls, title=f"{section} settings")


def settings_options(args: argparse.Namespace) -> dict[str, Any]:
    """The analysis settings given on the command line, checked."""
    return {name: value for cls in SECTIONS.values() for name, value in given(args, cls).items()}


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze
    from ..io import load
    from ..reporting import report
    from ._fit_quality import print_fit_quality
    from .common import input_spec

    options = settings_options(args)
    spec = input_spec(args)
    # The file is opened here, with the input options; analyze() checksums a Dataset4D
    # whose source is a file as that file and describes it by its (absolute) path.
    data = load(dataclasses.replace(spec, path=Path(spec.path).expanduser().resolve()))
    analyze(data, out=args.out, settings=args.config, resume=args.resume, overwrite=args.overwrite,
            progress=False if args.quiet else None, scheduler=args.scheduler,
            workers=args.workers, memory_budget=args.memory_budget, **options)
    print(f"results: {args.out}/results.zarr")
    if not args.no_report:
        print(f"report:  {report(args.out)}")
    return print_fit_quality(args.out, args.strict)

