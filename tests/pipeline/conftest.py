"""A small synthetic 4D-STEM set: a disk deflected by a smooth field, with counts."""

import numpy as np
import pytest

from symbreak.calibration import Calibration
from symbreak.dataset import Dataset4D

SAMPLING = 1.5  # mrad/px
SEMIANGLE = 9.0  # mrad


def synthetic_scan(ny: int = 8, nx: int = 9, k: int = 24, seed: int = 0) -> Dataset4D:
    rng = np.random.default_rng(seed)
    ky, kx = np.mgrid[:k, :k].astype(float)
    c = (k - 1) / 2
    out = np.empty((ny, nx, k, k), np.float32)
    for i in range(ny):
        for j in range(nx):
            dy, dx = np.sin(2 * np.pi * i / ny), np.cos(2 * np.pi * j / nx)
            r = np.hypot(ky - c - dy, kx - c - dx)
            out[i, j] = 100 / (1 + np.exp((r - SEMIANGLE / SAMPLING) * 2)) + (1 + dx) * 5 * (kx > c)
    out += rng.poisson(2, out.shape)
    cal = Calibration(energy=60e3, semiangle=SEMIANGLE, angular_sampling=SAMPLING,
                      scan_step=0.3, detector_center=(c, c))
    return Dataset4D(out, cal)


@pytest.fixture(scope="session")
def scan() -> Dataset4D:
    return synthetic_scan()
