"""Scaling of the rrVAE stages beyond one process, and memory per analysis stage.

Prints, each against a reference measured in the same run:
  encoding   patterns/s of ``RotationalVAE.transform`` as a chunked dask map on a zarr
             store (streamed under ``--budget``): local threads, a LocalCluster of 1 and
             of 2 worker processes; the reference is ``transform`` of the same patterns
             held in memory, measured just before;
  training   patterns/s of ``symbreak train`` with 1 process and under
             ``torchrun --nproc_per_node 2`` (DDP, gloo), same global batch; the reference
             is the single process;
  memory     ``symbreak analyze`` of a zarr data set under a memory budget: the peak
             resident set of each stage [MiB] (results attrs ``peak_memory_mib``) against
             the budget and against the process's resident set right after import.

    python bench/bench_scaling.py [--patterns 20000] [--size 48] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

from symbreak.engine import budget_scope, use_cluster
from symbreak.vae import RotationalVAE


def spots(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Off-centre Gaussian spots at random angles, normalised to [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    out = np.empty((n, size, size), np.float32)
    r = size / 5
    for i in range(0, n, 1000):
        a = rng.uniform(-np.pi, np.pi, min(1000, n - i))[:, None, None]
        out[i:i + len(a)] = np.exp(-((xx - r * np.cos(a)) ** 2 + (yy - r * np.sin(a)) ** 2)
                                   / (size / 6) ** 2)
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_encoding(model: RotationalVAE, patterns: np.ndarray, folder: Path,
                   budget: str) -> None:
    store = zarr.create_array(str(folder / "pre.zarr"), shape=patterns.shape,
                              chunks=(2048, *patterns.shape[1:]), dtype=np.float32)
    store[:] = patterns
    n = patterns.shape[0]
    # the default --budget 256MB: the patterns (184 MB at the defaults) exceed its
    # in-memory quarter, so they are streamed in chunks of whole stored chunks (a budget
    # of a few KB would make one-pattern chunks and time dask's per-task overhead)
    for mode in ("dask threads", "1 worker(s)", "2 worker(s)"):
        reference = timed(lambda: model.transform(patterns))  # interleaved: just before
        if mode == "dask threads":
            with budget_scope(budget):
                t = timed(lambda: model.transform(store))
        else:
            with use_cluster(workers=int(mode[0])):
                model.transform(store[:4096])  # ships the model and warms the workers
                t = timed(lambda: model.transform(store))
        print(f"encoding: {mode:12s} {n / t:7.0f} patterns/s = {reference / t:.2f} x "
              f"in-memory transform ({n / reference:.0f} patterns/s just before)", flush=True)


def bench_training(patterns: np.ndarray, folder: Path, epochs: int) -> None:
    data = folder / "train.npy"
    np.save(data, patterns)
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    rates = {}
    for nproc in (1, 2):
        out = folder / f"model{nproc}"
        args = ["train", str(data), "--out", str(out), "--epochs", str(epochs),
                "--no-progress", "--checkpoint-dir", str(folder / f"ckpt{nproc}")]
        cmd = [sys.executable, "-m", "symbreak", *args] if nproc == 1 else \
            [torchrun, "--standalone", f"--nproc_per_node={nproc}", "-m", "symbreak", *args]
        done = subprocess.run(cmd, capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            print(f"training with {nproc} process(es) failed:", done.stderr[-500:])
            return
        model = RotationalVAE.load(out)
        seconds = model.history_[-1]["time"]
        rates[nproc] = len(model.train_indices_) * model.n_epochs_ / seconds
        print(f"training: {nproc} process(es) {rates[nproc]:7.0f} patterns/s "
              f"({rates[nproc] / rates[1]:.2f}x), best val loss "
              f"{model.best_validation_loss_:.4g}")


def bench_memory(folder: Path, budget: str) -> None:
    rng = np.random.default_rng(0)
    scan, k = 160, 96
    store = zarr.create_array(str(folder / "scan.zarr"), shape=(scan, scan, k, k),
                              chunks=(4, scan, k, k), dtype=np.float32, compressors=None)
    ky, kx = np.mgrid[:k, :k] - (k - 1) / 2
    disk = (np.hypot(ky, kx) < k / 5).astype(np.float32) * 100
    for row in range(0, scan, 4):
        store[row:row + 4] = disk + rng.random((4, scan, k, k), dtype=np.float32) * 5
    size = scan * scan * k * k * 4 / 2**20
    script = (
        "import json, sys, symbreak, symbreak.analysis\n"
        "from symbreak.analysis.provenance import peak_memory\n"
        "base = peak_memory() / 2**20  # resident after import (not ru_maxrss: it keeps"
        " the forking parent's size across exec)\n"
        f"r = symbreak.analyze(sys.argv[1], out=sys.argv[2], memory_budget='{budget}', "
        "epochs=1, progress=False, calibration=dict(energy=80e3, semiangle=20, "
        "angular_sampling=1, scan_step=0.2))\n"
        "print(json.dumps({'import': base, 'stages': json.loads(r.attrs['peak_memory_mib']),"
        " 'budget': r.attrs['memory_budget_mib']}))\n")
    done = subprocess.run([sys.executable, "-c", script, str(folder / "scan.zarr"),
                           str(folder / "analysis")], capture_output=True, text=True)
    if done.returncode != 0:
        print("analyze failed:", done.stderr[-800:])
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"memory: data {size:.0f} MiB, budget {result['budget']:.0f} MiB, "
          f"resident after import {result['import']:.0f} MiB")
    for stage, peak in result["stages"].items():
        print(f"memory: {stage:15s} peak {peak:7.0f} MiB = import + "
              f"{peak - result['import']:6.0f} MiB ({(peak - result['import']) / result['budget']:.2f}"
              " x budget)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=20000)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--budget", default="256MB")
    parser.add_argument("--parts", default="encoding,training,memory",
                        help="comma-separated subset of encoding,training,memory")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    patterns = spots(args.patterns, args.size)
    with tempfile.TemporaryDirectory(prefix="symbreak-bench-") as tmp:
        folder = Path(tmp)
        if "encoding" in parts:
            model = RotationalVAE(epochs=1, progress=False).fit(patterns[:4000])
            bench_encoding(model, patterns, folder, args.budget)
        if "training" in parts:
            bench_training(patterns, folder, args.epochs)
        if "memory" in parts:
            bench_memory(folder, args.budget)


if __name__ == "__main__":
    main()
