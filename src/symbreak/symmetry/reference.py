"""A lattice-periodic reference for any map, and its residual in units of the robust
spread.

The reference at a probe position is what the perfect crystal would give there: the
robust (Tukey-bisquare) fit of a lattice-periodic Fourier series to the whole map. It is
the smooth equivalent of folding every position into the unit cell, averaging over the
cells robustly and interpolating back: every lattice-equivalent position contributes,
positions that break the symmetry get zero weight, and it works for any number of scan
steps per cell (integer or not) and any scan rotation. The residual is
``(value - reference) / spread`` with ``spread`` = 1.4826 x the median absolute residual
of the map (floored at ``SPREAD_FLOOR`` x the standard deviation of the reference, so
that the round-off of a noise-free simulation is not mistaken for a signal).

Kinds of map:

* scalar (BF, ADF, reconstruction error): one channel;
* vector (COM): two channels, each standardised; the score uses the residual vector's
  length;
* angular (rrVAE angle latent relative to the COM angle): the difference is wrapped to
  (-pi, pi], its reference is the direction of the periodic fit of (cos, sin), the
  residual is the wrapped difference from it;
* multi-channel (content latents): each channel standardised.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import periodic
from .lattice import Lattice

SPREAD_FLOOR = 1e-3  # spread >= this x sd of the reference [1]


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
    """

    reference: np.ndarray
    residual: np.ndarray
    spread: np.ndarray

    @property
    def chi2(self) -> np.ndarray:
        """(ny, nx) sum of squared standardised residuals over the channels."""
        return np.nansum(self.residual ** 2, axis=0)

    @property
    def dof(self) -> int:
        """Number of channels (degrees of freedom of :attr:`chi2`)."""
        return int(self.residual.shape[0])


def scan_positions(shape: tuple[int, int], step: tuple[float, float]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Flattened probe positions y, x [Å] of a scan grid starting at 0."""
    Y, X = np.meshgrid(np.arange(shape[0]) * step[0], np.arange(shape[1]) * step[1],
                       indexing="ij")
    return Y.ravel(), X.ravel()


def periodic_reference(values: np.ndarray, lattice: Lattice, step: tuple[float, float],
                       robust: bool = True) -> np.ndarray:
    """The lattice-periodic reference of every channel of ``values`` (c, ny, nx).

    Harmonics up to the scan's Nyquist frequency 1 / (2 step) and at most a third as
    many parameters as positions; NaNs are left out of the fit and get the reference.
    """
    c, ny, nx = values.shape
    y, x = scan_positions((ny, nx), step)
    hk = periodic.harmonics(lattice.reciprocal, 0.5 / max(step), periodic.max_terms(ny * nx))
    D = periodic.design(lattice.reciprocal, hk, y, x)
    flat = values.reshape(c, -1).T
    finite = np.all(np.isfinite(flat), axis=1)
    method = periodic.robust_fit if robust else periodic.fit
    fitted = method(D[finite], flat[finite])
    coef = periodic.solve(D[finite], fitted)
    return (D @ coef).T.reshape(c, ny, nx)


def _standardise(values: np.ndarray, reference: np.ndarray) -> Residual:
    diff = values - reference
    spread = periodic.robust_scale(diff.reshape(diff.shape[0], -1), axis=1)
    floor = SPREAD_FLOOR * reference.reshape(reference.shape[0], -1).std(axis=1)
    spread = np.maximum(spread, np.maximum(floor, np.finfo(float).tiny))
    return Residual(reference, diff / spread[:, None, None], spread)


def channels_residual(values: np.ndarray, lattice: Lattice, step: tuple[float, float]
                      ) -> Residual:
    """Residual of a multi-channel map (c, ny, nx) (or a scalar map (ny, nx))."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[None]
    return _standardise(values, periodic_reference(values, lattice, step))


def scalar_residual(values: np.ndarray, lattice: Lattice, step: tuple[float, float]
                    ) -> Residual:
    """Residual of a scalar map (ny, nx): BF, ADF, reconstruction error."""
    return channels_residual(values, lattice, step)


def vector_residual(vy: np.ndarray, vx: np.ndarray, lattice: Lattice,
                    step: tuple[float, float]) -> Residual:
    """Residual of a vector map (COM): both components share one spread (the length of
    the residual vector, not its direction in the scan frame, is what counts)."""
    values = np.stack([np.asarray(vy, float), np.asarray(vx, float)])
    reference = periodic_reference(values, lattice, step)
    diff = values - reference
    # |residual| of an isotropic Gaussian vector is Rayleigh: median = sd sqrt(ln 4)
    spread = np.median(np.hypot(diff[0], diff[1])) / np.sqrt(np.log(4))
    floor = SPREAD_FLOOR * np.hypot(*reference.reshape(2, -1).std(axis=1))
    spread = max(spread, floor, np.finfo(float).tiny)
    return Residual(reference, diff / spread, np.array([spread, spread]))


def wrap(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to (-pi, pi] [rad]."""
    return np.pi - np.mod(np.pi - angle, 2 * np.pi)


def angle_residual(angle: np.ndarray, relative_to: np.ndarray | None, lattice: Lattice,
                   step: tuple[float, float]) -> Residual:
    """Residual of an angle map [rad], optionally relative to another (the rrVAE angle
    latent relative to the COM angle): the difference wrapped to (-pi, pi], a circular
    reference (direction of the periodic fit of its cos and sin), the wrapped residual
    over its robust spread."""
    d = np.asarray(angle, float) - (0.0 if relative_to is None else np.asarray(relative_to, float))
    d = wrap(d)
    fit = periodic_reference(np.stack([np.cos(d), np.sin(d)]), lattice, step)
    reference = np.arctan2(fit[1], fit[0])[None]
    diff = wrap(d[None] - reference)
    spread = max(float(periodic.robust_scale(diff.ravel())), 1e-6)
    return Residual(reference, diff / spread, np.array([spread]))
