"""``symbreak encode DATA --model MODEL_DIR --out PATH.zarr``: latent maps of a data set."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "encode", help="latent angle / content maps from a trained rotationally invariant VAE",
        description="Encode preprocessed patterns with a model written by `symbreak train` "
        "and save the latent maps (angle, content, sds, reconstruction error) as zarr.")
    p.add_argument("data", help="data file (any format symbreak.load reads, or .npy)")
    p.add_argument("--model", required=True, help="model folder from `symbreak train`")
    p.add_argument("--out", required=True, help="output .zarr store")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--strict", action="store_true",
                   help="exit with status 3 when the model's fit was judged failed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symbreak.cli.train import load_patterns
    from symbreak.io.atomic import atomic_output, check_output
    from symbreak.vae import RotationalVAE

    check_output(args.out, args.overwrite)
    model = RotationalVAE.load(args.model, device=args.device)
    latents = model.transform(load_patterns(args.data))
    latents.attrs["model_path"] = str(args.model)
    diag = getattr(model, "diagnostics_", None)
    if diag is not None:
        import json

        from symbreak.vae import diagnostics_dict
        latents.attrs["fit_verdict"] = diag.verdict
        latents.attrs["fit_diagnostics"] = json.dumps(diagnostics_dict(diag))
    with atomic_output(args.out, overwrite=args.overwrite) as tmp:
        latents.to_zarr(tmp, mode="w")
    print(f"encoded {latents.latent_angle.size} patterns; latents saved to {args.out}")
    from symbreak.cli._fit_quality import report_fit
    return report_fit(model, args.strict)
