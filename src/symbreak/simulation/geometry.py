"""The geometry of a simulation, fixed before anything is computed: the specimen
supercell, the probe positions, the real-space grid and the detector.

Conventions: positions are (y, x) [Å] in the supercell, y along the second cell vector
(scan rows), x along the first (scan columns). abTEM orders everything (x, y); the engine
transposes.
"""

from __future__ import annotations

import dataclasses
import math

import ase
import numpy as np

from ..calibration import electron_wavelength
from ..errors import SettingsError
from . import bounds
from .settings import MONOLAYERS, SimulationSettings, defect_kind
from .structures import (
    Specimen,
    add_defect,
    graphene_cell,
    hbn_cell,
    read_structure,
    supercell,
    zincblende_cell,
)

PROBE_MARGIN = 4.0  # [Å] of specimen kept around the scan so probe tails do not wrap
ANTIALIAS = 2.0 / 3.0  # abTEM's antialias aperture (fraction of Nyquist)
DETECTOR_MARGIN_PX = 2  # native pixels read beyond the output detector before resampling
# Automatic sampling of thick (multislice) specimens [Å]: the Zn-S pattern difference on
# ZnS [110] moved 15 % -> 17 % -> 18 % at 0.15 / 0.1 / 0.06 Å; one slice (graphene) needs
# only the detector's angle.
MULTISLICE_SAMPLING = 0.08


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything the engine needs, in Å, mrad and pixels."""

    specimen: Specimen
    gpts: tuple[int, int]  # real-space grid (y, x)
    scan_start: tuple[float, float]  # (y, x) [Å] of the first computed probe
    scan_step: tuple[float, float]  # (y, x) [Å]
    scan_gpts: tuple[int, int]  # computed probe positions (y, x), before padding/appending
    source_pad: tuple[int, int]  # probes computed beyond each edge for the source blur
    periodic_append: bool  # append the first row and column (one cell made periodic)
    native_k_sampling: tuple[float, float]  # (ky, kx) [1/Å per px]
    k_sampling: tuple[float, float]  # output (ky, kx) [1/Å per px]
    resample: bool
    read_angle: float  # angle abTEM's detector keeps before resampling [mrad]
    slice_thickness: float  # [Å]

    @property
    def output_scan_shape(self) -> tuple[int, int]:
        extra = 1 if self.periodic_append else 0
        return (self.scan_gpts[0] + extra, self.scan_gpts[1] + extra)

    def probe_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(y, x) [Å] of the output probes, each of shape ``output_scan_shape``; an appended
        row/column repeats the first one's position shifted by one cell."""
        ny, nx = self.output_scan_shape
        y = self.scan_start[0] + self.scan_step[0] * np.arange(ny)
        x = self.scan_start[1] + self.scan_step[1] * np.arange(nx)
        return np.meshgrid(y, x, indexing="ij")


def build_specimen(s: SimulationSettings, tiling: tuple[int, int]) -> Specimen:
    """The supercell with its defects; ``tiling`` is (y, x) unit cells."""
    cell, repeat_z = unit_cell(s)
    lengths = cell.cell.lengths()
    atoms = supercell(cell, tiling, repeat_z)
    specimen = Specimen(atoms=atoms, unit_cell=(float(lengths[1]), float(lengths[0])),
                        tiling=tiling)
    for name, site in s.defect_list:
        kind = defect_kind(name)
        element = name if kind == "substitution" else None
        specimen = add_defect(specimen, kind, site, element)
    return specimen


def unit_cell_size(s: SimulationSettings) -> tuple[float, float]:
    """(y, x) size of the rectangular unit cell [Å] without building the supercell."""
    lengths = unit_cell(s)[0].cell.lengths()
    return (float(lengths[1]), float(lengths[0]))


def unit_cell(s: SimulationSettings) -> tuple[ase.Atoms, int]:
    """The orthogonal unit cell of the system and how often it repeats along the beam."""
    if s.system == "graphene":
        return graphene_cell(), 1
    if s.system == "hbn":
        return hbn_cell(), 1
    if s.system == "zns":
        return zincblende_cell(s.zone_axis), s.thickness
    return read_structure(s.system), s.thickness


