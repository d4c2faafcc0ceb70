"""``symbreak preprocess IN OUT``: crop, bin, subtract the mean, normalise: the patterns the rrVAE trains on.

Prepare a data file as ``symbreak analyze`` does before PCA and the rrVAE (crop around the
mean pattern's centre of mass, bin, resize, subtract the mean pattern, PCA-denoise,
min-max normalise to [0, 1]) and write it to zarr or EMD HDF5, streaming. The settings are
kept in the file's provenance, so ``symbreak train`` and ``encode`` use it as it is.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..preprocess.settings import PreprocessSettings
    from ._cluster import add_cluster_options
    from .common import add_input_options, add_progress_option
    from .options import add_settings_options

    add_input_options(parser, metavar="INPUT", help="data file or zarr store to read")
    parser.add_argument("output", help="output path: .zarr or .h5/.emd")
    add_settings_options(parser, PreprocessSettings, title="preprocessing")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_cluster_options(parser)
    add_progress_option(parser)


def run(args: argparse.Namespace) -> int:
    from ..storage.atomic import check_output
    from ..io.registry import writer_for
    from ..io.stream import write_output
    from ..preprocess.patterns import preprocess
    from ..preprocess.settings import PreprocessSettings
    from ._cluster import cluster_from_args
    from .common import open_input
    from .options import given

    writer_for(Path(args.output))
    check_output(args.output, args.overwrite)
    data = open_input(args)
    with cluster_from_args(args):
        prepared = preprocess(data, progress=args.progress, **given(args, PreprocessSettings))
        out = write_output(prepared, args.output, overwrite=args.overwrite,
                           progress=args.progress, what="preprocess")
    scan, pattern = prepared.scan_shape, prepared.pattern_shape
    print(f"wrote {out}: {scan[0]} x {scan[1]} patterns of {pattern[0]} x {pattern[1]} px, "
          f"{prepared.dtype}")
    return 0
