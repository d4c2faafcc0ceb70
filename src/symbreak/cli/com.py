"""``symbreak com DATA --out PATH.zarr``: centre of mass (COM/DPC) of every pattern, with
scan-rotation calibration.

Centre of mass of every diffraction pattern (com_x, com_y, magnitude, angle) measured
from the mean pattern's COM, a calibrated centre or a fitted descan plane; optional mask
and threshold; scan rotation/flip given or found by minimum curl; optional derived maps
(divergence, curl, iCOM, electric field). Conventions: docs/classical.md.
"""

from __future__ import annotations

import argparse

from ._classical import add_data_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    parser.add_argument("--mask", metavar="R|IN,OUT", help="disk radius or annulus radii")
    parser.add_argument("--mask-units", choices=("px", "mrad", "1/A"), default="px")
    parser.add_argument("--threshold", type=float, help="ignore pixels below this intensity")
    parser.add_argument("--reference", choices=("mean", "center", "plane"), default="mean",
                        help="COM origin: mean pattern (default), detector centre, descan plane")
    parser.add_argument("--units", choices=("px", "mrad", "1/A"), default="px")
    parser.add_argument("--rotation", metavar="auto|ANGLE",
                        help="scan rotation: 'auto' (minimum curl), 12deg or radians; default: "
                        "the calibration's")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                        help="scan flip (default: calibration's, or found with --rotation auto)")
    parser.add_argument("--derived", action="store_true",
                        help="add divergence, curl and iCOM maps (and the electric field when "
                        "the COM is in mrad or 1/A and the energy is known)")


def run(args: argparse.Namespace) -> int:
    from .common import guarded_output

    with guarded_output(args, "com"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import math

    from ..classical import com, save_results
    from ..classical.fields import curl, divergence, electric_field, icom
    from ..quantities import parse_angle
    from ._classical import parse_radii
    from .common import open_input
    from ._cluster import cluster_from_args

    data = open_input(args, args.out)
    rotation = args.rotation
    if rotation is not None and rotation != "auto":
        rotation = parse_angle(rotation)
    with cluster_from_args(args):
        result = com(data, mask=parse_radii(args.mask) if args.mask else None,
                     mask_units=args.mask_units, threshold=args.threshold, reference=args.reference,
                     units=args.units, rotation=rotation, flip=args.flip,
                     memory_budget=args.memory_budget, progress=args.progress)
    if args.derived:
        result["divergence"] = divergence(result)
        result["curl"] = curl(result)
        result["icom"] = icom(result)
        if args.units != "px" and data.calibration.energy is not None:
            result = result.merge(electric_field(result))
    save_results(result, args.out, overwrite=args.overwrite)
    print(f"COM of {data.scan_shape[0]} x {data.scan_shape[1]} patterns -> {args.out}; "
          f"scan rotation {math.degrees(result.attrs['scan_rotation']):.2f} deg, flip "
          f"{result.attrs['scan_flip']} ({result.attrs['rotation_source']})")
    return 0
