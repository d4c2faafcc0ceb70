"""``symbreak virtual DATA --out PATH.zarr --detector bf:0:32 ...``: virtual bright-field /
ABF / ADF / HAADF images in one pass.

Virtual detector images: annuli inner <= r < outer around the detector centre
(calibrated, given, or the COM of the mean pattern), all computed in one pass over the
data. Without --detector: BF, ABF, ADF, HAADF from the semiangle.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ._classical import add_data_options

    add_data_options(parser)
    parser.add_argument("--detector", action="append", metavar="NAME:INNER:OUTER",
                        help="a detector (repeatable); OUTER may be inf")
    parser.add_argument("--units", choices=("mrad", "px", "1/A"), default="mrad",
                        help="units of the radii (default mrad)")
    parser.add_argument("--center", metavar="KY,KX", help="detector centre [px]")
    parser.add_argument("--shifts", choices=("com",),
                        help="move the detector with each pattern's COM (descan)")


def parse_detector(text: str) -> tuple[str, tuple[float, float]]:
    """``NAME:INNER:OUTER`` -> (name, (inner, outer))."""
    from ..errors import SettingsError

    parts = text.split(":")
    try:
        if len(parts) != 3 or not parts[0]:
            raise ValueError
        return parts[0], (float(parts[1]), float(parts[2]))
    except ValueError:
        raise SettingsError(f"cannot read detector {text!r}; write NAME:INNER:OUTER, e.g. "
                            "bf:0:32 or haadf:80:inf") from None


def run(args: argparse.Namespace) -> int:
    from .common import guarded_output

    with guarded_output(args, "virtual"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..classical import save_results, virtual_images
    from ..quantities import parse_pair
    from .common import open_input
    from ._cluster import cluster_from_args

    detectors = dict(parse_detector(d) for d in args.detector) if args.detector else None
    data = open_input(args, args.out)
    with cluster_from_args(args):
        result = virtual_images(data, detectors, units=args.units,
                                center=parse_pair(args.center) if args.center else None,
                                shifts=args.shifts, memory_budget=args.memory_budget,
                                progress=args.progress)
    save_results(result, args.out, overwrite=args.overwrite)
    print(f"virtual images {', '.join(result.data_vars)} -> {args.out}")
    return 0
