"""One short check of the CUDA path (under 5 minutes): fit the rrVAE with both decoders in
float32 and bf16 autocast on synthetic patterns with known angle and content, check the
weights and the encoding ran on the device, check the latents, print training and
encoding throughput [patterns/s] (timed between torch.cuda.synchronize calls).

Run on a GPU machine:  python bench/gpu_check.py            (device cuda)
Runs on CPU as well:   python bench/gpu_check.py --device cpu --quick
Exit status 1 when a check fails (latents only judged with >= 20 epochs).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from symbreak import RotationalVAE

FIT_SECONDS = 60.0  # per fit: 4 fits + encoding stay under 5 minutes


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


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(device: str, fn):
    """(result, seconds) of ``fn()`` with the device's queue drained before and after."""
    synchronize(device)
    t0 = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, time.perf_counter() - t0


def check(ds, angle: np.ndarray, content: np.ndarray) -> dict:
    agreement = float(np.abs(np.mean(np.exp(1j * (ds.latent_angle.values - angle)))))
    z = ds.latent_z.values
    r = max(abs(np.corrcoef(zi, content)[0, 1]) for zi in z)
    return {"angle_agreement": agreement, "content_r": r}


def fit_one(X: np.ndarray, decoder: str, precision: str, args: argparse.Namespace):
    cuda = args.device == "cuda"
    model = RotationalVAE(latent_dim=1, decoder=decoder, device=args.device,
                          precision=precision, epochs=args.epochs,
                          batch_size=256 if cuda else None,
                          learning_rate=4e-3 if cuda else None,
                          early_stopping=None, max_time=FIT_SECONDS, restarts=0,
                          n_threads=None if cuda else 1)
    model, wall = timed(args.device, lambda: model.fit(X))
    where = {p.device.type for p in model.model_.parameters()}
    assert where == {args.device}, f"weights on {where}, expected {args.device}"
    assert model.settings_.precision == precision, model.settings_.precision
    return model, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="256 patterns of 16 x 16, 3 epochs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.size, args.epochs = 256, 16, 3
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU visible to PyTorch; run with --device cpu")
        return 1
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device {name}; torch {torch.__version__}; {args.n} patterns {args.size}x{args.size}"
          f"; {args.epochs} epochs (at most {FIT_SECONDS:.0f} s) per fit")
    X, angle, content = patterns(args.n, args.size)
    n_train = int(round(args.n * 0.85))
    failed = False
    for decoder in ("rotate", "spatial"):
        for precision in ("float32", "bf16"):   # bf16: torch.autocast on args.device
            model, wall = fit_one(X, decoder, precision, args)
            h = model.history_
            rate = n_train * (len(h) - 1) / max(h[-1]["time"] - h[0]["time"], 1e-9)
            ds, enc = timed(args.device, lambda: model.transform(X))
            result = check(ds, angle, content)
            ok = result["angle_agreement"] > 0.95 and result["content_r"] > 0.9
            failed |= not ok and len(h) >= 20
            print(f"{decoder:8s} {precision:8s} train {rate:9.0f} patterns/s ({len(h)} epochs, "
                  f"fit {wall:5.1f} s)  encode {args.n / enc:9.0f} patterns/s  val loss "
                  f"{model.best_validation_loss_:8.4g}  angle agreement "
                  f"{result['angle_agreement']:.3f}  content |r| {result['content_r']:.3f}  "
                  f"{'ok' if ok else 'CHECK'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