def make_plan(s: SimulationSettings) -> Plan:
    """Validate the geometry of ``s`` and fix every size; raises SettingsError."""
    wavelength = electron_wavelength(s.energy)
    atoms, repeat_z = unit_cell(s)
    cell = (float(atoms.cell.lengths()[1]), float(atoms.cell.lengths()[0]))
    shape, step, window = _scan_geometry(s, cell)
    pad = _source_pad(s, step)
    bounds.check_scan(s, shape, step, pad)
    bounds.check_dose(s, step)
    tiling = s.tiling or _auto_tiling(s, cell, window, pad, step, wavelength)
    bounds.check_supercell(s, tiling, cell, len(atoms), repeat_z)
    native = (1 / (tiling[0] * cell[0]), 1 / (tiling[1] * cell[1]))
    if s.max_angle is None:
        k_out, resample = native, False
    else:
        k = s.max_angle * 2 / s.detector_pixels * 1e-3 / wavelength
        _check_native_finer(native, k, s, wavelength, cell)
        resample = not all(math.isclose(n, k, rel_tol=1e-9) for n in native)
        k_out = (k, k)
    specimen = build_specimen(s, tiling)
    extent = specimen.extent
    start = _scan_start(s, specimen, shape, step)
    _check_scan_inside(start, shape, step, pad, extent, s)
    half = tuple(s.detector_pixels / 2 * k * wavelength * 1e3 for k in k_out)
    read_angle = max(half) + DETECTOR_MARGIN_PX * max(native) * wavelength * 1e3
    corner = math.hypot(*half) + max(native) * wavelength * 1e3
    thickness = s.slice_thickness or (2.0 if s.system in MONOLAYERS else 1.0)
    slices = bounds.check_slices(s, specimen.atoms.cell.lengths()[2], thickness)
    lengths = atoms.cell.lengths()
    basis = (atoms.positions[:, 1] / lengths[1], atoms.positions[:, 0] / lengths[0])  # (y, x)
    gpts = _grid(s, extent, corner, wavelength, multislice=slices > 1, tiling=tiling,
                 basis=basis)
    probes = math.prod(n + 2 * p for n, p in zip(shape, pad))
    bounds.check_grid(s, gpts, slices, probes)
    bounds.check_source_blur(s, shape, step, pad, tuple(  # type: ignore[arg-type]
        2 * math.ceil(read_angle / (n * wavelength * 1e3)) + 1 for n in native))
    return Plan(
        specimen=specimen, gpts=gpts, scan_start=start, scan_step=tuple(step),
        scan_gpts=tuple(shape), source_pad=pad,
        periodic_append=s.scan_region == "cell" and s.periodic,
        native_k_sampling=native, k_sampling=k_out, resample=resample,
        read_angle=read_angle, slice_thickness=thickness,
    )


def _scan_geometry(s: SimulationSettings, cell
                   ) -> tuple[tuple[int, int], tuple[float, float], tuple]:
    """Probe grid shape, step [Å] and the extent [Å] the supercell must hold (from 0)."""
    if s.scan_region == "cell":
        shape = s.scan_shape if s.scan_step is None else tuple(
            max(1, round(c / d)) for c, d in zip(cell, s.scan_step))
        return shape, tuple(c / n for c, n in zip(cell, shape)), cell
    if s.scan_region is None:
        shape, step = s.scan_shape, s.scan_step
        return shape, step, tuple(n * d for n, d in zip(shape, step))
    y0, x0, y1, x1 = s.scan_region
    step = s.scan_step
    shape = (max(1, round((y1 - y0) / step[0])), max(1, round((x1 - x0) / step[1])))
    return shape, step, (y1, x1)  # the region starts at its offset


def _source_pad(s: SimulationSettings, step) -> tuple[int, int]:
    if s.source_size == 0 or s.scan_region == "cell":
        return (0, 0)  # a cell scan is periodic: the blur wraps around exactly
    return tuple(int(math.ceil(4 * s.source_size / d)) for d in step)  # type: ignore[return-value]


def _auto_tiling(s, cell, window, pad, step, wavelength) -> tuple[int, int]:
    need = [w + 2 * p * d + 2 * PROBE_MARGIN for w, p, d in zip(window, pad, step)]
    if s.max_angle is not None:
        k = s.max_angle * 2 / s.detector_pixels * 1e-3 / wavelength
        need = [max(n, 1 / k) for n in need]
    return tuple(max(1, math.ceil(n / c - 1e-9)) for n, c in zip(need, cell))  # type: ignore


