"""Options and data loading shared by ``symbreak com``, ``virtual`` and ``decompose``."""

from __future__ import annotations

import argparse
from typing import Any


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """DATA, --out, --overwrite, reader options, calibration overrides, budget, dask
    cluster, progress."""
    from ..io.overrides import add_calibration_options, add_input_options
    from ._cluster import add_cluster_options

    parser.add_argument("data", metavar="DATA", help="4D-STEM data file or zarr store")
    parser.add_argument("--out", required=True, metavar="PATH.zarr",
                        help="output zarr store (xarray.open_zarr reads it)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_input_options(parser)
    add_cluster_options(parser)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: when stderr is a terminal)")
    add_calibration_options(parser)


def load_data(args: argparse.Namespace) -> Any:
    """Check the output path, then open the data lazily with the calibration overrides."""
    from ..io import load
    from ..io.atomic import check_output
    from ..io.overrides import calibration_overrides, parse_pair

    check_output(args.out, args.overwrite)
    scan_shape = tuple(int(v) for v in parse_pair(args.scan_shape)) if args.scan_shape else None
    return load(args.data, dataset=args.dataset, format=args.format,
                allow_external=args.allow_external, scan_shape=scan_shape,
                **calibration_overrides(args))


def parse_radii(text: str) -> float | tuple[float, float]:
    """``R`` (disk) or ``INNER,OUTER`` (annulus); ``inf`` allowed as outer."""
    from ..errors import SettingsError

    try:
        values = [float(v) for v in str(text).replace(" ", "").split(",")]
    except ValueError:
        raise SettingsError(f"cannot read radii {text!r}; write R or INNER,OUTER") from None
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise SettingsError(f"cannot read radii {text!r}; write R or INNER,OUTER")
