"""``symbreak convert IN OUT``: convert a data file to zarr, EMD HDF5 or HyperSpy HDF5 (crop,
bin, rechunk).

Convert any file symbreak reads to zarr (.zarr, default), EMD 1.0 HDF5 (.h5/.emd,
readable by py4DSTEM) or HyperSpy HDF5 (.hspy, opened by hs.load), streaming chunk by
chunk. Crops apply before binning.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..io.convert_settings import ConvertSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..io.convert_settings import ConvertSettings
    from ._cluster import add_cluster_options
    from .common import add_input_options, add_progress_option
    from .options import add_settings_options

    add_input_options(parser, metavar="INPUT", help="data file or zarr store to read")
    parser.add_argument("output", help="output path: .zarr, .h5/.emd or .hspy")
    add_cluster_options(parser)
    add_settings_options(parser, ConvertSettings, title="conversion")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted conversion to .zarr (same input and "
                        "options); the chunks already written are kept")
    add_progress_option(parser)


def convert_settings(args: argparse.Namespace) -> ConvertSettings:
    """The crop, binning and chunks the command line gives, checked."""
    from ..io.convert_settings import ConvertSettings
    from .options import given

    return ConvertSettings(**given(args, ConvertSettings))


def run(args: argparse.Namespace) -> int:
    from ..storage.atomic import check_output
    from ..io.ops import bin_detector, crop
    from ..io.registry import writer_for
    from ..io.stream import write_output
    from ._cluster import cluster_from_args
    from .common import open_input

    writer_for(Path(args.output))
    check_output(args.output, args.overwrite, inputs=[args.data])
    settings = convert_settings(args)
    crops = settings.crops()
    data = open_input(args)
    if crops:
        data = crop(data, crops.get("scan"), crops.get("detector"))
    data = bin_detector(data, settings.bin)
    with cluster_from_args(args):
        out = write_output(data, args.output, chunks=settings.chunks, overwrite=args.overwrite,
                           resume=args.resume, progress=args.progress,
                           what="convert")
    print(f"wrote {out}: shape {data.shape}, dtype {data.dtype}")
    return 0
