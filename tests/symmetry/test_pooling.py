"""Pooling over the probe footprint: a scalar map's residual is pooled signed (a matched
filter), other maps by their chi2; checked against closed forms, the null's tail and the
power on a weak offset that covers the footprint."""

import numpy as np
import pytest
from scipy import stats

from symbreak.symmetry.reference import Residual
from symbreak.symmetry.score import chi2_score, footprint_weights, pooled_score, pooled_terms

SHAPE = (160, 160)
FOOT = (2.0, 2.0)  # [px]


def _scalar(values, signed=True):
    v = np.asarray(values, float)[None]
    return Residual(np.zeros_like(v), v, np.ones(1), signed=signed)


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
