"""Bounds on every size a simulation derives from its settings, checked while the geometry
is planned and before anything is built: the probe positions and the scanned field, the
supercell, the slices, the potential's grid and the frozen-phonon configurations (memory
against the budget, work against a ceiling no workstation reaches), and the electrons per
probe. Each is refused with one line naming the option that set it, the size and the
limit. Light: no abTEM import.
"""

from __future__ import annotations

import math

from ..engine import COPIES_MULTISLICE, COPIES_POTENTIAL, COPIES_SOURCE_BLUR, placement
from ..engine.policy import Placement
from ..errors import SettingsError
from .settings import SimulationSettings

MAX_PROBES = 4096 * 4096  # probe positions of one simulated scan, padding included
MAX_SCAN_EXTENT = 1000.0  # [Å] of the scanned field per side (the supercell covers it)
MAX_SUPERCELL_EXTENT = 2000.0  # [Å] per side: the field, its margins, the detector's sampling
MAX_ATOMS = 5_000_000  # atoms of the supercell
MAX_SLICES = 10_000  # multislice slices (a 1 µm specimen in 1 Å slices)
MAX_GPTS = 16384  # potential grid points per side
MAX_WORK = 1e16  # floating-point operations of the multislice (months on a workstation)
MAX_OUTPUT = 256 * 2**30  # [bytes] of the simulated data set (float32 patterns)
MAX_ELECTRONS = 1e15  # incident electrons per probe position (dose x step area)


def check_scan(s: SimulationSettings, shape: tuple[int, int], step: tuple[float, float],
               pad: tuple[int, int]) -> None:
    """The probe grid (``shape`` computed positions, ``pad`` more on each side for the
    source size) and the field it spans, before the supercell is sized from it (the
    detector's pixels are bounded by the settings themselves)."""
    ny, nx = (int(n) + 2 * int(p) for n, p in zip(shape, pad))
    extent = max(ny * float(step[0]), nx * float(step[1]))
    what = _scan_options(s)
    output = int(shape[0] + 1) * int(shape[1] + 1) * s.detector_pixels ** 2 * 4
    if ny * nx > MAX_PROBES:
        raise SettingsError(
            f"{what} give a {ny:,} x {nx:,} probe scan{_padded(pad)}: more than "
            f"{MAX_PROBES:,} probes; give a larger scan_step, a smaller scan_shape or "
            "scan_region, or a smaller source_size")
    if extent > MAX_SCAN_EXTENT:
        raise SettingsError(
            f"{what} give a scanned field of {extent:,.4g} Å{_padded(pad)}, more than "
            f"{MAX_SCAN_EXTENT:,.0f} Å per side; scan a smaller region")
    if output > MAX_OUTPUT:
        raise SettingsError(
            f"{what} and detector_pixels={s.detector_pixels} give {shape[0]:,} x {shape[1]:,} "
            f"patterns of {s.detector_pixels} x {s.detector_pixels} px, about "
            f"{output / 2**30:,.0f} GiB, more than {MAX_OUTPUT / 2**30:.0f} GiB; give fewer "
            "probes or detector_pixels")


def _scan_options(s: SimulationSettings) -> str:
    names = ["scan_shape", "scan_step"] if s.scan_region is None else ["scan_region", "scan_step"]
    if s.scan_region == "cell":
        names = ["scan_step"] if s.scan_step is not None else ["scan_shape"]
        names.insert(0, "scan_region='cell' with")
    values = {"scan_shape": s.scan_shape, "scan_step": s.scan_step,
              "scan_region": s.scan_region}
    return " ".join(n if "=" in n else f"{n}={_plain(values[n])}" for n in names)


