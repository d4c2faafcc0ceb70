"""``symbreak reproduce SET...``: the paper's analyses on simulated sets, scored against
ground truth.

Simulate each set, run symbreak analyze on it, and write a table of numbers against the
simulation's ground truth: rrVAE angle vs COM angle (circular correlation), defect and
Zn/S-site ROC-AUC of each map.
"""

from __future__ import annotations

import argparse
from typing import Any

SETS = ("graphene-cell", "graphene-vacancy", "graphene-si", "zns-110")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..settings import VAESettings
    from ..simulation.settings import SimulationSettings
    from ._fit_quality import add_strict_option
    from .common import add_output_options
    from .options import add_settings_options

    parser.add_argument("sets", nargs="*", default=list(SETS),
                        metavar="SET", help=f"data sets (default: all of {', '.join(SETS)})")
    add_output_options(parser, help="output folder", required=False, what="earlier results")
    parser.set_defaults(out="symbreak-reproduce")
    add_settings_options(parser, VAESettings, title="rrVAE of every set",
                         only=("seed", "epochs", "recipe", "max_time"))
    add_settings_options(parser, SimulationSettings, title="simulation of every set",
                         only=("dose",))
    add_strict_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from ..reproduce import markdown, reproduce
    from ..settings import VAESettings
    from ..simulation.settings import SimulationSettings
    from ._fit_quality import STRICT_EXIT
    from .options import given

    options = given(args, VAESettings)
    dose = given(args, SimulationSettings).get("dose")
    rows = reproduce(args.sets or SETS, args.out, seed=options.pop("seed", 0),
                     overwrite=args.overwrite, progress=False if args.quiet else None,
                     dose=dose, **options)
    print(markdown(rows))
    print(f"tables: {args.out}/reproduce.md, .csv, .json")
    failed = [r["set"] for r in rows if r["metric"] == "fit_verdict" and r["map"] == "failed"]
    if failed:
        print(f"WARNING: the rrVAE fit failed on {', '.join(failed)}; those latent maps are "
              "not a result")
        return STRICT_EXIT if args.strict else 0
    return 0
