"""Throughput of symbreak's COM and virtual detectors against numpy and py4DSTEM.

Prints GB/s of raw data processed for, on the same array in the same run:
  numpy   ``array.sum()``, the streaming-sum reference bandwidth;
  symbreak ``com`` and ``virtual_images`` (4 detectors in one pass), in memory and on a
          memory map of the same .npy file;
  py4DSTEM DPC ``preprocess`` (its vectorised COM) and ``get_virtual_image`` (annulus),
          when .refenvs/py4dstem exists (`make refenvs`; a separate venv: it pins old numpy).
Targets: COM >= 50 % of the numpy sum bandwidth; faster than py4DSTEM.

    python bench/bench_classical.py [--scan 64] [--detector 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

import symbreak
from symbreak.classical import com, virtual_images

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=64, help="scan positions per side")
    parser.add_argument("--detector", type=int, default=128, help="detector pixels per side")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = make_data(args.scan, args.detector)
    gb = data.nbytes / 1e9
    n = args.detector
    center = ((n - 1) / 2, (n - 1) / 2)
    ds = symbreak.as_dataset(data, detector_center=center, angular_sampling=1.0)
    detectors = {"bf": (0, n / 6), "abf": (n / 12, n / 6), "adf": (n / 6, n / 3),
                 "haadf": (n / 3, np.inf)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.npy"
        np.save(path, data)
        mapped = symbreak.as_dataset(np.load(path, mmap_mode="r"), detector_center=center)
        jobs = {
            "numpy sum": data.sum,
            "symbreak com": lambda: com(ds, reference="center"),
            "symbreak com (memmap)": lambda: com(mapped, reference="center"),
            "symbreak virtual (4 det.)": lambda: virtual_images(ds, detectors),
        }
        rates = interleaved_rates(jobs, gb, args.repeats)
        ref = py4dstem_times(path, center, (n / 6, n / 3), args.repeats)
        agreement = compare_values(path, ds, center, (n / 6, n / 3)) if ref else None
    if ref is not None:
        rates[f"py4DSTEM {ref['version']} DPC COM"] = gb / ref["com_s"]
        rates[f"py4DSTEM {ref['version']} virtual (1 det.)"] = gb / ref["virtual_s"]
    numpy_rate = rates["numpy sum"]
    print(f"data: {data.shape} uint16, {gb:.3f} GB, {os.cpu_count()} CPU(s), "
          f"best of {args.repeats} interleaved rounds")
    for name, rate in rates.items():
        print(f"  {name:34s} {rate:7.2f} GB/s   {rate / numpy_rate:6.2f} x numpy sum")
    if ref is not None:
        print(f"  COM speed-up over py4DSTEM: {rates['symbreak com'] / (gb / ref['com_s']):.1f} x; "
              f"4 virtual images vs py4DSTEM's one: "
              f"{rates['symbreak virtual (4 det.)'] / (gb / ref['virtual_s']):.1f} x")
        print(f"  values vs py4DSTEM: {agreement}")


if __name__ == "__main__":
    main()
