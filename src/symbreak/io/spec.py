"""What to read: :class:`InputSpec` (file, reader, array, scan shape, trust) and
:class:`CalibrationOverrides` (values that replace the file's calibration).

Every command that reads a file takes the same options, generated from these fields
(:mod:`symbreak.cli.inputs`); :func:`symbreak.io.load` accepts an :class:`InputSpec`::

    spec = InputSpec("scan.raw", scan_shape=(64, 64),
                     calibration=CalibrationOverrides(energy=60e3, semiangle=32.0))
    data = load(spec)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..options import check_fields, setting
from ..quantities import parse_angle, parse_energy


@dataclasses.dataclass(frozen=True)
class CalibrationOverrides:
    """Calibration values that replace the file's (recorded with source ``"user"``);
    ``None`` keeps the file's value."""

    energy: float | None = setting(None, kind=float, above=0.0, unit="eV", parse=parse_energy,
                                   metavar="E", help="beam energy: 60kV, 300keV or a plain "
                                   "number of eV (60000)")
    semiangle: float | None = setting(None, kind=float, above=0.0, unit="mrad", metavar="MRAD",
                                      help="probe convergence semi-angle")
    scan_step: tuple[float, float] | None = setting(
        None, kind=float, length=2, scalar_pair=True, above=0.0, unit="Å",
        help="scan step: one number or Y,X")
    angular_sampling: tuple[float, float] | None = setting(
        None, kind=float, length=2, scalar_pair=True, above=0.0, unit="mrad/px",
        metavar="KY,KX", help="detector sampling: one number or KY,KX")
    k_sampling: tuple[float, float] | None = setting(
        None, kind=float, length=2, scalar_pair=True, above=0.0, unit="1/Å per px",
        metavar="KY,KX", help="detector sampling: one number or KY,KX")
    detector_center: tuple[float, float] | None = setting(
        None, kind=float, length=2, scalar_pair=True, unit="px", metavar="KY,KX",
        help="undeflected beam position on the detector")
    scan_rotation: float | None = setting(None, kind=float, unit="rad", parse=parse_angle,
                                          metavar="ANGLE", help="scan-to-detector rotation: "
                                          "12deg or radians")
    scan_flip: bool | None = setting(None, kind=bool, help="scan y is mirrored relative to "
                                     "the detector (default: the file's)")

    def __post_init__(self) -> None:
        check_fields(self)

    def given(self) -> dict[str, Any]:
        """The overrides that are set, as keywords of :func:`symbreak.io.load`."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """A data file and how to read it.

    Parameters
    ----------
    path
        File or zarr store.
    format
        Force a reader by name (``"zarr"``, ``"emd"``, ``"raw"``, ...); default: by suffix
        and content.
    dataset
        Which array to read where a file holds several (HDF5 / zarr path, or signal
        index for RosettaSciIO formats).
    scan_shape
        (ny, nx) to reshape a 3-D stack of patterns (n, ky, kx) into a scan.
    allow_external
        Follow references to other files (HDF5 external links, virtual datasets,
        external raw storage); off: refused.
    missing_chunks
        zarr stores: ``"auto"``, ``"refuse"`` or ``"zeros"`` (see :func:`symbreak.io.load`).
    calibration
        Values that replace the file's calibration.
    """

    path: str | os.PathLike
    format: str | None = setting(None, kind=str, metavar="NAME",
                                 help="force a reader (see docs/formats.md)")
    dataset: str | None = setting(None, kind=str, metavar="NAME",
                                  help="array inside the file (HDF5/zarr path, signal index)")
    scan_shape: tuple[int, int] | None = setting(None, kind=int, length=2, minimum=1,
                                                 metavar="NY,NX",
                                                 help="reshape a stack of patterns into a scan")
    allow_external: bool = setting(False, help="follow HDF5 external links, virtual "
                                   "datasets and external raw storage that point outside "
                                   "the file (off: refused)")
    missing_chunks: str = setting("auto", choices=("auto", "refuse", "zeros"),
                                  help="zarr chunks missing from the store: auto refuses a "
                                  "store symbreak wrote and warns for others, refuse refuses "
                                  "any, zeros reads them as zero patterns (warned)")
    calibration: CalibrationOverrides = CalibrationOverrides()

    def __post_init__(self) -> None:
        check_fields(self)

    def load_options(self) -> dict[str, Any]:
        """Keywords of :func:`symbreak.io.load` (reader options and calibration)."""
        options = {"format": self.format, "dataset": self.dataset,
                   "scan_shape": self.scan_shape, "allow_external": self.allow_external,
                   "missing_chunks": self.missing_chunks}
        return {**options, **self.calibration.given()}
