""":func:`simulate` and :func:`plan`: settings -> geometry -> lazy abTEM measurement."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import abtem
import ase

from ..calibration import Calibration, electron_wavelength
from ..dataset import Dataset4D
from ..errors import SettingsError
from ..io import load
from ..storage.atomic import check_output
from ..io.stream import write_output
from . import engine
from .noise import add_poisson_noise
from .geometry import Plan, make_plan
from .settings import SimulationSettings, simulation_settings
from .truth import ground_truth

__all__ = ["simulate", "plan"]


def plan(system_or_preset: str | os.PathLike = "graphene-vacancy", **options: Any
         ) -> tuple[SimulationSettings, Plan]:
    """Validate options and fix the geometry without computing anything.

    Returns the validated :class:`SimulationSettings` and the
    :class:`~symbreak.simulation.geometry.Plan`
    (supercell, probe positions, grids); raises SettingsError on bad input, and on any
    size derived from it beyond :mod:`symbreak.simulation.bounds`.
    """
    settings = simulation_settings(system_or_preset, options)
    return settings, make_plan(settings)


def simulate(
    system_or_preset: str | os.PathLike = "graphene-vacancy",
    *,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    seed: int = 0,
    **options: Any,
) -> Dataset4D:
    """Simulate a 4D-STEM data set with abTEM.

    Parameters
    ----------
    system_or_preset
        A preset (``graphene-cell``, ``graphene-cell-incoherent``, ``graphene-vacancy``,
        ``graphene-perfect``, ``graphene-si``, ``graphene-vacancy-si``, ``graphene-n``,
        ``graphene-b``, ``hbn-perfect``, ``hbn-c``, ``hbn-vacancy``, ``zns-110``), a
        system (``graphene``, ``hbn``, ``zns``) or the path of a structure file ASE can
        read.
        Options override the preset's.
    out
        Write the result there (``.zarr`` or ``.h5``), streaming, and return the data
        loaded back from the file.
    overwrite
        Replace an existing ``out``.
    resume
        Continue writing a zarr ``out`` that an earlier run with the same options left
        unfinished (killed): the chunks already written are kept, the rest computed; the
        result is the same bytes as an uninterrupted run.
    progress
        Progress bar while saving (default: when stderr is a terminal).
    seed
        Seed of the frozen phonons and of the Poisson noise.
    **options
        See docs/simulation.md: ``energy`` [eV], ``semiangle`` [mrad], ``defocus`` [Å],
        ``cs`` [mm], ``max_angle`` [mrad], ``detector_pixels``, ``scan_region``,
        ``scan_shape``, ``scan_step`` [Å], ``defect``, ``defect_site``, ``defects``
        (several: ``((kind, site), ...)``), ``tiling``,
        ``zone_axis``, ``thickness``, ``source_size`` [Å], ``phonons``,
        ``phonon_sigma`` [Å], ``dose`` [e/Å^2], ``sampling`` [Å], ``slice_thickness``
        [Å], ``parametrization``.

    Returns
    -------
    Dataset4D
        Lazy float32 data (scan_y, scan_x, ky, kx): beam-normalised intensities, or
        electron counts when ``dose`` is given; calibration from the simulation and
        ``ground_truth``.
    """
    if out is not None:
        check_output(Path(out).expanduser(), overwrite)
    elif resume:
        raise SettingsError("resume=True continues writing an output: give out=PATH.zarr, "
                            "the output of the interrupted run")
    data = _dataset(*plan(system_or_preset, seed=seed, **options))
    if out is None:
        return data
    path = write_output(data, out, overwrite=overwrite, resume=resume, progress=progress,
                        what="simulate")
    return load(path)


def _dataset(settings: SimulationSettings, geometry: Plan) -> Dataset4D:
    """The lazy measurement (with Poisson noise when a dose is given) and its records."""
    array = engine.measurement(geometry, settings)
    if settings.dose is not None:
        array = add_poisson_noise(array, settings.dose, geometry.scan_step, settings.seed)
    return Dataset4D(
        array=array,
        calibration=_calibration(geometry, settings),
        metadata=_metadata(geometry, settings),
        provenance=({"step": "simulate", "settings": settings.to_dict(),
                     "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},),
        ground_truth=ground_truth(geometry),
    )


def _calibration(geometry: Plan, s: SimulationSettings) -> Calibration:
    wavelength = electron_wavelength(s.energy)
    n = s.detector_pixels
    values = dict(
        energy=s.energy,
        semiangle=s.semiangle,
        scan_step=geometry.scan_step,
        k_sampling=geometry.k_sampling,
        angular_sampling=tuple(k * wavelength * 1e3 for k in geometry.k_sampling),
        detector_center=(float(n // 2), float(n // 2)),
        scan_rotation=0.0,
        scan_flip=False,
    )
    return Calibration(**values, sources={k: "simulation" for k in values})


def _metadata(geometry: Plan, s: SimulationSettings) -> dict[str, Any]:
    specimen = geometry.specimen
    return {
        "simulation": {
            "settings": s.to_dict(),
            "supercell": {"extent_yx": list(specimen.extent), "tiling_yx": list(specimen.tiling),
                          "unit_cell_yx": list(specimen.unit_cell), "atoms": len(specimen.atoms)},
            "potential_gpts_yx": list(geometry.gpts),
            "native_k_sampling": list(geometry.native_k_sampling),
            "resampled": geometry.resample,
            "slice_thickness": geometry.slice_thickness,
            "units": "beam-normalised intensity" if s.dose is None else "electron counts",
            "abtem_version": abtem.__version__,
            "ase_version": ase.__version__,
        }
    }
