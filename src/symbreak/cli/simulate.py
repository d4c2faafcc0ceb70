"""``symbreak simulate``: 4D-STEM reference data with abTEM, written streaming to a file."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate 4D-STEM data (graphene, ZnS, a structure file) with abTEM",
        description="Simulate a 4D-STEM data set with abTEM and save it with calibration "
        "and ground truth. SYSTEM_OR_PRESET is a preset (see --list), graphene, zns, or a "
        "structure file ASE can read. Options override the preset's values.",
    )
    p.add_argument("system", nargs="?", metavar="SYSTEM_OR_PRESET", default=None)
    p.add_argument("--out", "-o", help="output .zarr or .h5")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted simulation into a .zarr (same options)")
    p.add_argument("--seed", type=int, default=0, help="seed of noise and frozen phonons")
    p.add_argument("--energy", type=float, help="beam energy [eV] (60 kV: 60e3)")
    p.add_argument("--semiangle", type=float, help="convergence semi-angle [mrad]")
    p.add_argument("--defocus", type=float, help="defocus [Å] (positive: underfocus)")
    p.add_argument("--cs", type=float, help="spherical aberration Cs [mm]")
    p.add_argument("--defect", help="vacancy, divacancy, or an element to substitute (Si, N, B)")
    p.add_argument("--defect-site", type=float, nargs=2, metavar=("Y", "X"),
                   help="defect position [Å]; the nearest atom is used")
    p.add_argument("--zone-axis", choices=("001", "110"), help="ZnS zone axis")
    p.add_argument("--thickness", type=int, help="unit cells along the beam (ZnS, files)")
    p.add_argument("--tiling", type=int, nargs=2, metavar=("NY", "NX"),
                   help="unit cells in the supercell (default: automatic)")
    p.add_argument("--max-angle", type=float, help="detector half-width [mrad]")
    p.add_argument("--detector-pixels", type=int, help="detector pixels per side")
    p.add_argument("--scan-cell", action="store_true",
                   help="scan one unit cell, made periodic (first row/column appended)")
    p.add_argument("--scan-region", type=float, nargs=4, metavar=("Y0", "X0", "Y1", "X1"),
                   help="scan region [Å]")
    p.add_argument("--scan-shape", type=int, nargs=2, metavar=("NY", "NX"),
                   help="probe positions")
    p.add_argument("--scan-step", type=float, help="probe step [Å]")
    p.add_argument("--source-size", type=float, help="Gaussian source size sigma [Å]")
    p.add_argument("--phonons", type=int, help="frozen-phonon configurations (0: none)")
    p.add_argument("--phonon-sigma", type=float, help="thermal rms displacement [Å]")
    p.add_argument("--dose", type=float, help="dose [e/Å^2] for Poisson noise")
    p.add_argument("--sampling", type=float, help="potential sampling [Å]")
    p.add_argument("--parametrization", choices=("lobato", "kirkland"))
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when stderr is a terminal)")
    p.set_defaults(func=run)


OPTION_NAMES = ("energy", "semiangle", "defocus", "cs", "defect", "zone_axis", "thickness",
                "max_angle", "detector_pixels", "scan_step", "source_size", "phonons",
                "phonon_sigma", "dose", "sampling", "parametrization")


def options_from(args: argparse.Namespace) -> dict:
    """The simulate() options given on the command line (None = not given)."""
    options = {name: getattr(args, name) for name in OPTION_NAMES
               if getattr(args, name) is not None}
    for name in ("defect_site", "tiling", "scan_shape", "scan_region"):
        value = getattr(args, name)
        if value is not None:
            options[name] = tuple(value)
    if args.scan_cell:
        options["scan_region"] = "cell"
    return options


def run(args: argparse.Namespace) -> int:
    from ..errors import SettingsError
    from ..simulation import describe_presets, simulate

    if args.list:
        for name, summary in describe_presets():
            print(f"{name}\n    {summary}")
        return 0
    if args.system is None or args.out is None:
        raise SettingsError(
            "give SYSTEM_OR_PRESET and --out PATH, e.g. `symbreak simulate graphene-vacancy "
            "--out vacancy.zarr` (`symbreak simulate --list` shows the presets)"
        )
    data = simulate(args.system, out=args.out, overwrite=args.overwrite, resume=args.resume,
                    progress=args.progress, seed=args.seed, **options_from(args))
    ny, nx, ky, kx = data.shape
    print(f"wrote {args.out}: {ny} x {nx} probes, {ky} x {kx} px", file=sys.stderr)
    return 0
