"""One short check of the CUDA path: fit the rrVAE in float32 and bf16 on synthetic
patterns with known angle and content, check the latents, print throughput.

Run on a GPU machine:  python bench/gpu_check.py            (device cuda)
Runs on CPU as well:   python bench/gpu_check.py --device cpu --quick
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from symbreak import RotationalVAE


def patterns(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    angle = rng.uniform(-np.pi, np.pi, n)
    content = rng.uniform(0, 1, n)
    a, w = angle[:, None, None], (0.12 + 0.2 * content)[:, None, None]
    pix = (np.arange(size) - (size - 1) / 2) / ((size - 1) / 2)
    y, x = np.meshgrid(pix, pix, indexing="ij")
    disk = 0.5 * np.exp(-((x ** 2 + y ** 2) / 0.55 ** 2) ** 4)
    lobe = np.exp(-((x - 0.45 * np.cos(a)) ** 2 + (y - 0.45 * np.sin(a)) ** 2) / (2 * w ** 2))
    return (disk + lobe).astype(np.float32), angle, content


def check(model: RotationalVAE, X: np.ndarray, angle: np.ndarray, content: np.ndarray) -> dict:
    ds = model.transform(X)
    agreement = float(np.abs(np.mean(np.exp(1j * (ds.latent_angle.values - angle)))))
    z = ds.latent_z.values
    r = max(abs(np.corrcoef(zi, content)[0, 1]) for zi in z)
    return {"angle_agreement": agreement, "content_r": r}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="512 patterns of 24 x 24, 4 epochs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.size, args.epochs = 512, 24, 4
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU visible to PyTorch; run with --device cpu")
        return 1
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device {name}; torch {torch.__version__}; {args.n} patterns {args.size}x{args.size}")
    X, angle, content = patterns(args.n, args.size)
    n_train = int(round(args.n * 0.85))
    failed = False
    for decoder in ("rotate", "spatial"):
        for precision in ("float32", "bf16"):
            t0 = time.perf_counter()
            model = RotationalVAE(latent_dim=1, decoder=decoder, device=args.device,
                                  precision=precision, epochs=args.epochs,
                                  batch_size=256 if args.device == "cuda" else None,
                                  learning_rate=4e-3 if args.device == "cuda" else None,
                                  early_stopping=None).fit(X)
            wall = time.perf_counter() - t0
            h = model.history_
            rate = n_train * (len(h) - 1) / max(h[-1]["time"] - h[0]["time"], 1e-9)
            result = check(model, X, angle, content)
            ok = result["angle_agreement"] > 0.95 and result["content_r"] > 0.9
            failed |= not ok and args.epochs >= 20
            print(f"{decoder:8s} {precision:8s} {rate:10.0f} patterns/s  fit {wall:6.1f} s  "
                  f"val loss {model.best_validation_loss_:8.4g}  angle agreement "
                  f"{result['angle_agreement']:.3f}  content |r| {result['content_r']:.3f}  "
                  f"{'ok' if ok else 'CHECK'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
