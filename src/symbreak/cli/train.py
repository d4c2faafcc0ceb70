"""``symbreak train DATA --out MODEL_DIR``: fit a rotationally invariant VAE.

Under ``torchrun --nproc_per_node N -m symbreak train ...`` (or ``torchrun --no-python
symbreak train ...``) the N processes train one model with DistributedDataParallel and only
rank 0 writes the checkpoints and the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a rotationally invariant VAE on preprocessed patterns",
        description="Fit symbreak.RotationalVAE to preprocessed diffraction patterns "
        "(a 4D-STEM file or a .npy stack (n, ky, kx)) and save it as model.safetensors + "
        "config.json. See docs/vae.md.")
    p.add_argument("data", help="data file (any format symbreak.load reads, or .npy)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--recipe", default="default", choices=("default", "paper"))
    p.add_argument("--latent-dim", type=int, default=2, help="content latents (default 2)")
    p.add_argument("--translation", action="store_true", help="add two shift latents")
    p.add_argument("--encoder", choices=("mlp", "conv"), default=None)
    p.add_argument("--decoder", choices=("spatial", "rotate"), default=None)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--likelihood", default="gaussian",
                   choices=("gaussian", "bernoulli", "continuous_bernoulli"))
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--rotation-prior", type=float, default=0.1, help="[rad]")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--max-time", type=float, default=None, help="stop after this many [s]")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--precision", default="auto", choices=("auto", "float32", "bf16", "fp16"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="PyTorch CPU threads (default: 1 for the rotate decoder)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint folder (default: MODEL_DIR.checkpoints beside --out)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--streaming", choices=("auto", "on", "off"), default="auto",
                   help="stream patterns from disk chunk by chunk (auto: when they exceed a "
                   "quarter of the memory budget)")
    p.add_argument("--loader-workers", type=int, default=None,
                   help="DataLoader processes reading chunks ahead while streaming (default 1)")
    p.add_argument("--memory-budget", default=None,
                   help="memory for data, e.g. 4GB or 0.25 (fraction of available memory); "
                   "default $SYMBREAK_MEMORY_BUDGET or 0.25")
    p.add_argument("--restarts", type=int, default=2,
                   help="further attempts from other seeds when a fit collapses into the "
                   "explain-nothing state (default %(default)s)")
    p.add_argument("--no-symmetrize", dest="symmetrize", action="store_false",
                   help="encode with the plain encoder instead of combining the exact "
                   "90-degree turns of each pattern")
    p.add_argument("--strict", action="store_true",
                   help="exit with status 3 when the fit is judged failed")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=run)


def load_patterns(path: str):
    """Patterns from any format symbreak.load reads; a 3-D .npy stack is read directly."""
    import numpy as np

    from symbreak.errors import DataError, SettingsError

    source = Path(path)
    if not source.exists():
        raise SettingsError(f"data file {source} does not exist")
    if source.suffix == ".npy":
        array = np.load(source, mmap_mode="r", allow_pickle=False)
        if array.ndim == 3:
            return array
    try:
        import symbreak
        return symbreak.load(source)
    except (AttributeError, ImportError) as exc:  # I/O layer missing in a partial install
        raise DataError(f"cannot read {source}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from symbreak.budget import budget_scope

    try:
        with budget_scope(args.memory_budget):
            return _train(args)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _train(args: argparse.Namespace) -> int:
    from symbreak.io.atomic import check_output
    from symbreak.vae import RotationalVAE
    from symbreak.vae.parallel import is_main_process

    out = check_output(args.out, args.overwrite)
    checkpoints = args.checkpoint_dir or str(out.with_name(out.name + ".checkpoints"))
    data = load_patterns(args.data)
    model = RotationalVAE(
        latent_dim=args.latent_dim, translation=args.translation, encoder=args.encoder,
        decoder=args.decoder, hidden=args.hidden, likelihood=args.likelihood, beta=args.beta,
        rotation_prior=args.rotation_prior, recipe=args.recipe, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, max_time=args.max_time,
        device=args.device, precision=args.precision, random_state=args.seed,
        checkpoint_dir=checkpoints, progress=args.progress,
        n_threads=args.threads, loader_workers=args.loader_workers,
        streaming={"auto": "auto", "on": True, "off": False}[args.streaming],
        restarts=args.restarts, symmetrize=args.symmetrize)
    model.fit(data, resume=args.resume)
    if not is_main_process():
        return 0
    model.save(out, extra={"data": str(Path(args.data).resolve())}, overwrite=args.overwrite)
    last = model.history_[-1]
    print(f"trained {model.n_epochs_} epochs in {last['time']:.1f} s (stopped: "
          f"{model.stop_reason_}): validation loss {model.best_validation_loss_:.4g} (best); "
          f"model saved to {out}")
    from symbreak.cli._fit_quality import report_fit
    return report_fit(model, args.strict)
