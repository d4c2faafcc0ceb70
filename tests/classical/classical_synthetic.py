"""Synthetic 4D-STEM data with a known COM for the classical tests (no symbreak inside)."""

import numpy as np
from scipy.special import erfc


def soft_disk(shape, center, radius, edge=1.5):
    """A disk with an erfc edge: smooth enough that its sampled COM is its centre."""
    ky, kx = np.indices(shape, dtype=float)
    r = np.hypot(ky - center[0], kx - center[1])
    return 0.5 * erfc((r - radius) / edge)


def atom_potential(shape, atoms, width=2.0):
    """Sum of Gaussians at ``atoms`` (y, x) on a scan grid, and its gradient (gy, gx)."""
    y, x = np.indices(shape, dtype=float)
    v = np.zeros(shape)
    gy = np.zeros(shape)
    gx = np.zeros(shape)
    for ay, ax in atoms:
        g = np.exp(-((y - ay) ** 2 + (x - ax) ** 2) / (2 * width**2))
        v += g
        gy += -(y - ay) / width**2 * g
        gx += -(x - ax) / width**2 * g
    return v, gy, gx


def random_atoms(n, size, seed):
    return np.random.default_rng(seed).uniform(0, size, (n, 2))


def to_detector(vy, vx, rotation, flip):
    """Scan-frame vectors -> detector frame, d = R(θ) F v (y down), written out by hand."""
    if flip:
        vy = -vy
    c, s = np.cos(rotation), np.sin(rotation)
    return s * vx + c * vy, c * vx - s * vy


def shifted_disks(shifts_y, shifts_x, pattern_shape=(32, 32), radius=6.0):
    """Patterns (ny, nx, ky, kx): soft disks at the pattern centre plus the shifts [px]."""
    c0 = ((pattern_shape[0] - 1) / 2, (pattern_shape[1] - 1) / 2)
    out = np.empty(shifts_y.shape + pattern_shape)
    for idx in np.ndindex(shifts_y.shape):
        out[idx] = soft_disk(pattern_shape, (c0[0] + shifts_y[idx], c0[1] + shifts_x[idx]),
                             radius)
    return out
