"""``symbreak reproduce SET...``: the paper's analyses on simulated sets, scored against
ground truth.

Simulate each set, run symbreak analyze on it, and write a table of numbers against the
simulation's ground truth: rrVAE angle vs COM angle (circular correlation), defect and
Zn/S-site (hBN: N/B-site) ROC-AUC of each map.
"""

from __future__ import annotations

import argparse
from typing import Any

SETS = ("graphene-cell", "graphene-perfect", "graphene-vacancy", "graphene-si",
        "graphene-vacancy-si", "zns-110")
HARD_SETS = ("graphene-n", "graphene-b", "hbn-perfect", "hbn-c", "hbn-vacancy")


def parse_seeds(text: str) -> list[int]:
    """``0,1,2`` -> [0, 1, 2]: non-negative integers, each once."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of seeds; write e.g. --seeds 0,1,2") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"{text!r}: seeds must be non-negative and each given once, e.g. --seeds 0,1,2")
    return seeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..analysis.settings import VAESettings
    from ..simulation.settings import SimulationSettings
    from ._fit_quality import add_strict_option
    from .common import add_output_options
    from .options import add_settings_options

    parser.add_argument("sets", nargs="*", default=list(SETS),
                        metavar="SET", help=f"data sets (default: all of {', '.join(SETS)}; "
                        f"the hard cases only when named: {', '.join(HARD_SETS)})")
    add_output_options(parser, help="output folder", required=False, what="earlier results")
    parser.set_defaults(out="symbreak-reproduce")
    add_settings_options(parser, VAESettings, title="rrVAE of every set",
                         only=("seed", "epochs", "recipe", "max_time"))
    add_settings_options(parser, SimulationSettings, title="simulation of every set",
                         only=("dose",))
    parser.add_argument("--seeds", type=parse_seeds, default=None, metavar="N,N,...",
                        help="run every set for each of these seeds (simulation noise and "
                        "rrVAE) and report mean, sd and range over them, e.g. 0,1,2 "
                        "(instead of --seed)")
    add_strict_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from ..errors import SettingsError
    from ..reproduce.run import full_markdown, reproduce
    from ..reproduce.summary import summarize
    from ..analysis.settings import VAESettings
    from ..simulation.settings import SimulationSettings
    from ._fit_quality import STRICT_EXIT
    from .options import given

    options = given(args, VAESettings)
    dose = given(args, SimulationSettings).get("dose")
    seed = options.pop("seed", None)
    if seed is not None and args.seeds is not None:
        raise SettingsError("give --seed N or --seeds N,N,..., not both")
    rows = reproduce(args.sets or SETS, args.out, seed=seed, seeds=args.seeds,
                     overwrite=args.overwrite, progress=False if args.quiet else None,
                     dose=dose, **options)
    print(full_markdown(rows, summarize(rows)))
    print(f"tables: {args.out}/reproduce.md, .csv, .json; over seeds: "
          f"{args.out}/reproduce-summary.csv, .json")
    failed = [f"{r['set']} (seed {r['seed']})" for r in rows
              if r["metric"] == "fit_verdict" and r["map"] == "failed"]
    if failed:
        print(f"WARNING: the rrVAE fit failed on {', '.join(failed)}; those latent maps are "
              "not a result")
        return STRICT_EXIT if args.strict else 0
    return 0
