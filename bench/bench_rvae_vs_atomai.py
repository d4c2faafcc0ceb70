"""symbreak's RotationalVAE against atomai's rVAE on the same data, in the same run.

atomai runs in its own virtual environment, ``.refenvs/atomai`` in the repo (``make
refenvs`` builds it: atomai 0.8.1, six, numpy<2, the CPU torch), as atomai breaks on NumPy
2; atomai's torchvision import is replaced by a stand-in, see the worker).

Measured, in ``--rounds`` interleaved rounds (atomai, then symbreak, in each), as ratios
symbreak / atomai with the range over the rounds:
1. training throughput [patterns/s], like for like: the paper's architecture and settings
   (MLP 2 x 128 encoder, spatial decoder, Adam 1e-4, batch 20, rotation only, 2 content
   latents) in float32 as atomai, and with symbreak's ``precision="auto"`` (bf16 autocast
   where the CPU has native bf16); then symbreak's rotate decoder, which is DIFFERENT WORK
   (about 100 x fewer operations per pattern), labelled as such;
2. wall time until symbreak's default recipe reaches the validation loss (-ELBO per pattern)
   that atomai has after its ``--atomai-epochs`` epochs (atomai is not converged then: its
   per-epoch losses are printed), against atomai's time for those epochs.

Data: rotated, dipole-like synthetic patterns (a disk plus a lobe whose width is the content),
min-max normalised to [0, 1]; the same 85/15 split (train_test_split, seed 0) for both.
The defaults are the run documented in README.md and docs/vae.md (about 5 minutes).
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
from symbreak.vae.cpu import cpu_report

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


def paper_throughput(X: np.ndarray, decoder: str, precision: str, epochs: int,
                     threads: int, n_train: int) -> tuple[float, float, str]:
    """symbreak's paper recipe: patterns/s, validation loss after ``epochs``, precision."""
    model = RotationalVAE(recipe="paper", decoder=decoder, epochs=epochs, precision=precision,
                          n_threads=threads, restarts=0).fit(X)
    return (throughput(model.history_, n_train), model.history_[-1]["val_loss"],
            model.settings_.precision)


def span(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


CASES = (("spatial", "float32", "like for like"), ("spatial", "auto", "same work, symbreak's auto precision"),
         ("rotate", "float32", "DIFFERENT WORK: ~100x fewer operations"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024, help="patterns (default 1024)")
    parser.add_argument("--size", type=int, default=32, help="pattern side [px] (default 32)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--atomai-epochs", type=int, default=3,
                        help="atomai epochs per round (default 3)")
    parser.add_argument("--max-time", type=float, default=60.0,
                        help="time limit of symbreak's default recipe [s] (default 60)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--atomai-python", default=str(
        Path(__file__).resolve().parents[1] / ".refenvs" / "atomai" / "bin" / "python"))
    parser.add_argument("--quick", action="store_true", help="512 patterns, 1 round, 2 epochs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds, args.atomai_epochs, args.max_time = 512, 1, 2, 20.0
    torch.set_num_threads(args.threads)
    X = dipole_patterns(args.n, args.size)
    train, test = train_test_split(np.arange(args.n), test_size=0.15, random_state=0)
    n_train = len(train)
    print(f"data: {args.n} patterns of {args.size} x {args.size}, {n_train} for training; "
          f"torch threads {args.threads}; torch {torch.__version__}; {cpu_report()}")

    ratios: dict[tuple, list[float]] = {case: [] for case in CASES}
    refs = []
    for r in range(args.rounds):
        ref = run_atomai(args.atomai_python, X, train, test, args.atomai_epochs, args.threads)
        refs.append(ref)
        ref_hist = [{"time": t, "val_loss": v} for t, v in zip(ref["times"], ref["val_loss"])]
        ref_tp = throughput(ref_hist, n_train)
        print(f"round {r + 1}: atomai rVAE (paper settings, float32) {ref_tp:.1f} patterns/s; "
              f"validation loss per epoch {', '.join(f'{v:.4g}' for v in ref['val_loss'])}")
        for case in CASES:
            decoder, precision, label = case
            tp, val, used = paper_throughput(X, decoder, precision, args.atomai_epochs,
                                             args.threads, n_train)
            ratios[case].append(tp / ref_tp)
            print(f"  symbreak paper recipe, {decoder} decoder, {used}: {tp:.1f} patterns/s "
                  f"-> {tp / ref_tp:.2f}x atomai ({label}); validation loss after "
                  f"{args.atomai_epochs} epochs {val:.4g}")
    print("throughput, symbreak / atomai over the rounds:")
    for (decoder, precision, label), values in ratios.items():
        print(f"  {decoder} decoder, precision {precision}: {span(values)} x ({label})")

    target = max(ref["val_loss"][-1] for ref in refs)
    ref_times = [ref["times"][-1] for ref in refs]
    model = RotationalVAE(max_time=args.max_time, early_stopping=None,
                          n_threads=args.threads).fit(X)
    reached = time_to(model.history_, target)
    print(f"symbreak default recipe: best validation loss {model.best_validation_loss_:.4g} "
          f"after {model.n_epochs_} epochs in {model.history_[-1]['time']:.1f} s")
    if reached is None:
        print(f"symbreak default recipe did not reach atomai's {target:.4g} in {args.max_time} s")
    else:
        print(f"symbreak default recipe reached atomai's validation loss after "
              f"{args.atomai_epochs} epochs ({target:.4g}, not converged) in {reached:.1f} s vs "
              f"atomai {span(ref_times, '{:.1f}')} s -> "
              f"{span([t / reached for t in ref_times], '{:.0f}')} x sooner")


if __name__ == "__main__":
    main()
