"""symbreak's RotationalVAE against atomai's rVAE on the same data, in the same run.

atomai runs in its own virtual environment, ``.refenvs/atomai`` in the repo (``make
refenvs`` builds it: atomai 0.8.1, six, numpy<2, the CPU torch), as atomai breaks on NumPy
2; atomai's torchvision import is replaced by a stand-in, see the worker).

Measured (printed as ratios, symbreak / atomai):
1. training throughput [patterns/s] with the paper's architecture and settings (MLP 2 x 128
   encoder, spatial decoder, Adam 1e-4, batch 20, rotation only, 2 content latents), for
   symbreak's spatial decoder and for its rotate decoder;
2. wall time until symbreak's default recipe reaches the validation loss (-ELBO per pattern)
   that atomai reaches after its epochs, against atomai's time for those epochs.

Data: rotated, dipole-like synthetic patterns (a disk plus a lobe whose width is the content),
min-max normalised to [0, 1]; the same 85/15 split (train_test_split, seed 0) for both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from symbreak import RotationalVAE

ATOMAI_WORKER = textwrap.dedent("""
    import json, sys, time, types, numpy as np, torch
    # atomai imports torchvision only for pretrained CNN blocks and figure grids, which rVAE
    # training never uses; PyPI's torchvision 0.28 wheel does not load with torch 2.13+cpu,
    # so a stand-in module keeps both sides of the benchmark on the same torch 2.13.0.
    tv = types.ModuleType("torchvision")
    tv.models = types.ModuleType("torchvision.models")
    tv.utils = types.ModuleType("torchvision.utils")
    for name in ("mobilenet_v2", "resnet50", "vgg16"):
        setattr(tv.models, name, None)
    tv.utils.make_grid = None
    sys.modules.update({"torchvision": tv, "torchvision.models": tv.models,
                        "torchvision.utils": tv.utils})
    from atomai.models import rVAE
    torch.set_num_threads(int(sys.argv[4]))
    X = np.load(sys.argv[1]); train = np.load(sys.argv[2]); test = np.load(sys.argv[3])
    epochs = int(sys.argv[5])
    model = rVAE(X.shape[1:], latent_dim=2, translation=False, seed=0,
                 numlayers_encoder=2, numhidden_encoder=128,
                 numlayers_decoder=2, numhidden_decoder=128, skip=False)
    stamps = []
    original = model.print_statistics
    def stamp(e, **kw):
        stamps.append(time.perf_counter())
    model.print_statistics = stamp
    t0 = time.perf_counter()
    model.fit(X[train], X_test=X[test], training_cycles=epochs, batch_size=20, loss="mse",
              rotation_prior=0.1, filename="atomai_model")
    times = [s - t0 for s in stamps]
    print(json.dumps({"times": times, "val_loss": [-v for v in model.loss_history["test_loss"]],
                      "train_loss": [-v for v in model.loss_history["train_loss"]]}))
""")


def dipole_patterns(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Rotated disk + lobe patterns, min-max normalised to [0, 1]."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-np.pi, np.pi, n)[:, None, None]
    width = (0.12 + 0.2 * rng.uniform(0, 1, n))[:, None, None]
    pix = (np.arange(size) - (size - 1) / 2) / ((size - 1) / 2)
    y, x = np.meshgrid(pix, pix, indexing="ij")
    disk = 0.5 * np.exp(-((x ** 2 + y ** 2) / 0.55 ** 2) ** 4)
    lobe = np.exp(-((x - 0.45 * np.cos(angle)) ** 2 + (y - 0.45 * np.sin(angle)) ** 2)
                  / (2 * width ** 2))
    X = disk + lobe
    return ((X - X.min()) / (X.max() - X.min())).astype(np.float32)


def run_atomai(python: str, X: np.ndarray, train: np.ndarray, test: np.ndarray, epochs: int,
               threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for name, arr in (("X", X), ("train", train), ("test", test)):
            np.save(tmp_path / f"{name}.npy", arr)
        (tmp_path / "worker.py").write_text(ATOMAI_WORKER)
        out = subprocess.run([python, "worker.py", "X.npy", "train.npy", "test.npy",
                              str(threads), str(epochs)], cwd=tmp, capture_output=True,
                             text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"atomai run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput(history: list[dict], n_train: int, skip: int = 1) -> float:
    """Patterns per second over the epochs after the first ``skip`` (warm-up)."""
    t = [h["time"] for h in history]
    if len(t) <= skip:
        return n_train * len(t) / t[-1]
    return n_train * (len(t) - skip) / (t[-1] - t[skip - 1])


def time_to(history: list[dict], target: float) -> float | None:
    for h in history:
        if h["val_loss"] <= target:
            return h["time"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096, help="patterns (default 4096)")
    parser.add_argument("--size", type=int, default=64, help="pattern side [px] (default 64)")
    parser.add_argument("--atomai-epochs", type=int, default=20)
    parser.add_argument("--throughput-epochs", type=int, default=3)
    parser.add_argument("--max-time", type=float, default=600.0,
                        help="time limit of symbreak's default recipe [s]")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--atomai-python", default=str(
        Path(__file__).resolve().parents[1] / ".refenvs" / "atomai" / "bin" / "python"))
    parser.add_argument("--quick", action="store_true", help="1024 patterns of 32 x 32")
    args = parser.parse_args()
    if args.quick:
        args.n, args.size = 1024, 32
    torch.set_num_threads(args.threads)
    X = dipole_patterns(args.n, args.size)
    train, test = train_test_split(np.arange(args.n), test_size=0.15, random_state=0)
    n_train = len(train)
    print(f"data: {args.n} patterns of {args.size} x {args.size}, {n_train} for training; "
          f"torch threads {args.threads}; torch {torch.__version__}")

    ref = run_atomai(args.atomai_python, X, train, test, args.atomai_epochs, args.threads)
    ref_hist = [{"time": t, "val_loss": v} for t, v in zip(ref["times"], ref["val_loss"])]
    ref_tp = throughput(ref_hist, n_train)
    target, ref_time = ref["val_loss"][-1], ref["times"][-1]
    print(f"atomai rVAE (paper settings): {ref_tp:.1f} patterns/s; validation loss "
          f"{target:.4g} after {args.atomai_epochs} epochs in {ref_time:.1f} s")

    results = {}
    for decoder in ("spatial", "rotate"):
        model = RotationalVAE(recipe="paper", decoder=decoder, epochs=args.throughput_epochs,
                              n_threads=args.threads).fit(X)
        results[decoder] = throughput(model.history_, n_train)
        k = min(args.throughput_epochs, args.atomai_epochs)
        print(f"symbreak paper recipe, {decoder} decoder: {results[decoder]:.1f} patterns/s "
              f"-> {results[decoder] / ref_tp:.2f}x atomai; validation loss after {k} epochs "
              f"{model.history_[k - 1]['val_loss']:.4g} (atomai {ref['val_loss'][k - 1]:.4g})")

    model = RotationalVAE(max_time=args.max_time, early_stopping=None).fit(X)
    reached = time_to(model.history_, target)
    print(f"symbreak default recipe: best validation loss {model.best_validation_loss_:.4g} "
          f"after {model.n_epochs_} epochs in {model.history_[-1]['time']:.1f} s")
    if reached is None:
        print(f"symbreak default recipe did not reach atomai's {target:.4g} in {args.max_time} s")
    else:
        print(f"symbreak default recipe reached atomai's final validation loss {target:.4g} "
              f"in {reached:.1f} s vs atomai {ref_time:.1f} s -> {ref_time / reached:.1f}x sooner")


if __name__ == "__main__":
    main()
