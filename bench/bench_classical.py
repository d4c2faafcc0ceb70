"""Throughput of symbreak's streaming kernels against numpy's sum and py4DSTEM.

Prints GB/s of raw data processed, on the same array in the same interleaved rounds:
  numpy    ``array.sum()`` of that array (uint16 or float32), the streaming-sum reference
           (one thread: numpy's reductions do not use threads);
  symbreak ``com``, ``virtual_images`` (4 detectors in one pass) and the mean pattern
           (``symbreak.preprocess.mean_pattern``), on the array in memory and on a memory
           map of the same .npy file (page cache warm), each on one CPU (like for like
           with numpy) and on every usable CPU (what a user gets);
  py4DSTEM DPC ``preprocess`` (its vectorised COM) and ``get_virtual_image`` (annulus) on
           the uint16 file, when .refenvs/py4dstem exists (`make refenvs`; a separate
           venv: it pins old numpy). Different work from ours in two ways, printed as
           such: its COM also converts and fits a plane.
Target: every symbreak kernel >= 0.85 x numpy's sum on one CPU.

    python bench/bench_classical.py [--scan 128] [--detector 128] [--repeats 5]
        [--dtypes uint16,float32]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import machine_line

import symbreak
from symbreak.classical import com, virtual_images
from symbreak.engine import n_workers
from symbreak.preprocess import mean_pattern

PY4DSTEM = Path(os.environ.get("PY4DSTEM_PYTHON", Path(__file__).resolve().parents[1] / ".refenvs" / "py4dstem" / "bin" / "python"))


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_data(scan: int, detector: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ky, kx = np.indices((detector, detector))
    disk = np.hypot(ky - detector / 2, kx - detector / 2) < detector / 6
    lam = 2.0 + 40.0 * disk
    data = np.empty((scan, scan, detector, detector), np.uint16)
    for row in range(scan):
        data[row] = rng.poisson(lam, (scan, detector, detector))
    return data


def py4dstem_times(path: Path, center: tuple[float, float], ring: tuple[float, float],
                   repeats: int) -> dict | None:
    if not PY4DSTEM.exists():
        return None
    script = Path(__file__).with_name("_py4dstem_reference.py")
    cmd = [str(PY4DSTEM), str(script), str(path), *map(str, center), *map(str, ring),
           str(repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        print("py4DSTEM reference failed:", done.stderr.strip().splitlines()[-1:])
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_values(path: Path, ds, center, ring) -> str:
    """Largest differences between symbreak's and py4DSTEM's COM [px] and annulus image."""
    ref = np.load(str(path) + ".py4dstem.npz")
    mine = com(symbreak.as_dataset(ds.array, detector_center=(0, 0)), reference="center")
    image = virtual_images(ds, {"ring": ring}, units="px")["ring"].values
    d_rows = np.abs(mine.com_y.values - ref["com_rows"]).max()
    d_cols = np.abs(mine.com_x.values - ref["com_cols"]).max()
    d_img = np.abs(image - ref["virtual"]).max() / np.abs(image).max()
    return (f"COM rows {d_rows:.2g} px, columns {d_cols:.2g} px (py4DSTEM's COM 'x' is our "
            f"com_y); annulus image {d_img:.2g} relative")


def interleaved_rates(jobs: dict, gb: float, repeats: int) -> dict[str, float]:
    """GB/s of each job, best of ``repeats`` rounds that run every job once in turn (so a
    busy machine slows all of them alike)."""
    best = {name: float("inf") for name in jobs}
    for _ in range(repeats):
        for name, fn in jobs.items():
            best[name] = min(best[name], best_of(fn, 1))
    return {name: gb / t for name, t in best.items()}


@contextlib.contextmanager
def one_cpu():
    """Run on one CPU: symbreak then uses one thread (it follows the affinity mask)."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(old)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def on_one_cpu(fn):
    def run():
        with one_cpu():
            return fn()
    return run


