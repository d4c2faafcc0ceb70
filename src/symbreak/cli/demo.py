"""``symbreak demo``: simulate graphene with a vacancy, analyse it, write the report."""

from __future__ import annotations

import argparse
from typing import Any

PRESET = "graphene-vacancy"
VAE_EPOCHS = 100  # an epoch budget (with early stopping), never wall time: the same
                  # command gives the same numbers on any machine of the same kind


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="simulate graphene with a vacancy, analyse it, show the report",
        description="Simulate the graphene-vacancy preset with abTEM, run symbreak analyze "
        "on it and print where the HTML report is (a few minutes on a laptop CPU).",
    )
    parser.add_argument("--out", default="symbreak-demo", help="output folder (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, default=VAE_EPOCHS,
                        help="rrVAE epoch budget, with early stopping (default %(default)s)")
    parser.add_argument("--max-time", type=float, default=None,
                        help="also stop rrVAE training after this many seconds (opt-in; "
                        "makes the result depend on the machine's speed)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 3 when the rrVAE fit is judged failed")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run_demo(out: str, *, overwrite: bool = False, seed: int = 0, epochs: int | None = VAE_EPOCHS,
             max_time: float | None = None, progress: bool | None = None) -> Any:
    """Simulate, analyse and report; returns the path of the HTML page."""
    from .. import analyze, report, simulate

    data = simulate(PRESET, seed=seed)
    analyze(data, out=out, overwrite=overwrite, progress=progress, seed=seed, epochs=epochs,
            max_time=max_time)
    return report(out)


def run(args: argparse.Namespace) -> int:
    from ._fit_quality import print_fit_quality

    page = run_demo(args.out, overwrite=args.overwrite, seed=args.seed, epochs=args.epochs,
                    max_time=args.max_time, progress=False if args.quiet else None)
    status = print_fit_quality(args.out, args.strict)
    print(f"report: {page}")
    print(f"open it with a browser, e.g. xdg-open {page}")
    return status
