"""``symbreak encode DATA --model MODEL_DIR --out PATH.zarr``: latent angle / content maps
from a trained rotationally invariant VAE.

Encode patterns with a model written by `symbreak train` or `analyze` and save the
latent maps (angle, content, sds, reconstruction error) as zarr. A 4D-STEM file that is not
preprocessed yet is preprocessed as the model's training data were.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..vae.parameters import VAEParameters
    from ._fit_quality import add_strict_option
    from .common import add_input_options, add_output_options
    from .options import add_settings_options

    add_input_options(parser, help="data file (any format symbreak.load reads, or .npy)")
    parser.add_argument("--model", required=True, help="model folder from `symbreak train`")
    add_output_options(parser, help="output .zarr store", what="an existing --out")
    add_settings_options(parser, VAEParameters, only=("device",))
    parser.add_argument("--no-preprocess", dest="preprocess", action="store_false",
                        help="encode the patterns as they are, not preprocessed as the "
                        "model's training data were")
    add_strict_option(parser)


def run(args: argparse.Namespace) -> int:
    from .common import guarded_output

    with guarded_output(args, "encode"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from symbreak.cli.train import describe, load_patterns, prepared_patterns
    from symbreak.classical.results import save_results
    from symbreak.storage.atomic import check_output
    from symbreak.vae import RotationalVAE, diagnostics_dict
    from symbreak.vae.parameters import VAEParameters

    from ._fit_quality import report_fit
    from .common import input_spec
    from .options import given

    spec = input_spec(args)
    check_output(args.out, args.overwrite)
    data, now = load_patterns(spec), None
    model = RotationalVAE.load(args.model, **given(args, VAEParameters))
    used = (getattr(model, "extra_", None) or {}).get("preprocessing")
    if used:  # models trained before preprocessing was recorded: the data as they are
        data, now = prepared_patterns(data, args, used)
    if now is not None:
        print(f"patterns preprocessed as the model's training data were ({describe(now)})")
    latents = model.transform(data)
    latents.attrs["model_path"] = str(args.model)
    diag = getattr(model, "diagnostics_", None)
    if diag is not None:
        latents.attrs["fit_verdict"] = diag.verdict
        latents.attrs["fit_diagnostics"] = json.dumps(diagnostics_dict(diag))
    save_results(latents, args.out, overwrite=args.overwrite)
    print(f"encoded {latents.latent_angle.size} patterns; latents saved to {args.out}")
    return report_fit(model, args.strict)
