"""Synthetic patterns with a known angle, content and shift, drawn analytically.

A soft isotropic disk plus one Gaussian lobe at radius 0.45 in direction ``angle`` whose
width grows with ``content`` in [0, 1]: an anisotropic, dipole-like pattern with no
rotational symmetry, so its angle is defined modulo 2 pi. Coordinates and the angle sense
follow symbreak.vae.geometry (x right, y down, angle from +x towards +y).
"""

import numpy as np


def dipole_patterns(angle, content, size=32, shift=None):
    """Patterns (n, size, size) for angles [rad], contents [0..1] and shifts (y, x) [px]."""
    angle = np.asarray(angle, dtype=float)[:, None, None]
    content = np.asarray(content, dtype=float)[:, None, None]
    unit = (size - 1) / 2
    pix = (np.arange(size) - (size - 1) / 2) / unit
    y, x = np.meshgrid(pix, pix, indexing="ij")
    if shift is not None:
        shift = np.asarray(shift, dtype=float) / unit
        y = y[None] - shift[:, 0, None, None]
        x = x[None] - shift[:, 1, None, None]
    r2 = x ** 2 + y ** 2
    disk = 0.5 * np.exp(-(r2 / 0.55 ** 2) ** 4)
    width = 0.12 + 0.2 * content
    lx, ly = 0.45 * np.cos(angle), 0.45 * np.sin(angle)
    lobe = np.exp(-((x - lx) ** 2 + (y - ly) ** 2) / (2 * width ** 2))
    return (disk + lobe).astype(np.float32)


def circular_agreement(a, b):
    """|mean exp(i (a - b))|: 1 when a - b is constant."""
    return float(np.abs(np.mean(np.exp(1j * (np.asarray(a) - np.asarray(b))))))


def circular_offset(a, b):
    """Circular mean of a - b [rad]."""
    return float(np.angle(np.mean(np.exp(1j * (np.asarray(a) - np.asarray(b))))))


def train_dipoles(**kwargs):
    """A RotationalVAE fitted on a small fresh dipole set (for tests that need their own)."""
    from symbreak import RotationalVAE

    rng = np.random.default_rng(kwargs.pop("data_seed", 3))
    n = kwargs.pop("n", 300)
    X = dipole_patterns(rng.uniform(-np.pi, np.pi, n), rng.uniform(0, 1, n))
    return RotationalVAE(**kwargs).fit(X), X
