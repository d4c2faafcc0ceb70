"""The weighted normal-equation solve of the periodic fits against numpy's least squares."""

import numpy as np

from symbreak.symmetry import periodic


def test_weighted_solve_equals_weighted_least_squares():
    rng = np.random.default_rng(3)
    X = np.hstack([np.ones((500, 1)), rng.standard_normal((500, 8))])
    values = rng.standard_normal((500, 3))
    weights = rng.random((500, 3)) * (rng.random((500, 3)) > 0.2)  # some exactly 0
    got = periodic.solve(X, values, weights)
    for j in range(3):
        root = np.sqrt(weights[:, j])
        want = np.linalg.lstsq(X * root[:, None], values[:, j] * root, rcond=None)[0]
        np.testing.assert_allclose(got[:, j], want, rtol=1e-7, atol=1e-10)  # normal equations: cond^2
    plain = np.linalg.lstsq(X, values, rcond=None)[0]
    np.testing.assert_allclose(periodic.solve(X, values), plain, rtol=1e-7, atol=1e-10)  # normal equations: cond^2
