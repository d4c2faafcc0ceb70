"""Poisson (shot) noise at a dose, seeded per probe position.

Each pattern draws from its own generator seeded by (seed, scan_y, scan_x), so the noise
is the same whatever the chunking, the number of threads or the order of computation:
the same seed gives the same bytes, another seed other noise.
"""

from __future__ import annotations

import dask.array as da
import numpy as np


def counts_per_probe(dose: float, scan_step: tuple[float, float]) -> float:
    """Incident electrons per probe position: dose [e/Å^2] x scan cell area [Å^2]."""
    return float(dose * scan_step[0] * scan_step[1])


def poisson_block(block: np.ndarray, electrons: float, seed: int,
                  block_info: dict | None = None) -> np.ndarray:
    """Poisson counts for one block (scan_y, scan_x, ky, kx) of beam-normalised
    intensities; ``block_info`` (from dask) gives the block's scan offset."""
    y0, x0 = 0, 0
    if block_info is not None and 0 in block_info:
        y0, x0 = (loc[0] for loc in block_info[0]["array-location"][:2])
    out = np.empty(block.shape, dtype=np.float32)
    lam = np.clip(block.astype(np.float64), 0.0, None) * electrons
    for iy in range(block.shape[0]):
        for ix in range(block.shape[1]):
            rng = np.random.default_rng([seed, y0 + iy, x0 + ix])
            out[iy, ix] = rng.poisson(lam[iy, ix])
    return out


def add_poisson_noise(array: da.Array, dose: float, scan_step: tuple[float, float],
                      seed: int) -> da.Array:
    """Lazy Poisson counts [electrons per pixel] of ``array`` at ``dose`` [e/Å^2]."""
    electrons = counts_per_probe(dose, scan_step)
    return array.map_blocks(poisson_block, electrons=electrons, seed=seed,
                            dtype=np.float32, meta=np.empty((0,) * 4, np.float32))
