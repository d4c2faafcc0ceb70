"""``symbreak demo``: simulate graphene with a vacancy, analyse it, show the report.

Simulate the graphene-vacancy preset with abTEM, run symbreak analyze on it and print
where the HTML report is (a few minutes on a laptop CPU).
"""

from __future__ import annotations

import argparse
from typing import Any

PRESET = "graphene-vacancy"
VAE_SECONDS = 100.0  # keeps `symbreak demo` within a few minutes on a 2-core laptop


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..settings import VAESettings
    from .common import add_output_options
    from .options import add_settings_options

    add_output_options(parser, help="output folder (default: %(default)s)", required=False,
                       what="an earlier demo")
    parser.set_defaults(out="symbreak-demo")
    add_settings_options(parser, VAESettings, only=("seed", "epochs"))
    parser.add_argument("--max-time", type=float, default=VAE_SECONDS,
                        help="stop rrVAE training after this many seconds [s] (default "
                        "%(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_demo(out: str, *, overwrite: bool = False, seed: int = 0, epochs: int | None = None,
             max_time: float | None = VAE_SECONDS, progress: bool | None = None) -> Any:
    """Simulate, analyse and report; returns the path of the HTML page."""
    from .. import analyze, report, simulate

    data = simulate(PRESET, seed=seed)
    analyze(data, out=out, overwrite=overwrite, progress=progress, seed=seed, epochs=epochs,
            max_time=max_time)
    return report(out)


def run(args: argparse.Namespace) -> int:
    from ..settings import VAESettings
    from .options import given

    options = given(args, VAESettings)
    page = run_demo(args.out, overwrite=args.overwrite, seed=options.get("seed", 0),
                    epochs=options.get("epochs"), max_time=args.max_time,
                    progress=False if args.quiet else None)
    print(f"report: {page}")
    print(f"open it with a browser, e.g. xdg-open {page}")
    return 0
