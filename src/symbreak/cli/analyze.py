"""``symbreak analyze DATA --out DIR``: every map and the HTML report in one command."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from ..settings import SECTIONS
from ..io.overrides import add_calibration_options, calibration_overrides
from ._cluster import add_cluster_options

HELP = {
    "crop": "side of the window cut around the mean pattern's centre [px] (default: 1.16 x "
            "the bright-field disk diameter, the paper's 78 px for a 67 px disk)",
    "bin": "bin the detector by this integer factor (after cropping)",
    "resize": "resample patterns to this side [px] (bicubic)",
    "subtract_mean": "subtract the mean pattern (default: on)",
    "normalize": "min-max normalise the stack to [0, 1] (default: on)",
    "denoise": "PCA denoising before the rrVAE (the paper's experimental recipe)",
    "denoise_components": "PCA components fitted for denoising (default 20)",
    "denoise_keep": "leading components kept when denoising (default 13)",
    "bf": "bright-field detector INNER OUTER (default: 0, semi-angle)",
    "adf": "annular dark-field detector INNER OUTER (default: 1.5, 3 x semi-angle)",
    "detector_units": "units of --bf/--adf: mrad or px (default: mrad when calibrated)",
    "com_threshold": "pixels below this value [counts] count as 0 in the COM (0 ignores "
    "negative values)",
    "com_reference": "COM measured from the mean pattern's COM ('mean') or the detector "
                     "centre ('center')",
    "pca_components": "number of PCA components (default 6)",
    "latent_dim": "number of rrVAE content latents (default 2)",
    "recipe": "rrVAE recipe: default (fast) or paper (as published)",
    "epochs": "rrVAE training epochs (default: the recipe's)",
    "seed": "random seed of the rrVAE (default 0)",
    "manifold_size": "side of the decoded manifold grid (default 9)",
    "max_time": "stop rrVAE training after this many seconds (default: no limit)",
}
def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per analysis setting, every default None (= from the config or data)."""
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} settings")
        for field in dataclasses.fields(cls):
            flag = "--" + field.name.replace("_", "-")
            kind = type(field.default) if field.default is not None else None
            if field.name in ("bf", "adf"):
                group.add_argument(flag, nargs=2, type=float, metavar=("INNER", "OUTER"),
                                   default=None, help=HELP[field.name])
            elif kind is bool:
                group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                                   help=HELP[field.name])
            elif field.name in ("max_time", "com_threshold"):
                group.add_argument(flag, type=float, default=None, help=HELP[field.name])
            elif field.name in ("recipe", "com_reference", "detector_units"):
                group.add_argument(flag, default=None, help=HELP[field.name])
            else:
                group.add_argument(flag, type=int, default=None, help=HELP[field.name])


def settings_options(args: argparse.Namespace) -> dict[str, Any]:
    """The analysis options given on the command line."""
    names = [f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)]
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="virtual images, COM, PCA and the rrVAE, with an HTML report",
        description="Analyse a 4D-STEM file: virtual images, COM maps, PCA and the "
        "rotationally invariant VAE. Writes DIR/results.zarr, DIR/model/, DIR/settings.toml "
        "and DIR/report.html. Options override --config, which overrides the defaults.",
    )
    parser.add_argument("data", help="4D-STEM file (any format symbreak load reads)")
    parser.add_argument("--out", required=True, help="output folder (new or empty)")
    parser.add_argument("--config", help="settings file (.toml, .yaml); see DIR/settings.toml")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_cluster_options(parser)
    add_calibration_options(parser)
    add_settings_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze
    from ..reporting import report

    calibration = calibration_overrides(args)
    progress = False if args.quiet else None
    analyze(args.data, out=args.out, settings=args.config, calibration=calibration,
            resume=args.resume, overwrite=args.overwrite, progress=progress,
            scheduler=args.scheduler, workers=args.workers, memory_budget=args.memory_budget,
            **settings_options(args))
    print(f"results: {args.out}/results.zarr")
    if not args.no_report:
        print(f"report:  {report(args.out)}")
    return 0
