"""Analytic 'crystal' maps for the symmetry tests: Gaussian columns on a lattice, with
a vacancy or a heavier substituent, a rotated scan frame and noise."""

from __future__ import annotations

import numpy as np

GRAPHENE_A = 2.464


def graphene_lattice(a: float = GRAPHENE_A, rotation_deg: float = 0.0):
    """(vectors (2, 2) rows (y, x) [Å], basis fractional (2, 2)) of graphene."""
    a1 = np.array([0.0, a])
    a2 = np.array([a * np.sqrt(3) / 2, a / 2])
    return _rotate(np.array([a1, a2]), rotation_deg), np.array([[1 / 3, 1 / 3], [2 / 3, 2 / 3]])


def rect_lattice(ay: float = 5.409, ax: float = 3.825, rotation_deg: float = 0.0):
    """A centred rectangular cell like ZnS [110] (two dumbbell columns per cell, each
    with two inequivalent atoms 1.35 Å apart along y)."""
    vectors = _rotate(np.array([[ay, 0.0], [0.0, ax]]), rotation_deg)
    dy = 1.35 / ay / 2
    basis = np.array([[0.25 - dy, 0.25], [0.25 + dy, 0.25], [0.75 - dy, 0.75], [0.75 + dy, 0.75]])
    return vectors, basis


def _rotate(vectors: np.ndarray, deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    R = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])  # acts on (y, x)
    return vectors @ R.T


def maps(vectors, basis, shape=(40, 40), step=0.25, weights=None, defect=None,
         defect_weight=0.0, sigma=0.45, noise=0.0, seed=0):
    """Maps ``bf``, ``adf``, ``com_x``, ``com_y`` over a scan grid, plus ``atoms`` (y, x)
    and ``defect`` (y, x) [Å]. ``defect``: (y, x) [Å] near which the nearest atom gets
    weight ``defect_weight`` (0: a vacancy)."""
    ny, nx = shape
    Y, X = np.meshgrid(np.arange(ny) * step, np.arange(nx) * step, indexing="ij")
    extent = np.array([ny * step, nx * step])
    n = int(np.ceil(np.linalg.norm(extent) / min(np.linalg.norm(vectors, axis=1)))) + 3
    atoms, w = [], []
    weights = np.ones(len(basis)) if weights is None else np.asarray(weights, float)
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            for b, wb in zip(basis, weights):
                p = (i + b[0]) * vectors[0] + (j + b[1]) * vectors[1]
                if -2 < p[0] < extent[0] + 2 and -2 < p[1] < extent[1] + 2:
                    atoms.append(p)
                    w.append(wb)
    atoms, w = np.array(atoms), np.array(w)
    truth = None
    if defect is not None:
        k = int(np.argmin(np.linalg.norm(atoms - np.asarray(defect), axis=1)))
        truth = atoms[k].copy()
        w[k] = defect_weight * w[k]
    dy = Y[..., None] - atoms[:, 0]
    dx = X[..., None] - atoms[:, 1]
    g = w * np.exp(-(dy ** 2 + dx ** 2) / (2 * sigma ** 2))
    adf = g.sum(-1)
    com_y = (g * dy).sum(-1) / sigma ** 2
    com_x = (g * dx).sum(-1) / sigma ** 2
    rng = np.random.default_rng(seed)
    out = {"adf": adf, "bf": 1.0 - 0.4 * adf, "com_x": com_x, "com_y": com_y}
    if noise:
        out = {k: v + noise * v.std() * rng.standard_normal(v.shape) for k, v in out.items()}
    out["atoms"], out["defect"] = atoms, truth
    out["Y"], out["X"] = Y, X
    return out


def patterns(vectors, basis, rings, turns, shape=(24, 24), step=0.25, detector=16,
             electrons=None, seed=0):
    """(scan_y, scan_x, detector, detector) patterns of a crystal: a bright-field disc
    plus, near each column ``i`` of ``basis``, a scattering ring of radius ``rings[i]``
    [px] with three lobes turned by ``turns[i]`` degrees (a site whose pattern is another
    site's turned has the same radial profile). ``electrons``: Poisson counts with that
    many electrons in the disc per pattern; None: noise-free."""
    ny, nx = shape
    Y, X = np.meshgrid(np.arange(ny) * step, np.arange(nx) * step, indexing="ij")
    c = (detector - 1) / 2
    KY, KX = np.meshgrid(np.arange(detector) - c, np.arange(detector) - c, indexing="ij")
    kr, kphi = np.hypot(KY, KX), np.arctan2(KY, KX)
    out = np.zeros(shape + (detector, detector))
    out += (kr < detector / 4)[None, None]
    n = int(np.ceil(max(ny, nx) * step / min(np.linalg.norm(vectors, axis=1)))) + 2
    for i in range(-n, n + 1):
        for j in range(-n, n + 1):
            for b, radius, turn in zip(basis, rings, turns):
                p = (i + b[0]) * vectors[0] + (j + b[1]) * vectors[1]
                g = np.exp(-((Y - p[0]) ** 2 + (X - p[1]) ** 2) / (2 * 0.4 ** 2))
                ring = np.exp(-(kr - radius) ** 2 / 2) * (
                    1 + 0.8 * np.cos(3 * (kphi - np.deg2rad(turn))))
                out += 0.5 * g[..., None, None] * ring
    if electrons is None:
        return out
    scale = electrons / (kr < detector / 4).sum()
    return np.random.default_rng(seed).poisson(out * scale).astype(np.float64)