def _scan_start(s: SimulationSettings, specimen: Specimen, shape, step) -> tuple[float, float]:
    if s.scan_region == "cell":
        ty, tx = specimen.tiling
        return ((ty // 2) * specimen.unit_cell[0], (tx // 2) * specimen.unit_cell[1])
    if s.scan_region is None:
        if specimen.defects:
            centre = _defects_centre(specimen, several=len(s.defect_list) > 1)
        else:
            centre = (specimen.extent[0] / 2, specimen.extent[1] / 2)
        return tuple(c - (n // 2) * d for c, n, d in zip(centre, shape, step))  # type: ignore
    return (s.scan_region[0], s.scan_region[1])


def _defects_centre(specimen: Specimen, several: bool) -> tuple[float, float]:
    """(y, x) [Å]: the first site of one defect (a divacancy's chosen atom), or the mean
    of every site of several defects (minimum image about the first site)."""
    sites = np.array([d[:2] for d in specimen.defects], float)
    if not several:
        return (float(sites[0, 0]), float(sites[0, 1]))
    size = np.asarray(specimen.extent)
    delta = sites - sites[0]
    delta -= size * np.round(delta / size)
    return tuple(float(v) for v in (sites[0] + delta.mean(axis=0)) % size)  # type: ignore


def _check_scan_inside(start, shape, step, pad, extent, s: SimulationSettings) -> None:
    for axis, name in enumerate(("y", "x")):
        lo = start[axis] - pad[axis] * step[axis]
        hi = start[axis] + (shape[axis] - 1 + pad[axis]) * step[axis]
        if lo < -1e-9 or hi >= extent[axis] - 1e-9:
            raise SettingsError(
                f"the scan region spans {name} = {lo:.4g} .. {hi:.4g} Å (with "
                f"{pad[axis]} probes of padding for the source size), outside the supercell "
                f"[0, {extent[axis]:.4g}) Å; move or shrink scan_region/scan_shape, or enlarge "
                f"tiling (now {s.tiling})"
            )


def _check_native_finer(native, k, s: SimulationSettings, wavelength, cell) -> None:
    for n, c, name in zip(native, cell, ("y", "x")):
        if n > k * (1 + 1e-9):
            need = math.ceil(1 / k / c - 1e-9)
            raise SettingsError(
                f"the supercell is too small along {name} for the detector: its reciprocal "
                f"sampling {n * wavelength * 1e3:.4g} mrad/px is coarser than the requested "
                f"{k * wavelength * 1e3:.4g} mrad/px (2 x max_angle / detector_pixels); use "
                f"tiling of at least {need} cells along {name}, fewer detector_pixels or a "
                "larger max_angle"
            )


def _grid(s: SimulationSettings, extent, corner_mrad: float, wavelength: float,
          multislice: bool, tiling: tuple[int, int] = (1, 1),
          basis: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[int, int]:
    """Real-space grid points (y, x) whose antialias cutoff reaches ``corner_mrad``;
    with more than one slice also no coarser than MULTISLICE_SAMPLING.

    The automatic grid is a whole number of points per unit cell along each axis (times
    the ``tiling``), so that every lattice-equivalent atom sits at the same place
    relative to the grid: a grid incommensurate with the cell samples each atom's sharp
    potential core at a different sub-pixel offset, and the "perfect" crystal's
    lattice-equivalent atoms then scatter differently to high angles (1.3-3.3 sigma of
    the ideal observer at 1e5 e/Å² on graphene), which reads as symmetry breaking. Where
    a count per cell within 2x puts every atom of the cell's ``basis`` (fractional (y, x)
    coordinates) on a grid point as well, it is taken, so that atoms related by the
    crystal's own symmetry (graphene's A and B) are sampled alike too."""
    max_sampling = ANTIALIAS * wavelength / (2 * corner_mrad * 1e-3)
    if s.sampling is not None:
        if s.sampling > max_sampling * (1 + 1e-9):
            raise SettingsError(
                f"sampling {s.sampling:g} Å is too coarse for the detector: abTEM's antialias "
                f"cutoff would be {ANTIALIAS * wavelength / (2 * s.sampling) * 1e3:.4g} mrad "
                f"but the detector reaches {corner_mrad:.4g} mrad (corner); use sampling <= "
                f"{max_sampling:.4g} Å, or a smaller max_angle / fewer detector_pixels"
            )
        return tuple(int(math.ceil(e / s.sampling)) for e in extent)  # type: ignore
    auto = min(max_sampling, MULTISLICE_SAMPLING) if multislice else max_sampling
    # +2: abTEM's cutoff is an integer number of pixels; keep clear of rounding
    fractions = basis if basis is not None else (np.zeros(1), np.zeros(1))
    return tuple(_commensurate(math.ceil(e / auto) + 2, t, f)  # type: ignore
                 for e, t, f in zip(extent, tiling, fractions))


def _commensurate(n: int, cells: int, fractions: np.ndarray) -> int:
    """Grid points along one axis: a multiple m x ``cells`` >= n; of the m up to 2x the
    least, the first that puts every atom (``fractions`` of the cell) on a grid point,
    a fast FFT length if one does; else the least m."""
    cells = max(int(cells), 1)
    least = -(-n // cells)
    f = np.asarray(fractions, float) % 1.0
    exact = [m for m in range(least, 2 * least + 1)
             if np.max(np.abs(f * m - np.round(f * m))) < 1e-3]
    fast = [m for m in exact if _fft_size(m * cells) == m * cells]
    return (fast or exact or [least])[0] * cells


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT lengths)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1
