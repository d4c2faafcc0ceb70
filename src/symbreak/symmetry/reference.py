"""A lattice-periodic reference for any map, and its residual in units of the robust
spread.

The reference at a probe position is what the perfect crystal would give there: the
robust (Tukey-bisquare) fit of a lattice-periodic Fourier series to the whole map
(:class:`symbreak.symmetry.folding.PeriodicFit`, the fit the site classes fold with). It is
the smooth equivalent of folding every position into the unit cell, averaging over the
cells robustly and interpolating back: every lattice-equivalent position contributes,
positions that break the symmetry get zero weight, and it works for any number of scan
steps per cell (integer or not) and any scan rotation. The residual is
``(value - reference) / spread`` with ``spread`` = 1.4826 x the median absolute residual
of the map, or of the ``NEIGHBOURS`` lattice-equivalent positions where that is larger
(:class:`symbreak.symmetry.folding.ScanNeighbours`, found once per analysis), floored at
``SPREAD_FLOOR`` x the standard deviation of the reference, so that the round-off of a
noise-free simulation is not mistaken for a signal.

Kinds of map:

* scalar (BF, ADF, reconstruction error): one channel; counts (integer data, shot-noise
  simulations) are first variance-stabilised (Anscombe ``2 sqrt(x + 3/8)``: Poisson
  noise of any mean becomes about unit-variance Gaussian), and their spread is never
  below that Poisson sd of 1, so that a few electrons per probe are not mistaken for
  Gaussian data with a tiny spread;
* vector (COM): two channels, each standardised; the score uses the residual vector's
  length;
* angular (rrVAE angle latent relative to the COM angle): the difference is wrapped to
  (-pi, pi], its reference is the direction of the periodic fit of (cos, sin), the
  residual is the wrapped difference from it; where the other angle is the direction
  of a vector (the COM), its uncertainty sd(vector) / |vector| [rad] is added to the
  spread in quadrature, so where the vector vanishes (a probe on an atom) its undefined
  angle cannot make an anomaly;
* multi-channel (content latents): each channel standardised.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import periodic
from .folding import ScanNeighbours, fit_periodic, scan_harmonics
from .lattice import Lattice

SPREAD_FLOOR = 1e-3  # spread >= this x sd of the reference [1]
NEIGHBOURS = 8  # lattice-equivalent positions whose spread sets the local spread


@dataclasses.dataclass(frozen=True)
class Residual:
    """A map's periodic reference and standardised residual.

    Attributes
    ----------
    reference
        (c, ny, nx) the lattice-periodic reference, in the map's units (rad for angles).
    residual
        (c, ny, nx) ``(value - reference) / spread`` [robust sd].
    spread
        (c,) robust spread of the residual, in the map's units.
    pooling
        How the score pools it over the probe's footprint
        (:mod:`symbreak.symmetry.pooling`): ``"chi2"`` (squares), ``"signed"`` (a
        scalar map whose residual keeps its sign near a defect: a matched filter) or
        ``"field"`` (a vector field: its divergence and curl).
    """

    reference: np.ndarray
    residual: np.ndarray
    spread: np.ndarray
    pooling: str = "chi2"

    @property
    def chi2(self) -> np.ndarray:
        """(ny, nx) sum of squared standardised residuals over the channels."""
        return np.nansum(self.residual ** 2, axis=0)

    @property
    def dof(self) -> int:
        """Number of channels (degrees of freedom of :attr:`chi2`)."""
        return int(self.residual.shape[0])


def design_bytes(lattice: Lattice, shape: tuple[int, int], step: tuple[float, float]) -> int:
    """Bytes of one design matrix of the periodic fits (:func:`symbreak.symmetry.folding.
    fit_periodic`) for a scan of ``shape`` (positions x parameters, float64): what the
    memory budget must hold a few times."""
    n = int(shape[0]) * int(shape[1])
    return n * (1 + 2 * len(scan_harmonics(lattice, shape, step))) * 8


def local_spread(size: np.ndarray, neighbours: np.ndarray, floor: float) -> np.ndarray:
    """Spread per position [map units]: the larger of the global robust spread
    (1.4826 x median |residual|) and the robust spread of the residuals at the
    lattice-equivalent positions (``neighbours``: (n, k) indices), never below ``floor``.

    Where the perfect crystal's map changes fast (atom cores) the reference is least
    accurate, and the equivalent positions in other cells show it: their spread is
    larger and a position there must deviate more to count."""
    a = np.abs(size).ravel()
    spread = np.full(a.shape, max(float(periodic.robust_scale(a)), floor, 1e-300))
    spread = np.maximum(spread, periodic.robust_scale(a[neighbours], axis=1))
    return spread.reshape(size.shape)


def _standardise(values: np.ndarray, reference: np.ndarray, neighbours: np.ndarray,
                 noise_sd: float | np.ndarray = 0.0) -> Residual:
    diff = values - reference
    spread = np.empty_like(diff)
    known = np.broadcast_to(np.asarray(noise_sd, float), (diff.shape[0],))
    for i in range(diff.shape[0]):
        floor = max(SPREAD_FLOOR * reference[i].std(), float(known[i]))
        spread[i] = local_spread(diff[i], neighbours, floor)
    return Residual(reference, diff / spread, np.median(spread.reshape(len(spread), -1), axis=1))


def channels_residual(values: np.ndarray, lattice: Lattice, step: tuple[float, float],
                      neighbours: ScanNeighbours, exclude: np.ndarray | None = None,
                      noise_sd: float | np.ndarray = 0.0) -> Residual:
    """Residual of a multi-channel map (c, ny, nx) (or a scalar map (ny, nx)); the
    spread is never below ``noise_sd`` (a known noise level, in the map's units; one,
    or one per channel).
    ``neighbours``: the scan's lattice-equivalent positions (the local spread)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[None]
    reference = fit_periodic(values, lattice, step, exclude).folded
    return _standardise(values, reference, neighbours.nearest(NEIGHBOURS), noise_sd)


