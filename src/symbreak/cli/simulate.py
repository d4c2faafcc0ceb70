"""``symbreak simulate``: simulate 4D-STEM data (graphene, hBN, ZnS, a structure file)
with abTEM.

Simulate a 4D-STEM data set with abTEM and save it with calibration and ground truth.
SYSTEM_OR_PRESET is a preset (see --list), graphene, hbn, zns, or a structure file ASE
can read. Options override the preset's values.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..simulation.settings import SimulationSettings
    from .common import add_output_options, add_progress_option
    from .options import add_settings_options

    parser.add_argument("system", nargs="?", metavar="SYSTEM_OR_PRESET", default=None)
    add_output_options(parser, help="output .zarr or .h5", required=False, short=("-o",))
    parser.add_argument("--list", action="store_true", help="list the presets and exit")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted simulation into a .zarr (same options)")
    add_progress_option(parser)
    group = add_settings_options(parser, SimulationSettings, title="simulation")
    group.add_argument("--scan-cell", action="store_true",
                       help="scan one unit cell, made periodic (first row/column appended)")


def options_from(args: argparse.Namespace) -> dict:
    """The simulate() options given on the command line, checked."""
    from ..simulation.settings import SimulationSettings
    from .options import given

    options = given(args, SimulationSettings)
    if args.scan_cell:
        options["scan_region"] = "cell"
    return options


def run(args: argparse.Namespace) -> int:
    from ..errors import SettingsError
    from ..simulation import describe_presets, simulate

    if args.list:
        for name, summary in describe_presets():
            print(f"{name}\n    {summary}")
        return 0
    if args.system is None or args.out is None:
        raise SettingsError(
            "give SYSTEM_OR_PRESET and --out PATH, e.g. `symbreak simulate graphene-vacancy "
            "--out vacancy.zarr` (`symbreak simulate --list` shows the presets)"
        )
    data = simulate(args.system, out=args.out, overwrite=args.overwrite, resume=args.resume,
                    progress=args.progress, **options_from(args))
    ny, nx, ky, kx = data.shape
    print(f"wrote {args.out}: {ny} x {nx} probes, {ky} x {kx} px", file=sys.stderr)
    return 0
