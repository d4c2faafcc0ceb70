"""``symbreak virtual DATA --out PATH.zarr --detector bf:0:32 ...``: virtual bright-field /
ABF / ADF / HAADF images in one pass.

Virtual detector images: annuli inner <= r < outer around the detector centre
(calibrated, given, or the COM of the mean pattern), all computed in one pass over the
data. Without --detector: BF, ABF, ADF, HAADF from the semiangle.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..classical.settings import VirtualImagesSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..classical.settings import VirtualImagesSettings
    from ._classical import add_data_options
    from .options import add_settings_options

    add_data_options(parser)
    add_settings_options(parser, VirtualImagesSettings, title="virtual detectors")


def virtual_settings(args: argparse.Namespace) -> VirtualImagesSettings:
    """The :func:`~symbreak.classical.virtual_images` settings the command line gives,
    checked."""
    from ..classical.settings import VirtualImagesSettings
    from .options import given

    return VirtualImagesSettings(**given(args, VirtualImagesSettings))


def run(args: argparse.Namespace) -> int:
    from .common import guarded_output

    with guarded_output(args, "virtual"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..classical import save_results, virtual_images
    from ..classical.settings import keywords
    from .common import open_input
    from ._cluster import cluster_from_args

    options = keywords(virtual_settings(args))
    if options["detectors"] is not None:
        options["detectors"] = dict(options["detectors"])
    data = open_input(args, args.out)
    with cluster_from_args(args):
        result = virtual_images(data, **options, memory_budget=args.memory_budget,
                                progress=args.progress)
    save_results(result, args.out, overwrite=args.overwrite)
    print(f"virtual images {', '.join(result.data_vars)} -> {args.out}")
    return 0
