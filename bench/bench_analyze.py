"""``symbreak analyze`` end to end on a 2 GB file: wall time per stage against reading it once.

Generates (once, kept in ``--dir`` for later runs) a (256, 256, 128, 128) uint16 .npy file
(2.15 GB; ``--scan`` changes it): a crystal-like lattice of diffraction disks whose
intensities follow a hexagonal lattice of atomic columns under the scanned probe and whose
centre disk is deflected by the columns' field, with Poisson noise. It is written row by
row, never held whole.

Then, ``--repeats`` times, interleaved:

  read once   sequential ``readinto`` of the file in 64 MiB blocks (the floor of any
              pass), and a dask pass the way a stage reads it (``symbreak.load`` -> its
              default chunks of the memory map -> the sum of every chunk); the page
              cache is warm (the file was just read; a non-root user cannot drop it);
  analyze     ``symbreak analyze FILE --out DIR --epochs E --no-report`` in a fresh
              process; its ``results.zarr`` records the wall time [s] and the peak
              resident set [MiB] of every stage (attrs ``timings``, ``peak_memory_mib``).

Prints per stage: wall s (range over repeats), x read time, peak MiB against the memory
budget; then every stage but the rrVAE together against the target of 3 x one read. The
rrVAE trains for ``--epochs`` epochs (default 1: its time is reported, not targeted).

    .venv/bin/python bench/bench_analyze.py [--dir /tmp/symbreak-bench-analyze]
        [--scan 256] [--repeats 3] [--epochs 1] [--budget default]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DETECTOR = 128
DISK_RADIUS = 12.0  # [px] bright-field disk radius
BRAGG = 30.0  # [px] distance of the first Bragg disks from the centre
COLUMN_SPACING = 8.0  # [scan px] distance between atomic columns
DOSE = 4000.0  # mean electrons per pattern


def _disks(centres: np.ndarray, radius: float) -> np.ndarray:
    """(len(centres), DETECTOR, DETECTOR) float32 soft-edged disks (1 inside)."""
    k = np.arange(DETECTOR, dtype=np.float32)
    dy = k[None, :, None] - centres[:, 0, None, None]
    dx = k[None, None, :] - centres[:, 1, None, None]
    return np.clip(radius + 0.5 - np.hypot(dy, dx), 0, 1).astype(np.float32)


def _lattice(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected potential of a hexagonal lattice of columns on the (ny, nx) scan grid,
    and its gradient (the column field that deflects the centre disk)."""
    y, x = np.mgrid[:ny, :nx].astype(np.float64)
    g = 2 * np.pi / (COLUMN_SPACING * np.sqrt(3) / 2)
    angles = np.deg2rad([0, 60, 120])
    pot = sum(np.cos(g * (x * np.cos(a) + y * np.sin(a))) for a in angles)
    gy, gx = np.gradient(pot)
    return pot / 3, gy, gx


