"""COM throughput on dask.distributed: the local threaded scheduler, 1 worker, 2 workers.

Writes a ~1.1 GB uint16 data set as a .npy file and as a zarr store (lz4), then times
``symbreak.com`` on each, with dask's threaded scheduler in this process and on an
in-process ``LocalCluster`` of 1 and of 2 single-threaded worker processes
(``symbreak.engine.use_cluster``). Printed as patterns/s, GB/s of raw data and the ratio
to numpy's ``sum()`` of the same array in memory, measured in the same rounds (best of
``--repeats`` interleaved rounds, so a busy machine slows all alike). Peak resident
memory (``VmHWM``) of each worker is printed against the memory budget.

    .venv/bin/python bench/bench_distributed.py [--scan 184] [--detector 128]
        [--budget 256MB] [--repeats 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from bench_classical import interleaved_rates, make_data
from _machine import machine_line

import symbreak
from symbreak.engine import budget_bytes, budget_scope, use_cluster


def status(field: str = "VmHWM") -> int:
    """A memory field of /proc/self/status [bytes]: VmHWM (peak resident memory, reset at
    exec unlike ru_maxrss) or VmRSS (resident now)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> None:
    """Start a new VmHWM high-water mark in this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def com_jobs(paths: dict[str, Path], data: np.ndarray, center: tuple[float, float]) -> dict:
    loaded = {name: symbreak.load(path, detector_center=center) for name, path in paths.items()}
    jobs = {"numpy sum (in memory)": data.sum}
    for name, ds in loaded.items():
        jobs[f"COM ({name})"] = lambda ds=ds: symbreak.com(ds, reference="center")
    return jobs


def report(label: str, rates: dict[str, float], gb: float, n_patterns: int) -> None:
    numpy_rate = rates["numpy sum (in memory)"]
    print(label)
    for name, rate in rates.items():
        patterns = n_patterns * rate / gb
        print(f"  {name:24s} {patterns:11,.0f} patterns/s {rate:6.2f} GB/s "
              f"{rate / numpy_rate:6.2f} x numpy sum")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=184, help="scan positions per side")
    parser.add_argument("--detector", type=int, default=128, help="detector pixels per side")
    parser.add_argument("--budget", default="256MB", help="memory budget (per worker)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="folder for the data files")
    args = parser.parse_args()
    data = make_data(args.scan, args.detector)
    gb, n_patterns = data.nbytes / 1e9, args.scan * args.scan
    center = ((args.detector - 1) / 2,) * 2
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, budget_scope(args.budget):
        paths = {"npy memmap": Path(tmp) / "bench.npy", "zarr": Path(tmp) / "bench.zarr"}
        np.save(paths["npy memmap"], data)
        symbreak.save(data, paths["zarr"], progress=False)
        print(machine_line())
        print(f"data: {data.shape} uint16, {gb:.3f} GB, {os.cpu_count()} CPU(s), memory "
              f"budget {budget_bytes() / 2**20:.0f} MiB (per worker), best of "
              f"{args.repeats} interleaved rounds")
        jobs = com_jobs(paths, data, center)
        report("threaded scheduler (this process)",
               interleaved_rates(jobs, gb, args.repeats), gb, n_patterns)
        for workers in (1, 2):
            with use_cluster(workers=workers) as client:
                client.run(__import__, "symbreak.classical.com")  # imports, not timed
                client.run(reset_peak_rss)
                base = client.run(status, "VmRSS")
                rates = interleaved_rates(jobs, gb, args.repeats)
                peaks = client.run(status)
            report(f"LocalCluster, {workers} worker process(es) x 1 thread", rates, gb,
                   n_patterns)
            for address, peak in sorted(peaks.items()):
                print(f"  worker {address}: peak RSS {peak / 2**20:.0f} MiB, of which "
                      f"{(peak - base[address]) / 2**20:.0f} MiB above its idle "
                      f"{base[address] / 2**20:.0f} MiB (budget {budget_bytes() / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
