"""``symbreak convert IN OUT``: convert a data file to zarr, EMD HDF5 or HyperSpy HDF5 (crop,
bin, rechunk).

Convert any file symbreak reads to zarr (.zarr, default), EMD 1.0 HDF5 (.h5/.emd,
readable by py4DSTEM) or HyperSpy HDF5 (.hspy, opened by hs.load), streaming chunk by
chunk. Crops apply before binning.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ._cluster import add_cluster_options
    from .common import add_input_options, add_progress_option

    add_input_options(parser, metavar="INPUT", help="data file or zarr store to read")
    parser.add_argument("output", help="output path: .zarr, .h5/.emd or .hspy")
    add_cluster_options(parser)
    parser.add_argument("--chunks", metavar="SY,SX,KY,KX",
                        help="output chunk shape (-1 = whole axis); default: whole patterns "
                        "within the memory budget")
    parser.add_argument("--crop", action="append", default=[], metavar="WHERE=Y0:Y1,X0:X1",
                        help="crop 'scan=Y0:Y1,X0:X1' and/or 'detector=KY0:KY1,KX0:KX1' "
                        "(pixels, end exclusive, empty = edge); repeat for both")
    parser.add_argument("--bin", type=int, default=1, metavar="N",
                        help="sum N x N detector pixels (edges that do not fill a bin are dropped)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted conversion to .zarr (same input and "
                        "options); the chunks already written are kept")
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    from ..errors import SettingsError
    from ..storage.atomic import check_output
    from ..io.ops import bin_detector, crop, parse_crop
    from ..io.registry import writer_for
    from ..io.stream import write_output
    from ._cluster import cluster_from_args
    from .common import open_input

    writer_for(Path(args.output))
    check_output(args.output, args.overwrite, inputs=[args.data])
    crops = dict(parse_crop(c) for c in args.crop)
    if len(crops) != len(args.crop):
        raise SettingsError("give --crop at most once for scan and once for detector")
    chunks = None
    if args.chunks:
        try:
            chunks = tuple(int(c) for c in args.chunks.split(","))
        except ValueError:
            raise SettingsError(f"cannot read --chunks {args.chunks!r}; write 4 integers "
                                "SY,SX,KY,KX, e.g. 4,64,256,256") from None
    data = open_input(args)
    if crops:
        data = crop(data, crops.get("scan"), crops.get("detector"))
    data = bin_detector(data, args.bin)
    with cluster_from_args(args):
        out = write_output(data, args.output, chunks=chunks, overwrite=args.overwrite,
                           resume=args.resume, progress=args.progress,
                           what="convert")
    print(f"wrote {out}: shape {data.shape}, dtype {data.dtype}")
    return 0