def kernel_jobs(data: np.ndarray, path: Path, center, detectors, ring) -> dict:
    """numpy's sum and symbreak's kernels on ``data`` and on its memory map at ``path``."""
    sources = {"in memory": symbreak.as_dataset(data, detector_center=center, angular_sampling=1.0),
               "memmap": symbreak.as_dataset(np.load(path, mmap_mode="r"),
                                             detector_center=center, angular_sampling=1.0)}
    jobs = {"numpy sum": data.sum}
    for where, ds in sources.items():
        kernels = {"COM": lambda ds=ds: com(ds, reference="center"),
                   "virtual (4 det.)": lambda ds=ds: virtual_images(ds, detectors),
                   "mean pattern": lambda ds=ds: mean_pattern(ds, progress=False)}
        for name, fn in kernels.items():
            jobs[f"{name}, {where}, 1 CPU"] = on_one_cpu(fn)
            jobs[f"{name}, {where}, {n_workers()} threads"] = fn
    in_memory = sources["in memory"]
    jobs["virtual (1 det.), in memory"] = lambda: virtual_images(in_memory, {"ring": ring},
                                                                 units="px")
    return jobs


def interleaved_times(jobs: dict, repeats: int, between=None) -> dict[str, list[float]]:
    """Seconds of every job in each of ``repeats`` rounds that run every job once in turn;
    ``between()``, if given, runs at the end of each round and returns more {name: s}."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, fn in jobs.items():
            times[name].append(best_of(fn, 1))
        for name, seconds in (between() if between else {}).items():
            times.setdefault(name, []).append(seconds)
    return times


def print_rates(times: dict[str, list[float]], gb: float, reference: str) -> None:
    """Best GB/s of each job and the range over rounds of its speed / the reference's in
    the same round."""
    for name, seconds in times.items():
        ratios = [r / s for r, s in zip(times[reference], seconds)]
        print(f"  {name:36s} {gb / min(seconds):7.2f} GB/s   {min(ratios):5.2f}-"
              f"{max(ratios):5.2f} x {reference}")


def run_dtype(dtype: str, args, tmp: Path) -> dict[str, list[float]]:
    data = make_data(args.scan, args.detector).astype(dtype, copy=False)
    gb, n = data.nbytes / 1e9, args.detector
    center = ((n - 1) / 2, (n - 1) / 2)
    detectors = {"bf": (0, n / 6), "abf": (n / 12, n / 6), "adf": (n / 6, n / 3),
                 "haadf": (n / 3, np.inf)}
    ring = (n / 6, n / 3)
    path = tmp / f"bench_{dtype}.npy"
    np.save(path, data)
    jobs = kernel_jobs(data, path, center, detectors, ring)
    for fn in jobs.values():  # compile and import outside the timed rounds
        fn()
    reference = None
    if dtype == "uint16" and not args.no_py4dstem:
        reference = lambda: py4dstem_round(path, center, ring)  # noqa: E731
        if reference() is None:
            reference = None
    times = interleaved_times(jobs, args.repeats, reference)
    print(f"\n{dtype}: {data.shape}, {gb:.3f} GB; {args.repeats} rounds, each running every "
          "job in turn (page cache warm for the memory map)")
    print_rates(times, gb, "numpy sum")
    if reference is not None:
        print("  (py4DSTEM in its own process, once per round: its COM is different work, it "
              "also converts to float and fits a plane; its annulus is the same work as the "
              "1-detector line)")
        ds = symbreak.as_dataset(data, detector_center=center, angular_sampling=1.0)
        print(f"  values vs py4DSTEM: {compare_values(path, ds, center, ring)}")
    return times


def py4dstem_round(path: Path, center, ring) -> dict[str, float] | None:
    """One timing of py4DSTEM's DPC COM and annulus (None when it is not installed)."""
    ref = py4dstem_times(path, center, ring, 1)
    if ref is None:
        return None
    return {f"py4DSTEM {ref['version']} DPC COM": ref["com_s"],
            f"py4DSTEM {ref['version']} annulus (1 det.)": ref["virtual_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=128, help="scan positions per side")
    parser.add_argument("--detector", type=int, default=128, help="detector pixels per side")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", default="uint16,float32")
    parser.add_argument("--no-py4dstem", action="store_true", help="skip the py4DSTEM rounds")
    args = parser.parse_args()
    print(f"{machine_line()}; numba {importlib.metadata.version('numba')}, "
          f"numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in args.dtypes.split(","):
            run_dtype(dtype, args, Path(tmp))


if __name__ == "__main__":
    main()