def _plain(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _padded(pad: tuple[int, int]) -> str:
    return "" if not any(pad) else f" (with {pad[0]} x {pad[1]} probes of padding for " \
                                   "source_size)"


def check_supercell(s: SimulationSettings, tiling: tuple[int, int],
                    cell: tuple[float, float], atoms_per_cell: int, repeat_z: int) -> None:
    """The supercell of ``tiling`` (y, x) cells of ``cell`` [Å] before it is built."""
    size = (tiling[0] * cell[0], tiling[1] * cell[1])
    atoms = tiling[0] * tiling[1] * atoms_per_cell * repeat_z
    reason = "tiling" if s.tiling else ("the scanned field and max_angle / detector_pixels "
                                        "(the detector's sampling) ask for")
    if max(size) > MAX_SUPERCELL_EXTENT or atoms > MAX_ATOMS:
        raise SettingsError(
            f"{reason} a supercell of {tiling[0]:,} x {tiling[1]:,} cells ({size[0]:,.4g} x "
            f"{size[1]:,.4g} Å, {atoms:,} atoms): more than {MAX_SUPERCELL_EXTENT:,.0f} Å per "
            f"side or {MAX_ATOMS:,} atoms; give a smaller tiling or scan, or a larger "
            "max_angle / fewer detector_pixels")


def check_slices(s: SimulationSettings, depth: float, thickness: float) -> int:
    """The number of slices of a specimen ``depth`` [Å] deep cut ``thickness`` [Å] thick."""
    slices = math.ceil(depth / thickness - 1e-9)
    if slices > MAX_SLICES:
        raise SettingsError(
            f"slice_thickness={thickness:g} cuts the {depth:.4g} Å deep specimen into "
            f"{slices:,} slices, more than {MAX_SLICES:,}; give a slice_thickness of at least "
            f"{depth / MAX_SLICES:.3g} Å (about 1 Å is usual)")
    return slices


WORKING_FLOOR = 256 * 2**20  # [bytes] held whatever the budget: a small budget chunks the
# output (one scan row per chunk), it does not forbid a small potential


def _too_big(held: Placement) -> bool:
    """True when what abTEM holds at once exceeds the budget and the working floor."""
    return held.streamed and held.need > WORKING_FLOOR


def check_grid(s: SimulationSettings, gpts: tuple[int, int], slices: int,
               probes: int) -> None:
    """The potential's grid (before abTEM allocates it): per side, the potential of every
    frozen-phonon configuration and one probe's working waves in the memory budget, and
    the multislice work within :data:`MAX_WORK`."""
    gy, gx = gpts
    cause = "sampling" if s.sampling is not None else "max_angle / detector_pixels"
    if max(gy, gx) > MAX_GPTS:
        raise SettingsError(
            f"{cause} ask for a potential grid of {gy:,} x {gx:,} points, more than {MAX_GPTS:,} "
            "per side; give a coarser sampling, a smaller max_angle or a smaller supercell")
    configs = max(1, s.phonons)
    potential = configs * slices * gy * gx * 4  # float32
    waves = configs * gy * gx * 8  # complex64, one probe in every configuration
    held = (placement(potential, COPIES_POTENTIAL), placement(waves, COPIES_MULTISLICE))
    if any(_too_big(p) for p in held):
        need = max(p.need for p in held)
        raise SettingsError(
            f"the potential and a probe's waves of {configs:,} configuration(s) (phonons="
            f"{s.phonons}) x {slices:,} slices{_slicing(s)} on {gy:,} x {gx:,} points need "
            f"about {need / 2**30:,.1f} GiB, more than the memory budget "
            "($SYMBREAK_MEMORY_BUDGET); give fewer phonons, a thicker "
            "slice_thickness, a coarser sampling or a smaller max_angle")
    work = probes * configs * slices * 10 * gy * gx * math.log2(max(2, gy * gx))
    if work > MAX_WORK:
        raise SettingsError(
            f"{probes:,} probes x {configs:,} configuration(s) (phonons={s.phonons}) x "
            f"{slices:,} slices{_slicing(s)} on a {gy:,} x {gx:,} grid are about {work:.2g} "
            f"floating-point operations, more than {MAX_WORK:.0g} (months of computing); give "
            "fewer probes, "
            "phonons or slices")


def check_source_blur(s: SimulationSettings, shape: tuple[int, int],
                      step: tuple[float, float], pad: tuple[int, int],
                      native_pixels: tuple[int, int]) -> None:
    """The block abTEM blurs at once for a finite source: the computed scan widened by
    4 sigma on each side (at most the scan again), patterns of ``native_pixels``
    (float32, the block and its filtered copy) in the memory budget."""
    if not s.source_size:
        return
    sides = [n + 2 * p for n, p in zip(shape, pad)]
    depth = [min(math.ceil(4 * s.source_size / d), n) for d, n in zip(step, sides)]
    block = math.prod(n + 2 * d for n, d in zip(sides, depth)) * math.prod(native_pixels) * 4
    if _too_big(placement(block, COPIES_SOURCE_BLUR)):
        raise SettingsError(
            f"source_size={s.source_size:g} blurs {sides[0] + 2 * depth[0]:,} x "
            f"{sides[1] + 2 * depth[1]:,} patterns of {native_pixels[0]} x {native_pixels[1]} "
            f"px at once, about {COPIES_SOURCE_BLUR * block / 2**30:,.1f} GiB, more than the memory budget "
            "($SYMBREAK_MEMORY_BUDGET); give a smaller source_size or scan, or 0")


def _slicing(s: SimulationSettings) -> str:
    return "" if s.slice_thickness is None else f" (slice_thickness={s.slice_thickness:g})"


def check_dose(s: SimulationSettings, step: tuple[float, float]) -> None:
    """Electrons per probe (``dose`` x the scan step's area) within :data:`MAX_ELECTRONS`."""
    if s.dose is None:
        return
    electrons = s.dose * step[0] * step[1]
    if electrons > MAX_ELECTRONS:
        raise SettingsError(
            f"dose={s.dose:g} e/Å^2 at {step[0]:.4g} x {step[1]:.4g} Å steps is {electrons:.3g} "
            f"electrons per probe, more than {MAX_ELECTRONS:.0g}; give a smaller dose, or "
            "none for noise-free patterns")
