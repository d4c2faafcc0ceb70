"""Planning: settings + a description of the data -> the resolved plan. Pure: no I/O.

``describe`` measures what the defaults need from the data (disk radius, centre and the
largest full circle on the detector, from the mean pattern); :func:`plan` fills every
setting left to the data and lists the stages to run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import preprocess as pp
from ..calibration import Calibration
from ..dataset import Dataset4D
from ..settings import AnalyzeSettings
from .stages import Stage, analysis_stages

ADF_INNER_PER_ALPHA = 1.5  # ADF inner angle [semi-angles], at most halfway to the outer
ADF_OUTER_PER_ALPHA = 3.0  # ADF outer angle [semi-angles], capped at the detector edge
ADF_MIN_OUTER_PER_ALPHA = 1.1  # the ADF keeps a ring beyond the disk on small detectors


@dataclasses.dataclass(frozen=True)
class DataDescription:
    """What planning needs to know about the data, measured once.

    Parameters
    ----------
    scan_shape, pattern_shape
        (scan_y, scan_x) and (ky, kx) [px].
    calibration
        The data's calibration.
    disk_radius_px
        Bright-field disk radius [px].
    edge_px
        Radius [px] of the largest full circle around the detector centre.
    """

    scan_shape: tuple[int, int]
    pattern_shape: tuple[int, int]
    calibration: Calibration
    disk_radius_px: float
    edge_px: float


def describe(data: Dataset4D, mean: np.ndarray) -> DataDescription:
    """The :class:`DataDescription` of ``data`` with its mean pattern ``mean``."""
    cal = data.calibration
    cy, cx = cal.detector_center or pp.pattern_center(mean)
    ky, kx = data.pattern_shape
    return DataDescription(
        scan_shape=tuple(data.scan_shape), pattern_shape=(ky, kx), calibration=cal,
        disk_radius_px=pp.disk_radius(mean, cal),
        edge_px=min(cy, cx, ky - 1 - cy, kx - 1 - cx),
    )


@dataclasses.dataclass(frozen=True)
class Plan:
    """Resolved settings (nothing left to the data) and the stages to run, in order."""

    settings: AnalyzeSettings
    stages: tuple[Stage, ...]


def plan(settings: AnalyzeSettings, description: DataDescription) -> Plan:
    """Fill in settings left to the data: the crop from the disk, the detectors from the
    semi-angle (mrad when the detector is calibrated, else px)."""
    return Plan(with_data_defaults(settings, description), analysis_stages())


def with_data_defaults(settings: AnalyzeSettings, d: DataDescription) -> AnalyzeSettings:
    """``settings`` with every value left as None for the data filled in."""
    options: dict[str, Any] = {}
    if settings.preprocess.crop is None:
        options["crop"] = pp.crop_for_disk(d.disk_radius_px, d.pattern_shape)
    det = settings.detectors
    units = det.detector_units or ("mrad" if d.calibration.angular_sampling is not None else "px")
    options["detector_units"] = units
    if det.bf is None or det.adf is None:
        alpha, edge = _disk_and_edge(d, units)
        if det.bf is None:
            options["bf"] = (0.0, round(alpha, 4))
        if det.adf is None:
            outer = max(min(ADF_OUTER_PER_ALPHA * alpha, edge), ADF_MIN_OUTER_PER_ALPHA * alpha)
            inner = min(ADF_INNER_PER_ALPHA * alpha, (alpha + outer) / 2)
            options["adf"] = (round(inner, 4), round(outer, 4))
    return settings.replace(**options)


def _disk_and_edge(d: DataDescription, units: str) -> tuple[float, float]:
    """Bright-field disk radius and the largest full circle on the detector, in ``units``."""
    cal = d.calibration
    scale = float(np.mean(cal.angular_sampling)) if units == "mrad" else 1.0
    if units == "mrad" and cal.semiangle is not None:
        return cal.semiangle, d.edge_px * scale
    return d.disk_radius_px * scale, d.edge_px * scale
