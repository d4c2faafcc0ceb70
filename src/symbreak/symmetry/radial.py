"""Azimuthally averaged radial profile of every pattern: a whole-pattern descriptor that
does not change when the pattern is turned or mirrored about the optical axis.

Two atom-column sites related by a rotation or mirror of the crystal (graphene's A and
B) have patterns related by the same rotation or mirror about the undeflected beam, so
their radial profiles are equal; sites with different atoms (B and N of hBN, Zn and S
of ZnS) scatter differently into every angle, and the whole profile shows it.

Each pattern's counts are summed in :data:`N_RINGS` rings of equal width about the
detector centre, out to the largest circle inside the detector (pixels beyond it are
left out, so that every ring is whole); a sum of counts is a count, and the Anscombe
transform ``2 sqrt(n + 3/8)`` makes its shot noise sd 1 whatever the ring's
brightness (:func:`symbreak.symmetry.patterns.stabilised`). Noise-free data have no
noise scale of their own, and a simulation's numerics leave differences between
equivalent positions that no measurement could see (4e-4 of the central intensity
between the centring-equivalent halves of the ``graphene-cell`` preset): their ring
sums are taken as beam fractions (over the scan's mean total) times
:data:`NOISE_FREE_ELECTRONS`, the most electrons a detector records in one pattern,
and transformed like counts, so that one unit is the shot noise such a pattern would
have (:data:`NOISE_FREE_FLOOR`, added to the noise of the sites' folded profiles). The
sums are one streamed pass over the raw data (:func:`symbreak.engine.map_patterns`,
chunks within the memory budget) with the weighted-sum kernel of the virtual detectors
(:func:`symbreak.classical.sums.pattern_sums`).
"""

from __future__ import annotations

import functools

import numpy as np

from ..classical.sums import exact_columns, kernel_dtype, pad_outputs, pattern_sums
from ..dataset import Dataset4D
from ..engine.mapper import map_patterns
from ..errors import DataError
from .patterns import stabilised

N_RINGS = 24  # rings from the centre to the detector's largest full circle
NOISE_FREE_ELECTRONS = 1e6  # electrons per pattern noise-free profiles are compared at
NOISE_FREE_FLOOR = 1.0  # their noise per ring [Anscombe units]: the shot noise there


def ring_index(pattern_shape: tuple[int, int], center: tuple[float, float],
               n_rings: int = N_RINGS) -> np.ndarray:
    """(ky, kx) ring of every detector pixel (0 at the centre; -1 beyond the largest
    circle about ``center`` [px] that lies inside the detector)."""
    ky, kx = pattern_shape
    cy, cx = center
    edge = min(cy + 0.5, cx + 0.5, ky - 0.5 - cy, kx - 0.5 - cx)
    if not edge > 1:
        raise DataError(f"the detector centre ({cy:.1f}, {cx:.1f}) px is within a pixel of "
                        f"the edge of the {ky} x {kx} px detector: no radial profile")
    Y, X = np.meshgrid(np.arange(ky) - cy, np.arange(kx) - cx, indexing="ij")
    r = np.hypot(Y, X)
    ring = np.floor(r / edge * n_rings).astype(int)
    ring[r >= edge] = -1
    return ring


def radial_profiles(data: Dataset4D, center: tuple[float, float], counts: bool,
                    n_rings: int = N_RINGS, progress: bool | None = None) -> np.ndarray:
    """(n_rings, scan_y, scan_x) variance-stabilised ring sums of every pattern of
    ``data`` about ``center`` (ky, kx) [px] (see the module docstring); ``counts``: the
    values are electron counts with their Poisson noise (else noise-free: scaled to
    NOISE_FREE_ELECTRONS per pattern)."""
    ring = ring_index(tuple(data.pattern_shape), center, n_rings).ravel()
    weights = np.zeros((n_rings, ring.size), dtype=kernel_dtype(data))
    inside = ring >= 0
    weights[ring[inside], np.nonzero(inside)[0]] = 1.0
    kernel = functools.partial(pattern_sums, weights=pad_outputs(weights), columns=n_rings,
                               exact=exact_columns(data, n_rings))
    sums = map_patterns(data, kernel, n_rings, progress=progress, desc="radial profiles")
    sums = np.asarray(sums).reshape(tuple(data.scan_shape) + (n_rings,))
    if not counts:
        total = float(np.mean(sums.sum(axis=-1)))
        sums = sums / (total if total > 0 else 1.0) * NOISE_FREE_ELECTRONS
    return np.moveaxis(stabilised(sums, True), -1, 0)
