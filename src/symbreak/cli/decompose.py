"""``symbreak decompose DATA --out PATH.zarr --method pca -n 10``: PCA or NMF of the
patterns (scores maps, component patterns).

PCA (mean subtracted) or NMF of the diffraction patterns; in memory when the data fit
the memory budget, else incremental PCA / streamed NMF that never hold the data set.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ._classical import add_data_options

    add_data_options(parser)
    parser.add_argument("--method", choices=("pca", "nmf"), default="pca")
    parser.add_argument("-n", "--n-components", type=int, default=10)
    parser.add_argument("--incremental", action=argparse.BooleanOptionalAction, default=None,
                        help="force out-of-core (or in-memory) fitting; default by budget")
    parser.add_argument("--seed", type=int, default=0, help="random state")
    parser.add_argument("--max-iter", type=int, default=200,
                        help="most passes over the data for out-of-core NMF")


def run(args: argparse.Namespace) -> int:
    from .common import guarded_output

    with guarded_output(args, "decompose"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..classical import decompose, save_results
    from .common import open_input
    from ._cluster import cluster_from_args

    data = open_input(args, args.out)
    with cluster_from_args(args):
        result = decompose(data, args.method, args.n_components, incremental=args.incremental,
                           random_state=args.seed, max_iter=args.max_iter,
                           memory_budget=args.memory_budget, progress=args.progress)
    save_results(result, args.out, overwrite=args.overwrite)
    print(f"{args.method.upper()} with {args.n_components} components -> {args.out}")
    return 0
