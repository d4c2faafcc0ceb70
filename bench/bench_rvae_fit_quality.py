"""What fit diagnostics, restarts and symmetrised encoding cost, as ratios to a single fit
measured in the same run (synthetic dipole patterns with known angle and content).

Measured, one torch thread, one after the other in one process:
  * single fit: one attempt that does not collapse (the reference);
  * fit with a restart: the same data and budget at a learning rate that collapses the
    first attempt (seed 0, angle warm-up off), so a second attempt runs (cost of recovery);
  * diagnostics after a fit (part of every fit): their share of the single fit;
  * transform with the plain encoder vs with the 4 quarter-turn copies combined;
  * content drift under exact 90-degree turns, plain vs symmetrised.

    .venv/bin/python bench/bench_rvae_fit_quality.py [--n 1000] [--epochs 15]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "vae"))
from vae_synthetic import dipole_patterns  # noqa: E402

from symbreak import RotationalVAE  # noqa: E402
from symbreak.vae.diagnostics import diagnose  # noqa: E402


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(func, *args, repeat: int = 1, **kwargs):
    """Result and the shortest wall time [s] of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=15)
    args = p.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(7)
    X = dipole_patterns(rng.uniform(-np.pi, np.pi, args.n), rng.uniform(0, 1, args.n))
    common = dict(latent_dim=1, epochs=args.epochs, random_state=0, n_threads=1)
    single, t_single = timed(RotationalVAE(restarts=0, **common).fit, X)
    retried, t_retry = timed(RotationalVAE(restarts=1, learning_rate=0.01, angle_warmup=0,
                                           **common).fit, X)
    val = X[single.validation_indices_]
    _, t_diag = timed(diagnose, single, val, repeat=3)
    single.transform(X)  # warm-up
    single.symmetrize = False
    _, t_plain = timed(single.transform, X, repeat=5)
    single.symmetrize = True
    _, t_sym = timed(single.transform, X, repeat=5)
    d = single.diagnostics_
    print(f"CPU: {cpu_name()}, 1 torch thread; {args.n} patterns 32 x 32, {args.epochs} epochs")
    print(f"single fit (reference)           {t_single:7.2f} s  1.00x  verdict {d.verdict}")
    print(f"fit with one restart             {t_retry:7.2f} s  {t_retry / t_single:4.2f}x  "
          f"attempts {[a['collapsed'] for a in retried.attempts_]} (collapsed?), "
          f"verdict {retried.diagnostics_.verdict}")
    print(f"diagnostics (in every fit)       {t_diag:7.2f} s  {t_diag / t_single:4.2f}x")
    print(f"transform, plain encoder         {t_plain:7.3f} s  {t_plain / t_single:5.3f}x")
    print(f"transform, symmetrised (4 turns) {t_sym:7.3f} s  {t_sym / t_single:5.3f}x  "
          f"({t_sym / t_plain:.1f}x the plain encoder)")
    print(f"content drift under 90-degree turns: plain {d.content_drift_turn_raw:.4f}, "
          f"symmetrised {d.content_drift_turn:.2e} (units of the latent's spread)")


if __name__ == "__main__":
    main()
