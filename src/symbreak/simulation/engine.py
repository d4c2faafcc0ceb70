"""The abTEM side: potential, probe, scan and detector as one lazy dask graph.

Nothing is computed here. The returned array has symbreak's axis order
(scan_y, scan_x, ky, kx) and float32 intensities normalised to the incident beam (a
pattern sums to the fraction of electrons scattered inside the detector).

Importing this module sets abTEM's FFTW planning to ``FFTW_ESTIMATE``: abTEM's default,
``FFTW_MEASURE``, times candidate FFT algorithms and keeps the fastest, so the plan (and
the last bits of every pattern) depend on the machine's load, and the same settings gave
different bytes in different processes. A simulation must be reproducible.
"""

from __future__ import annotations

import abtem
import dask.array as da
import numpy as np

from ..engine import COPIES_MULTISLICE, items_within
from ..errors import SettingsError
from .geometry import Plan
from .settings import SimulationSettings

FFTW_PLANNING = "FFTW_ESTIMATE"  # deterministic plans: the same bytes in every process
abtem.config.set({"fftw.planning_effort": FFTW_PLANNING})


def potential(plan: Plan, s: SimulationSettings) -> abtem.Potential:
    """The abTEM potential of the supercell (frozen phonons when asked, seeded)."""
    atoms = plan.specimen.atoms.copy()
    for name in list(atoms.arrays):
        if name not in ("numbers", "positions"):
            del atoms.arrays[name]
    if s.phonons:
        atoms = abtem.FrozenPhonons(atoms, num_configs=s.phonons, sigmas=s.phonon_sigma,
                                    ensemble_mean=True, seed=s.seed)
    gy, gx = plan.gpts
    return abtem.Potential(atoms, gpts=(gx, gy), slice_thickness=plan.slice_thickness,
                           parametrization=s.parametrization, projection="infinite")


def shared_potential(pot: abtem.Potential) -> abtem.PotentialArray:
    """The potential as one lazy array that every scan chunk shares: abTEM otherwise
    rebuilds the slices inside each chunk of probes (bitwise the same result, measured
    1.4 x faster on ZnS [110] with 6 chunks)."""
    return pot.build(lazy=True)


def probe(pot: abtem.Potential, s: SimulationSettings) -> abtem.Probe:
    """The probe on the potential's grid; ``cs`` is converted from mm to abTEM's Å."""
    p = abtem.Probe(energy=s.energy, semiangle_cutoff=s.semiangle, defocus=s.defocus,
                    Cs=s.cs * 1e7)
    p.grid.match(pot)
    return p


def grid_scan(plan: Plan) -> abtem.GridScan:
    """The computed probe positions, padded for the source size, in abTEM's (x, y)."""
    (py, px), (sy, sx) = plan.source_pad, plan.scan_step
    ny, nx = plan.scan_gpts
    y0 = plan.scan_start[0] - py * sy
    x0 = plan.scan_start[1] - px * sx
    gy, gx = ny + 2 * py, nx + 2 * px
    return abtem.GridScan(start=(x0, y0), end=(x0 + gx * sx, y0 + gy * sy), gpts=(gx, gy),
                          endpoint=False)


def max_batch(plan: Plan, s: SimulationSettings) -> int:
    """Probes per dask chunk: a batch of complex64 waves (one per frozen-phonon
    configuration) times its working copies fits the memory budget
    (:data:`~symbreak.engine.policy.COPIES_MULTISLICE`), at most 256."""
    wave = 8 * plan.gpts[0] * plan.gpts[1]
    configs = max(1, s.phonons)
    return int(min(256, items_within(wave * configs, COPIES_MULTISLICE)))


def check_cutoff(pr: abtem.Probe, plan: Plan, s: SimulationSettings) -> None:
    """abTEM's own antialias cutoff must reach the detector's corner (no aliasing)."""
    cutoff = min(pr.cutoff_angles)
    wavelength = pr.wavelength
    half = [s.detector_pixels / 2 * k * wavelength * 1e3 for k in plan.k_sampling]
    corner = float(np.hypot(*half))
    if cutoff < corner:
        raise SettingsError(
            f"the potential grid {plan.gpts} (sampling "
            f"{plan.specimen.extent[1] / plan.gpts[1]:.4g} Å) cuts scattering off at "
            f"{cutoff:.4g} mrad but the detector reaches {corner:.4g} mrad; use a finer "
            "sampling, a smaller max_angle or fewer detector_pixels"
        )


def measurement(plan: Plan, s: SimulationSettings) -> da.Array:
    """Lazy float32 intensities (scan_y, scan_x, ky, kx) before noise."""
    pot = potential(plan, s)
    pr = probe(pot, s)
    check_cutoff(pr, plan, s)
    detector = abtem.PixelatedDetector(max_angle=plan.read_angle)
    m = pr.scan(shared_potential(pot), scan=grid_scan(plan), detectors=detector, lazy=True,
                max_batch=max_batch(plan, s))
    if s.source_size:
        m = m.gaussian_source_size(s.source_size)
    if plan.resample:
        m = m.interpolate(sampling=float(plan.k_sampling[0]))
    array = m.array.transpose(1, 0, 3, 2)  # abTEM (x, y, kx, ky) -> (y, x, ky, kx)
    array = _crop_detector(array, s.detector_pixels)
    (py, px) = plan.source_pad
    if py or px:
        array = array[py : array.shape[0] - py, px : array.shape[1] - px]
    if plan.periodic_append:
        array = da.concatenate([array, array[:1]], axis=0)
        array = da.concatenate([array, array[:, :1]], axis=1)
    return array.astype(np.float32)


def _crop_detector(array: da.Array, n: int) -> da.Array:
    """Keep ``n`` x ``n`` pixels with the zero angle (abTEM: index size // 2) at n // 2."""
    ky, kx = array.shape[-2:]
    if ky < n or kx < n:
        raise SettingsError(
            f"abTEM produced {ky} x {kx} detector pixels, fewer than detector_pixels={n}; "
            "enlarge the supercell (tiling) or reduce detector_pixels"
        )
    y0, x0 = ky // 2 - n // 2, kx // 2 - n // 2
    return array[..., y0 : y0 + n, x0 : x0 + n]
