"""Options shared by ``symbreak com``, ``virtual`` and ``decompose``."""

from __future__ import annotations

import argparse

from ._cluster import add_cluster_options
from .common import add_input_options, add_output_options, add_progress_option


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """DATA and the input options, --out, --overwrite, budget and dask cluster, progress."""
    add_input_options(parser)
    add_output_options(parser, metavar="PATH.zarr",
                       help="output zarr store (xarray.open_zarr reads it)")
    add_cluster_options(parser)
    add_progress_option(parser)

