"""``symbreak info PATH``: show shape, dtype, chunks, calibration and metadata of a data file.

Describe a 4D-STEM file (any format symbreak reads) without reading its data: format,
shape, dtype, size, chunks, calibration with units and sources, metadata, provenance and
ground truth.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .common import add_input_options

    add_input_options(parser, metavar="PATH", help="data file or zarr store")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from ..io.describe import describe, render
    from .common import open_input

    data = open_input(args)
    summary = describe(data, args.data)
    print(json.dumps(summary, indent=2, default=str) if args.json else render(summary))
    return 0
