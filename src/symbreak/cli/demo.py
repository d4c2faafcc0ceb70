"""``symbreak demo``: simulate graphene with a vacancy, analyse it, show the report.

Simulate the graphene-vacancy preset with abTEM, run symbreak analyze on it and print
where the HTML report is (a few minutes on a laptop CPU). The rrVAE trains for an epoch
budget of 100 (with early stopping), never for a wall-clock time, so the demo gives the
same numbers on every machine of a kind.
"""

from __future__ import annotations

import argparse
from typing import Any

PRESET = "graphene-vacancy"
OUT = "demo-output"  # the folder `make demo` writes
VAE_EPOCHS = 100  # an epoch budget (with early stopping), never wall time: the same
                  # command gives the same numbers on any machine of the same kind


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..analysis.settings import VAESettings
    from ._fit_quality import add_strict_option
    from .common import add_output_options
    from .options import add_settings_options

    add_output_options(parser, help="output folder (default: %(default)s)", required=False,
                       what="an earlier demo")
    parser.set_defaults(out=OUT)
    add_settings_options(parser, VAESettings, only=("seed", "epochs", "max_time"))
    epochs = next(a for a in parser._actions if a.dest == "epochs")
    epochs.help = f"training epochs (default: {VAE_EPOCHS}, with early stopping)"
    add_strict_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_demo(out: str, *, overwrite: bool = False, seed: int = 0, epochs: int | None = VAE_EPOCHS,
             max_time: float | None = None, progress: bool | None = None) -> Any:
    """Simulate, analyse and report; returns the path of the HTML page."""
    from .. import analyze, report, simulate

    data = simulate(PRESET, seed=seed)
    analyze(data, out=out, overwrite=overwrite, progress=progress, seed=seed, epochs=epochs,
            max_time=max_time)
    return report(out)


def run(args: argparse.Namespace) -> int:
    from ..analysis.settings import VAESettings
    from ._fit_quality import print_fit_quality
    from .options import given

    options = given(args, VAESettings)
    page = run_demo(args.out, overwrite=args.overwrite, seed=options.get("seed", 0),
                    epochs=options.get("epochs", VAE_EPOCHS), max_time=options.get("max_time"),
                    progress=False if args.quiet else None)
    status = print_fit_quality(args.out, args.strict)
    print(f"report: {page}")
    print(f"open it with a browser, e.g. xdg-open {page}")
    return status
