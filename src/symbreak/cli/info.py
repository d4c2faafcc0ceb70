"""``symbreak info PATH``: what a 4D-STEM file holds, without reading its data."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..io.overrides import add_calibration_options, add_input_options

    parser = subparsers.add_parser(
        "info", help="show shape, dtype, chunks, calibration and metadata of a data file",
        description="Describe a 4D-STEM file (any format symbreak reads) without reading "
        "its data: format, shape, dtype, size, chunks, calibration with units and sources, "
        "metadata, provenance and ground truth.")
    parser.add_argument("path", help="data file or zarr store")
    add_input_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_calibration_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io import load
    from ..io.describe import describe, render
    from ..io.overrides import calibration_overrides, parse_pair

    scan_shape = tuple(int(v) for v in parse_pair(args.scan_shape)) if args.scan_shape else None
    data = load(args.path, dataset=args.dataset, format=args.format,
                allow_external=args.allow_external, scan_shape=scan_shape,
                **calibration_overrides(args))
    summary = describe(data, args.path)
    print(json.dumps(summary, indent=2, default=str) if args.json else render(summary))
    return 0
