"""The rrVAE's training step against the CPU's own matrix-product rate, in the same run.

For the paper's spatial decoder (paper recipe: batch 20, MLP 2 x 128 encoder, 2 content
latents) and the rotate decoder (default recipe: batch 64, rotation consistency), both on
64 x 64 patterns, each round times

1. one full training step through symbreak's own code (``Trainer``'s objective, backward,
   Adam step), in float32 and in bf16 autocast;
2. plain ``torch.mm`` products of exactly the shapes of the step's Linear layers (forward,
   grad-input and grad-weight product of each, in the step's precision), once as whole
   layers and once in the blocks the spatial decoder's CPU path uses
   (:mod:`symbreak.vae.pixel_mlp`); the faster of the two is the reference.

The step's floating-point work is counted from the layer shapes (matrix products only) and
cross-checked with ``torch.utils.flop_counter.FlopCounterMode``. Printed per case: step and
reference GFLOP/s and their ratio, min-max over the rounds (step and reference products are
called alternately, so that a loaded machine slows both alike); the CPU model, its
bf16/AMX flags and torch's thread count. Defaults: the run documented in README.md (about
a minute); the default thread count is 1 because the project's machine is a shared 2-core
one.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from symbreak.vae.cpu import cpu_report
from symbreak.vae.model import Architecture, SpatialDecoder, build_model
from symbreak.vae.pixel_mlp import BLOCK_ROWS
from symbreak.vae.settings import fit_settings
from symbreak.vae.train import Trainer

CASES = {"spatial": dict(recipe="paper", decoder="spatial"),
         "rotate": dict(recipe="default", decoder="rotate")}

Layer = tuple[int, int, int, bool]  # rows, inputs, outputs, needs the grad-input product


def build_step(case: str, precision: str, size: int, seed: int = 0
               ) -> tuple[Callable[[], None], Trainer]:
    """One training step of ``case`` through the Trainer's objective and optimizer."""
    s = fit_settings(dict(CASES[case], precision=precision, device="cpu", latent_dim=2,
                          random_state=seed))
    arch = Architecture.of(s, (size, size))
    trainer = Trainer(build_model(arch, seed), s, fingerprint="bench")
    x = torch.rand(s.batch_size, size, size, generator=torch.Generator().manual_seed(seed))

    def step() -> None:
        loss = trainer.objective(x, trainer.noise)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
    return step, trainer


def linear_layers(trainer: Trainer) -> list[Layer]:
    """Every matrix product of the step's Linear layers as (rows, in, out, grad-input)."""
    s, model = trainer.settings, trainer.model
    batch, pixels = s.batch_size, model.arch.pattern_shape[0] * model.arch.pattern_shape[1]
    encodes = 2 if s.consistency > 0 else 1   # the consistency term encodes a rotated copy
    layers: list[Layer] = []
    for k, lin in enumerate(m for m in model.encoder.modules() if isinstance(m, nn.Linear)):
        layers += [(batch, lin.in_features, lin.out_features, k > 0)] * encodes
    dec = model.decoder
    for lin in (m for m in dec.modules() if isinstance(m, nn.Linear)):
        per_pixel = isinstance(dec, SpatialDecoder) and lin is not dec.fc_latent
        layers.append((batch * pixels if per_pixel else batch, lin.in_features,
                       lin.out_features, True))
    return layers


def layer_flops(layers: list[Layer]) -> float:
    """2 * rows * in * out per product: forward, grad-weight and (if needed) grad-input."""
    return float(sum(2 * n * i * o * (3 if g else 2) for n, i, o, g in layers))


def counted_flops(step: Callable[[], None]) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def gemm_closure(layers: list[Layer], dtype: torch.dtype, block: int | None
                 ) -> Callable[[], None]:
    """torch.mm of the layers' shapes (rows split in ``block``-row pieces if given)."""
    work = []
    for n, i, o, g in layers:
        rows = n if block is None or n <= block else block
        a, w = torch.randn(rows, i, dtype=dtype), torch.randn(o, i, dtype=dtype)
        gy = torch.randn(rows, o, dtype=dtype)
        work.append((a, w, gy, g, max(n // rows, 1)))

    def run() -> None:
        for a, w, gy, g, repeat in work:
            for _ in range(repeat):
                torch.mm(a, w.t())
                torch.mm(gy.t(), a)
                if g:
                    torch.mm(gy, w)
    return run


def best_time(fn: Callable[[], None], repeats: int) -> float:
    """Shortest of ``repeats`` timed calls [s]."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def span(values: list[float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="pattern side [px] (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per round, the shortest counts (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="32 x 32, 2 rounds, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.size, args.rounds, args.repeats = 32, 2, 2
    torch.set_num_threads(args.threads)
    print(cpu_report() + f"; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"patterns {args.size} x {args.size}; {args.rounds} rounds, step and GEMMs called "
          f"alternately, shortest of {args.repeats} calls each per round; spatial = paper recipe (batch 20), rotate = default "
          "recipe (batch 64)")
    dtypes = {"float32": torch.float32, "bf16": torch.bfloat16}
    runs = {}
    for case in CASES:
        for precision, dtype in dtypes.items():
            step, trainer = build_step(case, precision, args.size)
            layers = linear_layers(trainer)
            step()  # warm-up (allocations, oneDNN kernels)
            runs[case, precision] = dict(
                step=step, flops=layer_flops(layers), counted=counted_flops(step),
                whole=gemm_closure(layers, dtype, None),
                blocked=gemm_closure(layers, dtype, BLOCK_ROWS), rates={})
    for r in range(args.rounds):
        for key, run in runs.items():
            times = {name: float("inf") for name in ("step", "whole", "blocked")}
            for _ in range(args.repeats):   # step and references call by call
                for name in times:
                    times[name] = min(times[name], best_time(run[name], 1))
            for name, t in times.items():
                run["rates"].setdefault(name, []).append(run["flops"] / t / 1e9)
    print(f"\n{'case':18s} {'GFLOP/step':>10s} {'counted':>8s} {'step GFLOP/s':>13s} "
          f"{'GEMM GFLOP/s':>13s} {'step/GEMM':>10s} {'patterns/s':>11s}")
    for (case, precision), run in runs.items():
        rt = run["rates"]
        ref = [max(w, b) for w, b in zip(rt["whole"], rt["blocked"])]
        ratio = [s / g for s, g in zip(rt["step"], ref)]
        batch = run_batch(case)
        patterns = [s * 1e9 / run["flops"] * batch for s in rt["step"]]
        print(f"{case + ' ' + precision:18s} {run['flops'] / 1e9:10.3f} "
              f"{run['counted'] / run['flops'] - 1:+8.1%} {span(rt['step']):>13s} "
              f"{span(ref):>13s} {span(ratio, '{:.0%}'):>10s} {span(patterns):>11s}")
    print("\nGEMM reference: the faster of whole-layer and "
          f"{BLOCK_ROWS}-row-block products of the step's shapes, per round. counted: "
          "FlopCounterMode's count of one step against the layer-shape count.")
    for case in CASES:
        f32, b16 = runs[case, "float32"]["rates"]["step"], runs[case, "bf16"]["rates"]["step"]
        print(f"{case}: bf16 step / float32 step = "
              f"{span([b / f for b, f in zip(b16, f32)], '{:.2f}')} x")


def run_batch(case: str) -> int:
    return fit_settings(dict(CASES[case], device="cpu")).batch_size


if __name__ == "__main__":
    main()