def generate(path: Path, scan: int, seed: int = 0) -> None:
    """Write the (scan, scan, DETECTOR, DETECTOR) uint16 .npy file one scan row at a time."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16,
                                    shape=(scan, scan, DETECTOR, DETECTOR))
    rng = np.random.default_rng(seed)
    centre = (DETECTOR - 1) / 2
    bragg = np.array([[np.sin(a), np.cos(a)] for a in np.deg2rad(np.arange(0, 360, 60))])
    outer = _disks(centre + BRAGG * bragg, DISK_RADIUS).sum(0)
    pot, gy, gx = _lattice(scan, scan)
    k = np.arange(DETECTOR, dtype=np.float32)
    for row in range(scan):
        shift = np.stack([centre + 1.5 * gy[row], centre + 1.5 * gx[row]], axis=1)
        bf = _disks(shift, DISK_RADIUS)
        weight = (0.15 + 0.1 * pot[row]).astype(np.float32)[:, None, None]
        lam = bf + weight * outer + 0.002
        lam *= DOSE / lam.sum(axis=(1, 2), keepdims=True)
        out[row] = rng.poisson(lam).astype(np.uint16)
    out.flush()
    del out, k


def ensure_file(folder: Path, scan: int) -> Path:
    """The generated file, made when missing (a sidecar records what it holds)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"lattice-{scan}x{scan}x{DETECTOR}x{DETECTOR}-uint16.npy"
    done = path.with_suffix(".done")
    if not done.exists():
        start = time.perf_counter()
        print(f"generating {path.name} ...", flush=True)
        generate(path, scan)
        done.write_text("complete\n")
        print(f"generated in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def read_once(path: Path) -> float:
    """Seconds to read the file once: sequential ``readinto`` of 64 MiB blocks into one
    reused buffer (the floor for any pass over it; in a fresh process, like analyze)."""
    script = ("import sys, time\n"
              "buf = bytearray(64 * 2**20)\n"
              "t = time.perf_counter()\n"
              "with open(sys.argv[1], 'rb', buffering=0) as fh:\n"
              "    while fh.readinto(buf):\n"
              "        pass\n"
              "print(time.perf_counter() - t)\n")
    return _timed_script(script, path)


def dask_pass(path: Path) -> float:
    """Seconds for one pass the way a stage reads the file: ``symbreak.load`` -> its
    default dask chunks of the memory map -> the sum of every chunk."""
    script = ("import sys, time, numpy as np, symbreak\n"
              "t = time.perf_counter()\n"
              "symbreak.load(sys.argv[1]).to_dask().sum(dtype=np.uint64).compute()\n"
              "print(time.perf_counter() - t)\n")
    return _timed_script(script, path)


def _timed_script(script: str, path: Path) -> float:
    """Run ``script`` on ``path`` in a fresh process; the seconds it prints last."""
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def analyze(path: Path, out: Path, epochs: int, budget: str | None) -> dict:
    """Wall time of ``symbreak analyze`` [s] and the results' per-stage attrs."""
    cmd = [sys.executable, "-m", "symbreak", "analyze", str(path), "--out", str(out),
           "--epochs", str(epochs), "--no-report", "--overwrite", "--quiet"]
    if budget:
        cmd += ["--memory-budget", budget]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"analyze failed:\n{done.stderr[-2000:]}")
    import zarr
    attrs = zarr.open_group(str(out / "results.zarr"), mode="r").attrs
    return {"wall": wall, "timings": json.loads(attrs["timings"]),
            "peak": json.loads(attrs["peak_memory_mib"]),
            "budget": float(attrs["memory_budget_mib"])}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


def report(reads: list[float], passes: list[float], runs: list[dict]) -> None:
    ref = float(np.median(reads))
    print(f"\nCPU: {cpu_name()}; page cache warm")
    print(f"read once (readinto): {min(reads):.2f}-{max(reads):.2f} s (median {ref:.2f} s); "
          f"a dask pass summing symbreak's chunks: {min(passes):.2f}-{max(passes):.2f} s")
    budget = runs[0]["budget"]
    print(f"{'stage':16s} {'wall s':>13s} {'x read':>11s} {'peak MiB':>15s} "
          f"(budget {budget:.0f} MiB)")
    for stage in runs[0]["timings"]:
        t = [r["timings"][stage] for r in runs]
        p = [r["peak"].get(stage, np.nan) for r in runs]
        print(f"{stage:16s} {min(t):6.1f}-{max(t):6.1f} "
              f"{min(t) / ref:5.2f}-{max(t) / ref:5.2f} {min(p):7.0f}-{max(p):7.0f}")
    rest = [sum(v for k, v in r["timings"].items() if k != "rrVAE") for r in runs]
    ratio = [x / y for x, y in zip(rest, reads)]
    print(f"all stages but the rrVAE: {min(rest):.1f}-{max(rest):.1f} s = "
          f"{min(ratio):.2f}-{max(ratio):.2f} x the read in the same repeat (target 3 x)")
    walls = [r["wall"] for r in runs]
    print(f"process wall (import, write): {min(walls):.1f}-{max(walls):.1f} s")
    peaks = [max(r["peak"].values()) for r in runs]
    print(f"peak resident set: {min(peaks):.0f}-{max(peaks):.0f} MiB, "
          f"budget {budget:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/symbreak-bench-analyze"))
    parser.add_argument("--scan", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--budget", default=None,
                        help="--memory-budget for analyze (default: symbreak's default)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()
    path = ensure_file(args.dir, args.scan)
    print(f"{path}: {path.stat().st_size / 1e9:.2f} GB")
    out = args.dir / "analysis"
    read_once(path)  # warms the page cache
    reads, passes, runs = [], [], []
    for i in range(args.repeats):
        reads.append(read_once(path))
        passes.append(dask_pass(path))
        runs.append(analyze(path, out, args.epochs, args.budget))
        print(f"repeat {i + 1}: read {reads[-1]:.2f} s, dask pass {passes[-1]:.2f} s, "
              f"analyze {runs[-1]['wall']:.1f} s "
              f"{runs[-1]['timings']}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    report(reads, passes, runs)
    if args.json:
        args.json.write_text(json.dumps({"reads": reads, "passes": passes, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