def anscombe(counts: np.ndarray) -> np.ndarray:
    """Anscombe transform ``2 sqrt(x + 3/8)`` of counts: Poisson noise of mean >~ 1
    becomes about Gaussian with sd 1 (negative values, e.g. from a subtracted dark
    level, are clipped at 0)."""
    return 2.0 * np.sqrt(np.maximum(np.asarray(counts, float), 0.0) + 0.375)


def scalar_residual(values: np.ndarray, lattice: Lattice, step: tuple[float, float],
                    neighbours: ScanNeighbours, exclude: np.ndarray | None = None,
                    counts: bool = False) -> Residual:
    """Residual of a scalar map (ny, nx): BF, ADF, reconstruction error. ``counts``:
    the map holds electron counts (Poisson noise): the fit and the residual are those
    of its Anscombe transform, with a spread of at least 1 (the Poisson sd there);
    the reference is then in that transform's units. The residual is pooled signed: a
    defect makes a scalar map brighter or darker over the probe's footprint."""
    found = (channels_residual(anscombe(values), lattice, step, neighbours, exclude,
                               noise_sd=1.0) if counts
             else channels_residual(values, lattice, step, neighbours, exclude))
    return dataclasses.replace(found, pooling="signed")


def vector_residual(vy: np.ndarray, vx: np.ndarray, lattice: Lattice,
                    step: tuple[float, float], neighbours: ScanNeighbours,
                    exclude: np.ndarray | None = None) -> Residual:
    """Residual of a vector map (COM): both components share one spread, from the
    length of the residual vector (its direction in the scan frame does not count)."""
    reference, diff, spread = _vector_fit(vy, vx, lattice, step, neighbours, exclude)
    return Residual(reference, diff / spread, np.full(2, np.median(spread)))


def vector_spread(vy: np.ndarray, vx: np.ndarray, lattice: Lattice,
                  step: tuple[float, float], neighbours: ScanNeighbours,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """(ny, nx) spread of each component of a vector map (COM) about its periodic
    reference, per position [the map's units] (see :func:`vector_residual`)."""
    return _vector_fit(vy, vx, lattice, step, neighbours, exclude)[2]


def _vector_fit(vy: np.ndarray, vx: np.ndarray, lattice: Lattice,
                step: tuple[float, float], neighbours: ScanNeighbours,
                exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.stack([np.asarray(vy, float), np.asarray(vx, float)])
    reference = fit_periodic(values, lattice, step, exclude).folded
    diff = values - reference
    # |residual| of an isotropic Gaussian vector is Rayleigh: median = sd sqrt(ln 4)
    length = np.hypot(diff[0], diff[1]) / np.sqrt(np.log(4)) / periodic.MAD_SCALE
    floor = SPREAD_FLOOR * np.hypot(*reference.reshape(2, -1).std(axis=1))
    spread = local_spread(length, neighbours.nearest(NEIGHBOURS), floor)
    return reference, diff, spread


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-pi, pi] [rad]."""
    return np.pi - np.mod(np.pi - angle, 2 * np.pi)


def angle_residual(angle: np.ndarray, relative_to: np.ndarray | None, lattice: Lattice,
                   step: tuple[float, float], neighbours: ScanNeighbours,
                   exclude: np.ndarray | None = None,
                   relative_sd: np.ndarray | None = None) -> Residual:
    """Residual of an angle map [rad], optionally relative to another (the rrVAE angle
    latent relative to the COM angle): the difference wrapped to (-pi, pi], a circular
    reference (direction of the periodic fit of its cos and sin), the wrapped residual
    over its robust spread. ``relative_sd`` (ny, nx) [rad]: the uncertainty of
    ``relative_to`` (for the direction of a vector, sd / |vector|), added to the spread
    in quadrature."""
    d = np.asarray(angle, float) - (0.0 if relative_to is None else np.asarray(relative_to, float))
    d = wrap(d)
    c, s = fit_periodic(np.stack([np.cos(d), np.sin(d)]), lattice, step, exclude).folded
    reference = np.arctan2(s, c)[None]
    diff = wrap(d[None] - reference)
    spread = local_spread(diff[0], neighbours.nearest(NEIGHBOURS), 1e-6)[None]
    if relative_sd is not None:
        spread = np.hypot(spread, np.nan_to_num(relative_sd, nan=np.inf)[None])
    return Residual(reference, diff / spread, np.median(spread.reshape(1, -1), axis=1))
