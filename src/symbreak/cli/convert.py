"""``symbreak convert IN OUT``: re-save data as zarr or EMD HDF5, optionally cropped and
binned, streaming chunk by chunk with a progress bar."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..io.overrides import add_calibration_options, add_input_options
    from ._cluster import add_cluster_options

    parser = subparsers.add_parser(
        "convert", help="convert a data file to zarr or EMD HDF5 (crop, bin, rechunk)",
        description="Convert any file symbreak reads to zarr (.zarr, default) or EMD 1.0 "
        "HDF5 (.h5/.emd, readable by py4DSTEM), streaming chunk by chunk. Crops apply "
        "before binning.")
    parser.add_argument("input", help="data file or zarr store to read")
    parser.add_argument("output", help="output path: .zarr or .h5/.emd")
    add_input_options(parser)
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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_calibration_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import SettingsError
    from ..io import load
    from ..io.atomic import check_output
    from ..io.ops import bin_detector, crop, parse_crop
    from ..io.overrides import calibration_overrides, parse_pair
    from ..io.registry import writer_for
    from ..io.stream import write_output
    from ._cluster import cluster_from_args

    writer_for(Path(args.output))
    check_output(args.output, args.overwrite)
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
    scan_shape = tuple(int(v) for v in parse_pair(args.scan_shape)) if args.scan_shape else None
    data = load(args.input, dataset=args.dataset, format=args.format,
                allow_external=args.allow_external, scan_shape=scan_shape,
                **calibration_overrides(args))
    if crops:
        data = crop(data, crops.get("scan"), crops.get("detector"))
    data = bin_detector(data, args.bin)
    with cluster_from_args(args):
        out = write_output(data, args.output, chunks=chunks, overwrite=args.overwrite,
                           resume=args.resume, progress=False if args.no_progress else None,
                           what="convert")
    print(f"wrote {out}: shape {data.shape}, dtype {data.dtype}")
    return 0
