"""Pooling over the probe footprint: a scalar map's residual is pooled signed (a matched
filter), other maps by their chi2; checked against closed forms, the null's tail and the
power on a weak offset that covers the footprint."""

import numpy as np
import pytest
from scipy import stats

from symbreak.symmetry.reference import Residual
from symbreak.symmetry.pooling import curl_fraction, curl_free_orientation
from symbreak.symmetry.score import chi2_score, footprint_weights, pooled_score, pooled_terms

SHAPE = (160, 160)
FOOT = (2.0, 2.0)  # [px]


def _scalar(values, signed=True):
    v = np.asarray(values, float)[None]
    return Residual(np.zeros_like(v), v, np.ones(1), pooling="signed" if signed else "chi2")


def test_chi2_score_is_the_exact_normal_equivalent_and_keeps_order_beyond_float_range():
    x = np.array([0.5, 3.84, 25.0, 400.0])
    for k in (1, 3, 17.5):
        np.testing.assert_allclose(chi2_score(x, k), stats.norm.isf(stats.chi2.sf(x, k)),
                                   rtol=1e-6)
    huge = chi2_score(np.array([1e4, 2e4, 4e4]), 2.0)  # sf underflows past ~1500
    assert np.all(np.isfinite(huge)) and np.all(np.diff(huge) > 0)
    # exp(-x/2) for 2 dof: z^2 / 2 + log z + log sqrt(2 pi) = x / 2 in the tail
    assert huge[0] == pytest.approx(np.sqrt(1e4 - 2 * np.log(huge[0] * np.sqrt(2 * np.pi))), rel=1e-3)


def test_signed_pooling_of_a_constant_offset_is_the_matched_filter():
    """A residual of delta everywhere: z = delta sum(w) / sqrt(sum(w^2)), at the centre
    delta / sqrt(sum k^2) for the normalised Gaussian kernel k (no noise: closed form)."""
    delta = 0.3
    chi2, dof = pooled_terms(_scalar(np.full(SHAPE, delta)), FOOT)
    w, w2 = footprint_weights(SHAPE, FOOT)
    np.testing.assert_allclose(chi2, (delta * w) ** 2 / w2, rtol=1e-10)
    np.testing.assert_array_equal(dof, 1.0)
    k = np.outer(*[np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2)] * 2)
    k /= k.sum()
    assert chi2[80, 80] == pytest.approx(delta ** 2 / (k ** 2).sum(), rel=1e-3)


def test_signed_pooling_keeps_the_null_and_finds_a_weak_offset_that_squares_miss():
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(SHAPE)
    null = pooled_score([_scalar(noise)], FOOT)
    assert 0.004 < np.mean(null > stats.norm.isf(0.01)) < 0.02  # ~1 % above 2.33 sigma
    yy, xx = np.indices(SHAPE)
    disk = np.hypot(yy - 80, xx - 80) <= 3 * FOOT[0]
    signal = noise + 0.8 * disk  # 0.8 sigma per probe over the footprint
    signed = pooled_score([_scalar(signal)], FOOT)[80, 80]
    squared = pooled_score([_scalar(signal, signed=False)], FOOT)[80, 80]
    expected = 0.8 / np.sqrt(footprint_weights(SHAPE, FOOT)[1][80, 80])  # ~5.7 sigma
    assert signed > 4.0 and signed > squared + 1.5
    assert abs(signed - expected) < 2.0  # one noise draw around the matched filter's mean


def _field(vy, vx, pooling="field"):
    v = np.stack([vy, vx]).astype(float)
    return Residual(np.zeros_like(v), v, np.ones(2), pooling=pooling)


def test_field_pooling_is_unchanged_by_any_rotation_of_the_field():
    """An unknown scan rotation turns the COM field; divergence^2 + curl^2 is invariant,
    so the score does not depend on it."""
    rng = np.random.default_rng(5)
    vy, vx = rng.standard_normal((2, 60, 70))
    base = pooled_terms(_field(vy, vx), FOOT)[0]
    for theta in (0.7, np.pi / 2, 2.5):
        c, s = np.cos(theta), np.sin(theta)
        turned = pooled_terms(_field(c * vy + s * vx, -s * vy + c * vx), FOOT)[0]
        np.testing.assert_allclose(turned, base, rtol=1e-9, atol=1e-12)


def test_a_flipped_detector_axis_is_undone_by_the_curl_free_orientation():
    """A gradient field measured with one detector axis flipped: the flip whose reference
    is curl-free is found, and the residual is turned back."""
    yy, xx = np.indices((50, 60)) * 0.3
    phi = np.cos(2.1 * yy) * np.cos(1.3 * xx + 0.4 * yy)
    gy, gx = np.gradient(phi, 0.3)
    assert curl_fraction(gy, gx) < 1e-3 < curl_fraction(-gy, gx)
    rng = np.random.default_rng(2)
    noise = rng.standard_normal((2, 50, 60))
    measured = Residual(np.stack([-gy, gx]), noise * [[[-1.0]], [[1.0]]], np.ones(2), "field")
    fixed = curl_free_orientation(measured)
    np.testing.assert_array_equal(fixed.residual, noise)
    np.testing.assert_array_equal(fixed.reference, np.stack([gy, gx]))
    kept = Residual(np.stack([gy, gx]), noise, np.ones(2), "field")
    assert curl_free_orientation(kept) is kept


def test_field_pooling_keeps_the_null_and_finds_a_weak_charge_that_squares_miss():
    """A vacancy changes the projected charge: its COM residual is the gradient of a
    Gaussian bump (radial, changing sign across the site), which the divergence filter
    matches and the sum of squares dilutes."""
    rng = np.random.default_rng(8)
    vy, vx = rng.standard_normal((2,) + SHAPE)
    null = pooled_score([_field(vy, vx)], FOOT)
    assert 0.004 < np.mean(null > stats.norm.isf(0.01)) < 0.02
    yy, xx = np.indices(SHAPE) - 80.0
    bump = np.exp(-0.5 * (yy ** 2 + xx ** 2) / 2.5 ** 2)
    gy, gx = np.gradient(4.0 * bump)  # at most 0.97 sigma per probe and component
    field = pooled_score([_field(vy + gy, vx + gx)], FOOT)[78:83, 78:83].max()
    squares = pooled_score([_field(vy + gy, vx + gx, "chi2")], FOOT)[76:85, 76:85].max()
    assert field > 5.0 and field > squares + 2.0
