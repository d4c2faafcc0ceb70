"""`symbreak demo`: wall time, peak memory and each stage's share.

Runs the command as a user would (a fresh process), then reads the stage timings that
analyze stores in results.zarr and times the report separately. The 5-minute budget of
the demo is the reference the wall time is compared with.

    .venv/bin/python bench/bench_demo.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

BUDGET_S = 300.0


def run_demo(out: Path) -> tuple[float, float]:
    """Wall time [s] and peak resident memory [MiB] of `symbreak demo`."""
    cmd = [sys.executable, "-m", "symbreak", "demo", "--out", str(out), "--overwrite", "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib / 1024


def startup_time() -> float:
    """Wall time [s] of a fresh process importing what the demo imports."""
    cmd = [sys.executable, "-c", "import torch, abtem, symbreak.analysis, symbreak.report"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def report_time(out: Path) -> float:
    from symbreak import report

    start = time.perf_counter()
    report(out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", help="write the demo here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep) if args.keep else Path(tmp) / "demo"
        wall, peak = run_demo(out)
        with xr.open_zarr(out / "results.zarr") as results:
            timings = json.loads(results.attrs["timings"])
            epochs = results.sizes.get("epoch", 0)
        timings["report (re-timed)"] = report_time(out)
    timings["start-up imports (re-timed)"] = startup_time()
    timings["simulation + reading"] = timings.pop("reading data")
    rest = wall - sum(timings.values())
    print(f"symbreak demo: {wall:.1f} s wall ({wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s "
          f"budget), peak memory {peak:.0f} MiB, rrVAE epochs {epochs}")
    print(f"{'stage':<30}{'time [s]':>10}{'share':>9}")
    for name, seconds in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"{name:<30}{seconds:>10.1f}{seconds / wall:>9.1%}")
    print(f"{'other (writing results)':<30}{rest:>10.1f}{rest / wall:>9.1%}")


if __name__ == "__main__":
    main()
