"""Time and peak memory of each simulation preset, against abTEM used directly.

Each job runs in a fresh subprocess (so peak RSS is its own):
* symbreak: ``symbreak.simulate(preset, out=<tmp>.zarr)`` -- lazy graph, streamed to zarr;
* abTEM direct: the same atoms, grid, probe, scan and detector built with abTEM's API and
  computed in memory with ``.compute()`` (how abTEM is usually run).
Printed: seconds and peak RSS [MiB] of each, and the ratios symbreak / abTEM.

    python bench/bench_simulate.py                   # all presets
    python bench/bench_simulate.py graphene-vacancy  # one preset
    python bench/bench_simulate.py --big             # + 128 x 128 probes of 128 x 128 px
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIG = dict(system="graphene", scan_shape=(128, 128), scan_step=0.2, detector_pixels=128,
           max_angle=64.0)


def job_options(name: str) -> tuple[str, dict]:
    if name == "big-128":
        options = dict(BIG)
        return options.pop("system"), options
    return name, {}


def run_symbreak(name: str, workdir: str) -> dict:
    import symbreak

    target, options = job_options(name)
    start = time.perf_counter()
    data = symbreak.simulate(target, out=Path(workdir) / f"{name}.zarr", progress=False,
                             **options)
    return {"seconds": time.perf_counter() - start, "shape": list(data.shape)}


def run_abtem(name: str, workdir: str) -> dict:
    import abtem
    import numpy as np

    from symbreak.simulation import plan
    from symbreak.simulation.engine import grid_scan

    target, options = job_options(name)
    settings, p = plan(target, **options)
    start = time.perf_counter()
    atoms = p.specimen.atoms.copy()
    del atoms.arrays["site_label"]
    if settings.phonons:
        atoms = abtem.FrozenPhonons(atoms, num_configs=settings.phonons,
                                    sigmas=settings.phonon_sigma, seed=settings.seed)
    potential = abtem.Potential(atoms, gpts=p.gpts[::-1], slice_thickness=p.slice_thickness,
                                parametrization=settings.parametrization)
    probe = abtem.Probe(energy=settings.energy, semiangle_cutoff=settings.semiangle,
                        defocus=settings.defocus)
    detector = abtem.PixelatedDetector(max_angle=p.read_angle)
    measurement = probe.scan(potential, scan=grid_scan(p), detectors=detector)
    if settings.source_size:
        measurement = measurement.gaussian_source_size(settings.source_size)
    if p.resample:
        measurement = measurement.interpolate(sampling=float(p.k_sampling[0]))
    measurement.compute(progress_bar=False)
    return {"seconds": time.perf_counter() - start,
            "shape": list(np.shape(measurement.array))}


def child(mode: str, name: str, workdir: str) -> None:
    import symbreak.simulation  # noqa: F401  (imports counted in the baseline)

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = (run_symbreak if mode == "symbreak" else run_abtem)(name, workdir)
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["baseline_mib"] = baseline
    print(json.dumps(result))


def measure(mode: str, name: str, workdir: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, name, workdir],
                         capture_output=True, text=True, env={**os.environ, "SYMBREAK_PROGRESS": "0"})
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*")
    parser.add_argument("--big", action="store_true", help="also 128 x 128 x 128 x 128")
    parser.add_argument("--no-reference", action="store_true", help="skip abTEM direct")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from symbreak.simulation.presets import PRESETS

    names = args.presets or list(PRESETS)
    if args.big:
        names.append("big-128")
    print(f"{'job':26s} {'shape':>20s} {'symbreak s':>10s} {'MiB':>7s} "
          f"{'abTEM s':>8s} {'MiB':>7s} {'time x':>7s} {'mem x':>6s}")
    for name in names:
        with tempfile.TemporaryDirectory() as workdir:
            ours = measure("symbreak", name, workdir)
            ref = {} if args.no_reference else measure("abtem", name, workdir)
        if "error" in ours:
            print(f"{name:26s} symbreak failed: {ours['error']}")
            continue
        shape = "x".join(str(n) for n in ours["shape"])
        line = f"{name:26s} {shape:>20s} {ours['seconds']:10.1f} {ours['peak_mib']:7.0f}"
        if ref and "error" not in ref:
            line += (f" {ref['seconds']:8.1f} {ref['peak_mib']:7.0f} "
                     f"{ours['seconds'] / ref['seconds']:7.2f} "
                     f"{ours['peak_mib'] / ref['peak_mib']:6.2f}")
        elif ref:
            line += f"  abTEM failed: {ref['error']}"
        print(line + f"   (imports: {ours['baseline_mib']:.0f} MiB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
