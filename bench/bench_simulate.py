"""Time and peak memory of each simulation preset, against abTEM used directly.

Each job runs in a fresh subprocess (so peak RSS is its own):
* symbreak: ``symbreak.simulate(preset, out=<tmp>.zarr)`` -- lazy graph, streamed to zarr;
* abTEM direct: the same atoms, grid, probe, scan and detector built with abTEM's API and
  computed in memory with ``.compute()`` (how abTEM is usually run).
Both plan FFTs alike (importing symbreak.simulation sets abTEM's FFTW planning to
FFTW_ESTIMATE in both children) and import abTEM before the clock starts: the same work.
The two run in turn, ``--repeats`` rounds,
so a busy machine slows both alike. Printed per job: the fastest and slowest seconds and
the peak RSS [MiB] of each, and the per-round ratios symbreak / abTEM (min-max).

    python bench/bench_simulate.py                   # the demo's preset, 3 rounds
    python bench/bench_simulate.py --all             # every preset
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
    simulate = symbreak.simulate  # imports abTEM (and compiles its numba ufuncs): untimed,
    start = time.perf_counter()  # as for abTEM direct below
    data = simulate(target, out=Path(workdir) / f"{name}.zarr", progress=False, **options)
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
    parser.add_argument("presets", nargs="*", help="default: graphene-vacancy")
    parser.add_argument("--all", action="store_true", help="every preset")
    parser.add_argument("--big", action="store_true", help="also 128 x 128 x 128 x 128")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--no-reference", action="store_true", help="skip abTEM direct")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    from symbreak.simulation.presets import PRESETS

    names = list(PRESETS) if args.all else (args.presets or ["graphene-vacancy"])
    if args.big:
        names.append("big-128")
    from _machine import machine_line

    print(f"{machine_line()}; {args.repeats} interleaved rounds per job")
    print(f"{'job':26s} {'shape':>18s} {'symbreak s':>12s} {'MiB':>6s} "
          f"{'abTEM s':>12s} {'MiB':>6s} {'time x':>11s} {'mem x':>6s}")
    for name in names:
        print(compare(name, args.repeats, not args.no_reference), flush=True)
    return 0


def compare(name: str, repeats: int, reference: bool) -> str:
    """One line: symbreak and (if ``reference``) abTEM, run in turn ``repeats`` times."""
    ours, refs = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as workdir:
            ours.append(measure("symbreak", name, workdir))
            if reference:
                refs.append(measure("abtem", name, workdir))
    failed = [r["error"] for r in ours + refs if "error" in r]
    if failed:
        return f"{name:26s} failed: {failed[0]}"
    shape = "x".join(str(n) for n in ours[0]["shape"])
    line = f"{name:26s} {shape:>18s} {span([r['seconds'] for r in ours]):>12s} " \
           f"{max(r['peak_mib'] for r in ours):6.0f}"
    if refs:
        ratios = [o["seconds"] / r["seconds"] for o, r in zip(ours, refs)]
        memory = max(r["peak_mib"] for r in ours) / max(r["peak_mib"] for r in refs)
        line += (f" {span([r['seconds'] for r in refs]):>12s} "
                 f"{max(r['peak_mib'] for r in refs):6.0f} {span(ratios, '.2f'):>11s} "
                 f"{memory:6.2f}")
    return line + f"   (imports: {ours[0]['baseline_mib']:.0f} MiB)"


def span(values: list[float], fmt: str = ".1f") -> str:
    """'min-max' of ``values``."""
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


if __name__ == "__main__":
    sys.exit(main())
