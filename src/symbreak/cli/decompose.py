"""``symbreak decompose DATA --out PATH.zarr --method pca -n 10``: PCA or NMF of the
patterns (scores maps, component patterns).

PCA (mean subtracted) or NMF of the diffraction patterns; in memory when the data fit
the memory budget, else incremental PCA / streamed NMF that never hold the data set.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..classical.settings import DecomposeSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..classical.settings import DecomposeSettings
    from ._classical import add_data_options
    from .options import add_settings_options

    add_data_options(parser)
    add_settings_options(parser, DecomposeSettings, title="decomposition")


def decompose_settings(args: argparse.Namespace) -> DecomposeSettings:
    """The :func:`~symbreak.classical.decompose` settings the command line gives, checked."""
    from ..classical.settings import DecomposeSettings
    from .options import given

    return DecomposeSettings(**given(args, DecomposeSettings))


def run(args: argparse.Namespace) -> int:
    from .common import guarded_output

    with guarded_output(args, "decompose"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..classical import decompose, save_results
    from ..classical.settings import keywords
    from .common import open_input
    from ._cluster import cluster_from_args

    settings = decompose_settings(args)
    data = open_input(args, args.out)
    with cluster_from_args(args):
        result = decompose(data, **keywords(settings), memory_budget=args.memory_budget,
                           progress=args.progress)
    save_results(result, args.out, overwrite=args.overwrite)
    print(f"{settings.method.upper()} with {settings.n_components} components -> {args.out}")
    return 0
