"""``symbreak reproduce SET...``: the paper's analyses on simulated sets, with numbers
against ground truth (markdown, CSV and JSON tables)."""

from __future__ import annotations

import argparse
from typing import Any

SETS = ("graphene-cell", "graphene-vacancy", "graphene-si", "zns-110")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="the paper's analyses on simulated sets, scored against ground truth",
        description="Simulate each set, run symbreak analyze on it, and write a table of "
        "numbers against the simulation's ground truth: rrVAE angle vs COM angle "
        "(circular correlation), defect and Zn/S-site ROC-AUC of each map.",
    )
    parser.add_argument("sets", nargs="*", default=list(SETS),
                        metavar="SET", help=f"data sets (default: all of {', '.join(SETS)})")
    parser.add_argument("--out", default="symbreak-reproduce", help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="rrVAE epochs per set")
    parser.add_argument("--recipe", default=None,
                        help="rrVAE recipe: default (fast) or paper (as published)")
    parser.add_argument("--max-time", type=float, default=None,
                        help="stop each rrVAE training after this many seconds")
    parser.add_argument("--dose", type=float, default=None,
                        help="electron dose [e/Å^2]: Poisson counts (seeded), e.g. 1e5")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 3 when any rrVAE fit is judged failed")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..reproduce import markdown, reproduce

    rows = reproduce(args.sets or SETS, args.out, seed=args.seed, overwrite=args.overwrite,
                     progress=False if args.quiet else None, epochs=args.epochs,
                     max_time=args.max_time, recipe=args.recipe, dose=args.dose)
    print(markdown(rows))
    print(f"tables: {args.out}/reproduce.md, .csv, .json")
    failed = [r["set"] for r in rows if r["metric"] == "fit_verdict" and r["map"] == "failed"]
    if failed:
        print(f"WARNING: the rrVAE fit failed on {', '.join(failed)}; those latent maps are "
              "not a result")
        return 3 if args.strict else 0
    return 0
