"""Lattice-periodic Fourier series on scan positions: the design matrix, ordinary and
robust (Tukey bisquare IRLS) fits.

A map m(r) of a perfect crystal is periodic, m(r) = sum_G c_G exp(2 pi i G.r), with G on
the reciprocal lattice. The series is cut at the scan's Nyquist frequency (the data
cannot hold more) and at a third of the number of positions (a localized defect then
projects onto it only weakly, about n_parameters / n_positions of its energy).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

TUKEY_C = 4.685  # bisquare tuning constant (95 % efficiency for Gaussian noise)
MAD_SCALE = 1.4826  # 1.4826 x MAD = sd for Gaussian data
MAX_CANDIDATES = 2**22  # reciprocal vectors considered as harmonics (about 100 MB)


def harmonics(reciprocal: np.ndarray, gmax: float, max_terms: int) -> np.ndarray:
    """Integer (h, k) of the reciprocal vectors ``G = h b1 + k b2`` with
    ``0 < |G| <= gmax`` [1/Å], one of each +/- pair, shortest first, at most
    ``max_terms``.

    Raises
    ------
    DataError
        When the lattice has more than :data:`MAX_CANDIDATES` reciprocal vectors up to
        ``gmax`` (a lattice far larger than the scan resolves), before allocating them.
    """
    h, k = _candidates(np.asarray(reciprocal, float), float(gmax))
    hk = np.stack([h, k], axis=1)
    g = np.linalg.norm(hk @ reciprocal, axis=1)
    keep = g <= gmax
    hk, g = hk[keep], g[keep]
    return hk[np.argsort(g, kind="stable")][:max_terms]


def _candidates(reciprocal: np.ndarray, gmax: float) -> tuple[np.ndarray, np.ndarray]:
    """(h, k) of the upper half plane (h > 0, or h = 0 and k > 0) around the disc
    ``|h b1 + k b2| <= gmax``, h-major and k ascending: for each h the k whose G lie in
    the disc form an interval (a quadratic in k), widened by one on each side so that
    rounding never drops a vector on the disc's edge; counted before anything is made."""
    b1, b2 = reciprocal
    det = abs(b1[0] * b2[1] - b1[1] * b2[0])
    q = float(b2 @ b2)
    with np.errstate(all="ignore"):
        hmax = gmax * np.sqrt(q) / det
    if not (np.isfinite(hmax) and det > 0 and q > 0) or hmax > MAX_CANDIDATES:
        raise DataError(f"the lattice with reciprocal vectors {reciprocal.tolist()} 1/Å has "
                        f"too many harmonics up to {gmax:.4g} 1/Å to fit; give lattice "
                        "vectors no longer than the field of view")
    hs = np.arange(int(hmax) + 2)
    centre = -hs * float(b1 @ b2) / q
    half = np.sqrt(np.maximum(q * gmax ** 2 - (hs * det) ** 2, 0.0)) / q
    low = np.floor(centre - half).astype(np.int64) - 1
    low[0] = max(int(low[0]), 1)
    counts = np.maximum(np.ceil(centre + half).astype(np.int64) + 1 - low + 1, 0)
    total = int(counts.sum())
    if total > MAX_CANDIDATES:
        raise DataError(f"the lattice with reciprocal vectors {reciprocal.tolist()} 1/Å has "
                        f"about {total:,} harmonics up to {gmax:.4g} 1/Å, more than "
                        f"{MAX_CANDIDATES:,}; give lattice vectors no longer than the field "
                        "of view")
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.repeat(low, counts) + np.arange(total) - starts
    return np.repeat(hs, counts), k


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
