"""Lattice-periodic Fourier series on scan positions: the design matrix, ordinary and
robust (Tukey bisquare IRLS) fits.

A map m(r) of a perfect crystal is periodic, m(r) = sum_G c_G exp(2 pi i G.r), with G on
the reciprocal lattice. The series is cut at the scan's Nyquist frequency (the data
cannot hold more) and at a third of the number of positions (a localized defect then
projects onto it only weakly, about n_parameters / n_positions of its energy).
"""

from __future__ import annotations

import numpy as np

TUKEY_C = 4.685  # bisquare tuning constant (95 % efficiency for Gaussian noise)
MAD_SCALE = 1.4826  # 1.4826 x MAD = sd for Gaussian data


def harmonics(reciprocal: np.ndarray, gmax: float, max_terms: int) -> np.ndarray:
    """Integer (h, k) of the reciprocal vectors ``G = h b1 + k b2`` with
    ``0 < |G| <= gmax`` [1/Å], one of each +/- pair, shortest first, at most
    ``max_terms``."""
    norms = np.linalg.norm(reciprocal, axis=1)
    # |h| |b1| sin <= |G| bounds h; the cell's smallest height gives a safe range
    area = abs(np.linalg.det(reciprocal))
    hmax = int(np.ceil(gmax * max(norms) / area)) + 1
    h, k = np.meshgrid(np.arange(-hmax, hmax + 1), np.arange(-hmax, hmax + 1), indexing="ij")
    hk = np.stack([h.ravel(), k.ravel()], axis=1)
    upper = (hk[:, 0] > 0) | ((hk[:, 0] == 0) & (hk[:, 1] > 0))
    hk = hk[upper]
    g = np.linalg.norm(hk @ reciprocal, axis=1)
    keep = g <= gmax
    hk, g = hk[keep], g[keep]
    return hk[np.argsort(g, kind="stable")][:max_terms]


def design(reciprocal: np.ndarray, hk: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Design matrix (n, 1 + 2 m): a constant, then cos and sin of ``2 pi G.r`` for each
    of the m harmonics, at positions y, x [Å] (flattened)."""
    g = hk @ reciprocal  # (m, 2) as (gy, gx)
    phase = 2 * np.pi * (np.outer(np.ravel(y), g[:, 0]) + np.outer(np.ravel(x), g[:, 1]))
    return np.hstack([np.ones((phase.shape[0], 1)), np.cos(phase), np.sin(phase)])


def max_terms(n_positions: int, fraction: float = 1 / 3) -> int:
    """Harmonics allowed for ``n_positions`` samples: parameters <= fraction x n."""
    return max(1, (int(n_positions * fraction) - 1) // 2)


def solve(X: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None
          ) -> np.ndarray:
    """Coefficients (p, c) of the weighted least-squares fit of every column of
    ``values`` (n, c), by the normal equations with a tiny ridge (1e-10 of the mean
    diagonal) that keeps aliased harmonics of a commensurate scan well posed.

    Weights must be >= 0: each weighted column is solved as the ordinary fit of
    ``sqrt(w) X`` to ``sqrt(w) v``, whose Gram matrix ``Xs.T @ Xs`` BLAS forms as a
    symmetric rank-k update (half the work of ``(X w).T @ X``; the same equations).
    """
    if weights is None:
        return _normal_solve(X, values)
    coefs = []
    for j in range(values.shape[1]):
        root = np.sqrt(weights[:, j:j + 1])
        coefs.append(_normal_solve(X * root, values[:, j] * root[:, 0]))
    return np.stack(coefs, axis=1)


def _normal_solve(X: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``values`` on ``X`` by the ridged normal equations."""
    return np.linalg.solve(gram(X), X.T @ values)


def gram(X: np.ndarray) -> np.ndarray:
    """The normal matrix ``X.T @ X`` with the tiny ridge of :func:`solve`."""
    A = X.T @ X  # the same buffer on both sides: a symmetric rank-k update
    A[np.diag_indices_from(A)] += 1e-10 * np.trace(A) / len(A) + 1e-300
    return A


def fit(X: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares fit of every column of ``values`` (n, c); fitted (n, c)."""
    return X @ solve(X, values, weights)


def robust_scale(residual: np.ndarray, axis: int = 0) -> np.ndarray:
    """1.4826 x the median absolute deviation from zero along ``axis`` (the residuals of
    a fit have median ~0); where more than half the residuals are exactly 0 (sparse
    counts), sqrt(pi/2) x the mean absolute residual instead (both are the sd for
    Gaussian residuals)."""
    a = np.abs(residual)
    mad = MAD_SCALE * np.median(a, axis=axis)
    return np.where(mad > 0, mad, np.sqrt(np.pi / 2) * a.mean(axis=axis))


def robust_fit(X: np.ndarray, values: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Tukey-bisquare IRLS fit of every column of ``values`` (n, c): positions that do
    not follow the periodic pattern (defects) get weight zero. Returns fitted (n, c)."""
    fitted = fit(X, values)
    for _ in range(iterations):
        r = values - fitted
        scale = robust_scale(r)
        if not np.all(scale > 0):  # an exact fit: nothing left to down-weight
            return fitted
        u = r / (TUKEY_C * scale)
        w = np.where(np.abs(u) < 1, (1 - u ** 2) ** 2, 0.0)
        new = fit(X, values, w)
        if np.allclose(new, fitted, rtol=0, atol=1e-9 * (np.abs(values).max() + 1e-300)):
            return new
        fitted = new
    return fitted
