"""``symmetry_breaking``: residual maps, scores and anomalies for a set of descriptors."""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from . import reference as R
from . import score as S
from .pooling import curl_free_orientation
from .folding import ScanNeighbours
from .lattice import Lattice

KINDS = ("scalar", "vector", "field", "angle", "channels")
FAMILIES: dict[str, tuple[str, ...]] = {
    "classical": ("bf", "adf", "df", "com", "com_divergence"),
    "rrvae": ("rrvae_content", "rrvae_angle_vs_com", "reconstruction_error"),
    "pattern": ("whole_pattern",),
}
EXCLUDE_RADIUS = 1.0  # [Å] around a first-pass anomaly, left out of the reference


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """A map to test: ``kind`` in KINDS; ``values`` (ny, nx), (2, ny, nx) for a vector
    (y, x components; kind ``field``: the same residual pooled as its divergence and
    curl, :mod:`symbreak.symmetry.pooling`) or (c, ny, nx) for channels; ``relative_to`` (ny, nx) [rad] for
    an angle measured against another angle; ``vector`` (2, ny, nx) (y, x) when
    ``relative_to`` is that vector's direction (the COM): where it is short its
    direction is uncertain and the angle residual's spread grows as sd / |vector|;
    ``counts``: a scalar map of electron counts (Poisson noise); ``noise_sd`` (c,): the
    known noise sd of each channel (the whole-pattern channels of counts), the least
    spread their residual is given."""

    kind: str
    values: np.ndarray
    relative_to: np.ndarray | None = None
    vector: np.ndarray | None = None
    counts: bool = False
    noise_sd: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class SymmetryResult:
    """Lattice, standardised residual per descriptor, scores [sigma] per descriptor,
    family and ``combined``, the threshold [sigma], the anomalies, strongest first, the
    positions left out of the second pass's reference and the scan's lattice-equivalent
    positions (``neighbours``)."""

    lattice: Lattice
    residuals: dict[str, R.Residual]
    scores: dict[str, np.ndarray]
    threshold: float
    anomalies: list[S.Anomaly]
    excluded: np.ndarray
    neighbours: ScanNeighbours


def residual_of(d: Descriptor, lattice: Lattice, step: tuple[float, float],
                neighbours: ScanNeighbours, exclude: np.ndarray | None = None
                ) -> R.Residual:
    """The residual of one descriptor (see :mod:`symbreak.symmetry.reference`);
    ``neighbours``: the scan's lattice-equivalent positions."""
    if d.kind == "scalar":
        return R.scalar_residual(d.values, lattice, step, neighbours, exclude,
                                 counts=d.counts)
    if d.kind in ("vector", "field"):
        found = R.vector_residual(d.values[0], d.values[1], lattice, step, neighbours,
                                  exclude)
        if d.kind == "field":
            return curl_free_orientation(dataclasses.replace(found, pooling="field"))
        return found
    if d.kind == "angle":
        return R.angle_residual(d.values, d.relative_to, lattice, step, neighbours, exclude,
                                direction_sd(d.vector, lattice, step, neighbours, exclude))
    if d.kind == "channels":
        return R.channels_residual(d.values, lattice, step, neighbours, exclude,
                                   noise_sd=0.0 if d.noise_sd is None else d.noise_sd)
    raise ValueError(f"descriptor kind {d.kind!r} is not one of {KINDS}")


def direction_sd(vector: np.ndarray | None, lattice: Lattice, step: tuple[float, float],
                 neighbours: ScanNeighbours, exclude: np.ndarray | None = None
                 ) -> np.ndarray | None:
    """(ny, nx) uncertainty [rad] of the direction of ``vector`` (2, ny, nx): the
    spread of its components about their periodic reference over its length (inf
    where it vanishes); None without a vector."""
    if vector is None:
        return None
    sd = R.vector_spread(vector[0], vector[1], lattice, step, neighbours, exclude)
    length = np.hypot(vector[0], vector[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(length > 0, sd / length, np.inf)


def symmetry_breaking(descriptors: Mapping[str, Descriptor], lattice: Lattice,
                      step: float | Sequence[float],
                      families: Mapping[str, Sequence[str]] = FAMILIES) -> SymmetryResult:
    """Where the crystal's symmetry is broken, descriptor by descriptor.

    Two passes: the first finds the anomalies of the combined score; positions within
    EXCLUDE_RADIUS [Å] of them are left out of the second pass's periodic reference, so
    that a defect does not leave ghosts at its lattice-equivalent positions. The
    lattice-equivalent positions of every probe position (:class:`ScanNeighbours`) are
    found once, here, and returned with the result.

    Parameters
    ----------
    descriptors
        Name -> :class:`Descriptor`; names in ``families`` are pooled into family scores.
    lattice
        The scan's lattice (:func:`symbreak.symmetry.find_lattice`).
    step
        Scan step [Å] (or (dy, dx)).
    """
    step = (float(step), float(step)) if np.isscalar(step) else tuple(map(float, step))
    neighbours = ScanNeighbours(lattice, scan_shape(descriptors), step)
    exclude = None
    for _ in range(2):
        residuals = {k: residual_of(d, lattice, step, neighbours, exclude)
                     for k, d in descriptors.items()}
        scores = S.family_scores(residuals, families, step)
        limit = S.threshold(scores["combined"].size)
        anomalies = S.find_anomalies(scores["combined"], step, limit)
        exclude = _near(anomalies, scores["combined"].shape, step)
    return SymmetryResult(lattice, residuals, scores, limit, anomalies, exclude, neighbours)


def scan_shape(descriptors: Mapping[str, Descriptor]) -> tuple[int, int]:
    """(ny, nx) of the descriptors' maps; a ValueError when there are none or their
    shapes differ."""
    shapes = {tuple(np.shape(d.values)[-2:]) for d in descriptors.values()}
    if len(shapes) != 1:
        raise ValueError(f"the descriptors must be maps of one scan shape, got {shapes or 'none'}")
    return shapes.pop()


def _near(anomalies: list[S.Anomaly], shape: tuple[int, int], step: tuple[float, float]
          ) -> np.ndarray:
    Y, X = np.meshgrid(np.arange(shape[0]) * step[0], np.arange(shape[1]) * step[1],
                       indexing="ij")
    mask = np.zeros(shape, bool)
    for a in anomalies:
        mask |= np.hypot(Y - a.y, X - a.x) <= EXCLUDE_RADIUS
    return mask
