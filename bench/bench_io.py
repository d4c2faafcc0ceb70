"""I/O benchmark: ``symbreak info`` and ``symbreak convert`` on a >= 2 GB file.

Generates a (128, 128, 256, 256) uint16 .npy file (2.1 GB; change with --scan), then
runs each command in its own subprocess and prints its wall time and peak resident
memory (``os.wait4`` rusage of that child) next to the file size, and, as the reference
measured in the same run, the throughput of a plain NumPy sequential read of the file.

    .venv/bin/python bench/bench_io.py [--dir /tmp/symbreak-bench] [--scan 128] [--keep]

Target: peak RSS < 500 MB for both commands whatever the file size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DETECTOR = 256


def generate(path: Path, scan: int) -> None:
    """Write a uint16 (scan, scan, 256, 256) .npy row by row (bounded memory)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16,
                                    shape=(scan, scan, DETECTOR, DETECTOR))
    rng = np.random.default_rng(0)
    ky, kx = np.mgrid[:DETECTOR, :DETECTOR] - DETECTOR / 2
    disk = (np.hypot(ky, kx) < 40).astype(np.uint16) * 200
    for y in range(scan):
        out[y] = disk + rng.integers(0, 16, (scan, DETECTOR, DETECTOR), dtype=np.uint16)
        out.flush()
    del out


def numpy_read(path: Path) -> None:
    """Plain sequential read of the whole file with numpy (64 MiB blocks)."""
    with open(path, "rb") as fh:
        while np.fromfile(fh, dtype=np.uint8, count=64 * 2**20).size:
            pass


def save_lazy(out: Path, scan: int) -> None:
    """symbreak.save of a lazy dask array (as abTEM hands it over) of the same size."""
    import dask.array as da

    from symbreak.io import save

    ky, kx = np.mgrid[:DETECTOR, :DETECTOR] - DETECTOR / 2
    disk = (np.hypot(ky, kx) < 40).astype(np.uint16) * 200
    noise = da.random.default_rng(0).integers(0, 16, (scan, scan, DETECTOR, DETECTOR),
                                               dtype=np.uint16, chunks=(1, scan, -1, -1))
    save(noise + disk, out)


def in_child(function: str, *args: str) -> tuple[float, int, int]:
    """Run a function of this script in a fresh process. The bench process itself stays
    small: Linux carries a parent's peak RSS into a forked child's ru_maxrss."""
    return run_process([sys.executable, __file__, "--call", function, *args])


def run(argv: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS bytes, exit code) of ``symbreak ARGV`` in a fresh process."""
    return run_process([sys.executable, "-m", "symbreak", *argv])


def run_process(command: list[str]) -> tuple[float, int, int]:
    env = dict(os.environ, SYMBREAK_PROGRESS="0")
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss * 1024, proc.returncode


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/symbreak-bench", type=Path)
    parser.add_argument("--scan", type=int, default=128, help="scan positions per side")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--call", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.call:
        function, *rest = args.call
        {"generate": lambda p, n: generate(Path(p), int(n)),
         "numpy_read": lambda p: numpy_read(Path(p)),
         "save_lazy": lambda p, n: save_lazy(Path(p), int(n))}[function](*rest)
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    source = args.dir / f"bench_{args.scan}.npy"
    if not source.exists():
        seconds, _, _ = in_child("generate", str(source), str(args.scan))
        print(f"generated {source} in {seconds:.1f} s")
    nbytes = size_of(source)
    t_np, rss_np, _ = in_child("numpy_read", str(source))
    print(f"input: {source} {nbytes / 1e9:.2f} GB; plain numpy read {t_np:.2f} s = "
          f"{nbytes / t_np / 1e6:.0f} MB/s, peak RSS {rss_np / 1e6:.0f} MB (reference; "
          "includes interpreter start; page cache as it is now)")
    outputs = [args.dir / "out.zarr", args.dir / "out.h5", args.dir / "out_bin2.zarr",
               args.dir / "lazy.zarr"]
    for out in outputs:
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
    cases = [
        ("info npy", ["info", str(source)], source),
        ("convert npy->zarr", ["convert", str(source), str(outputs[0])], source),
        ("info zarr", ["info", str(outputs[0])], outputs[0]),
        ("convert zarr->h5", ["convert", str(outputs[0]), str(outputs[1])], outputs[0]),
        ("convert npy->zarr --bin 2", ["convert", str(source), str(outputs[2]), "--bin", "2"],
         source),
        ("save(lazy dask) -> zarr", ["call", "save_lazy", str(outputs[3]), str(args.scan)],
         source),
    ]
    print(f"{'command':<28}{'input':>10}{'time':>9}{'MB/s':>8}{'vs numpy':>10}"
          f"{'peak RSS':>11}  output")
    for name, argv, src in cases:
        seconds, rss, code = in_child(*argv[1:]) if argv[0] == "call" else run(argv)
        if code != 0:
            print(f"{name}: failed with exit code {code}")
            continue
        size = size_of(src)
        rate = size / seconds / 1e6
        ratio = t_np / seconds
        target = argv[2] if argv[0] in ("convert", "call") else ""
        extra = f"{size_of(Path(target)) / 1e9:.2f} GB" if target else ""
        print(f"{name:<28}{size / 1e9:>8.2f}GB{seconds:>8.1f}s{rate:>8.0f}{ratio:>9.2f}x"
              f"{rss / 1e6:>8.0f} MB  {extra}")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
