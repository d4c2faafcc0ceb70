"""Planning: settings + a description of the data -> the resolved plan. Pure: no I/O.

:data:`STAGES` is the order of the analysis, the one place that lists its stages.
``describe`` measures what the defaults need from the data (disk radius, centre and the
largest full circle on the detector, from the mean pattern); :func:`plan` fills every
setting left to the data and checks that each stage's needs are made by earlier stages.

Adding a stage: write its module (its schema entries and a :class:`~.context.Stage` that
declares what it needs, produces and returns) and put the stage in :data:`STAGES`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

import numpy as np

from ..preprocess import patterns as pp
from ..calibration import Calibration
from ..dataset import Dataset4D
from ..errors import SettingsError
from .settings import AnalyzeSettings
from . import explorer_stage, pattern_stage, sites_stage, symmetry_stage
from . import stages as core
from .context import Stage

STAGES: tuple[Stage, ...] = (
    core.VIRTUAL,
    core.COM,
    core.PREPROCESSING,
    core.PCA,
    core.RRVAE,
    explorer_stage.STAGE,
    pattern_stage.STAGE,
    symmetry_stage.STAGE,
    sites_stage.STAGE,
    core.TRUTH,
)
"""The analysis, in the order its stages run."""

ADF_INNER_PER_ALPHA = 1.5  # ADF inner angle [semi-angles], at most halfway to the outer
ADF_OUTER_PER_ALPHA = 3.0  # ADF outer angle [semi-angles], capped at the detector edge
ADF_MIN_OUTER_PER_ALPHA = 1.1  # the ADF keeps a ring beyond the disk on small detectors
DF_INNER_PER_ALPHA = 1.1  # DF inner angle [semi-angles]: just outside the disk's edge
DF_OUTER_PER_EDGE = 4.0  # DF outer angle [inscribed detector radii]: past every corner


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
    """Resolved settings (nothing left to the data) and the stages to run, in order
    (checked by :func:`check_order` when the plan is made)."""

    settings: AnalyzeSettings
    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", check_order(self.stages))


def plan(settings: AnalyzeSettings, description: DataDescription,
         stages: Iterable[Stage] = STAGES) -> Plan:
    """Fill in settings left to the data (the crop from the disk, the detectors from the
    semi-angle: mrad when the detector is calibrated, else px) and check the order of
    ``stages`` (default :data:`STAGES`)."""
    return Plan(with_data_defaults(settings, description), tuple(stages))


def check_order(stages: Iterable[Stage]) -> tuple[Stage, ...]:
    """``stages`` as a tuple if each has a name of its own and everything it needs or
    uses is made by an earlier stage; else a one-line error naming the stage and what it
    lacks."""
    order = tuple(stages)
    wrong = [s for s in order if not isinstance(s, Stage)]
    if wrong:
        raise SettingsError(f"the stage list holds {wrong[0]!r}, not a Stage")
    names = [s.name for s in order]
    for i, stage in enumerate(order):
        if stage.name in names[:i]:
            raise SettingsError(f"two stages are named {stage.name!r}; give each its own name")
        for need in stage.needs + stage.uses:
            if any(earlier.makes(need) for earlier in order[:i]):
                continue
            later = [s.name for s in order[i + 1:] if s.makes(need)]
            if later:
                raise SettingsError(f"stage {stage.name!r} reads {need!r}, which stage "
                                    f"{later[0]!r} makes after it; put {stage.name!r} later")
            if need in stage.needs:
                raise SettingsError(f"stage {stage.name!r} needs {need!r}, which no earlier "
                                    "stage produces; add a stage that makes it before it")
    return order


def with_data_defaults(settings: AnalyzeSettings, d: DataDescription) -> AnalyzeSettings:
    """``settings`` with every value left as None for the data filled in."""
    options: dict[str, Any] = {}
    if settings.preprocess.crop is None:
        options["crop"] = pp.crop_for_disk(d.disk_radius_px, d.pattern_shape)
    det = settings.detectors
    units = det.detector_units or ("mrad" if d.calibration.angular_sampling is not None else "px")
    options["detector_units"] = units
    if det.bf is None or det.adf is None or det.df is None:
        alpha, edge = _disk_and_edge(d, units)
        if det.bf is None:
            options["bf"] = (0.0, round(alpha, 4))
        if det.adf is None:
            outer = max(min(ADF_OUTER_PER_ALPHA * alpha, edge), ADF_MIN_OUTER_PER_ALPHA * alpha)
            inner = min(ADF_INNER_PER_ALPHA * alpha, (alpha + outer) / 2)
            options["adf"] = (round(inner, 4), round(outer, 4))
        if det.df is None:
            options["df"] = (round(DF_INNER_PER_ALPHA * alpha, 4), round(DF_OUTER_PER_EDGE * edge, 4))
    return settings.replace(**options)


def _disk_and_edge(d: DataDescription, units: str) -> tuple[float, float]:
    """Bright-field disk radius and the largest full circle on the detector, in ``units``."""
    cal = d.calibration
    scale = float(np.mean(cal.angular_sampling)) if units == "mrad" else 1.0
    if units == "mrad" and cal.semiangle is not None:
        return cal.semiangle, d.edge_px * scale
    return d.disk_radius_px * scale, d.edge_px * scale
