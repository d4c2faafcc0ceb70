"""``symbreak com DATA --out PATH.zarr``: centre of mass (COM/DPC) of every pattern, with
scan-rotation calibration.

Centre of mass of every diffraction pattern (com_x, com_y, magnitude, angle) measured
from the mean pattern's COM, a calibrated centre or a fitted descan plane; optional mask
and threshold; scan rotation/flip given or found by minimum curl; optional derived maps
(divergence, curl, iCOM, electric field). Conventions: docs/classical.md.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._classical import add_data_options

if TYPE_CHECKING:
    from ..classical.settings import CenterOfMassSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..classical.settings import CenterOfMassSettings
    from .options import add_settings_options

    add_data_options(parser)
    add_settings_options(parser, CenterOfMassSettings, title="centre of mass")
    parser.add_argument("--derived", action="store_true",
                        help="add divergence, curl and iCOM maps (and the electric field when "
                        "the COM is in mrad or 1/A and the energy is known)")


def com_settings(args: argparse.Namespace) -> CenterOfMassSettings:
    """The :func:`~symbreak.classical.com` settings the command line gives, checked."""
    from ..classical.settings import CenterOfMassSettings
    from .options import given

    return CenterOfMassSettings(**given(args, CenterOfMassSettings))


def run(args: argparse.Namespace) -> int:
    from .common import guarded_output

    with guarded_output(args, "com"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import math

    from ..classical import com, save_results
    from ..classical.fields import curl, divergence, electric_field, icom
    from ..classical.settings import keywords
    from .common import open_input
    from ._cluster import cluster_from_args

    settings = com_settings(args)
    data = open_input(args, args.out)
    with cluster_from_args(args):
        result = com(data, **keywords(settings), memory_budget=args.memory_budget,
                     progress=args.progress)
    if args.derived:
        result["divergence"] = divergence(result)
        result["curl"] = curl(result)
        result["icom"] = icom(result)
        if settings.units != "px" and data.calibration.energy is not None:
            result = result.merge(electric_field(result))
    save_results(result, args.out, overwrite=args.overwrite)
    print(f"COM of {data.scan_shape[0]} x {data.scan_shape[1]} patterns -> {args.out}; "
          f"scan rotation {math.degrees(result.attrs['scan_rotation']):.2f} deg, flip "
          f"{result.attrs['scan_flip']} ({result.attrs['rotation_source']})")
    return 0
