"""The combined score: the stronger of all descriptors pooled and the best one alone,
each corrected for the looks taken (Sidak), checked against closed forms and on residuals
with a known signal."""

import numpy as np
from scipy import stats

from symbreak.symmetry.reference import Residual
from symbreak.symmetry.score import family_scores, sidak

SHAPE = (120, 120)
SITE = (60, 60)
STEP = (10.0, 10.0)  # FOOTPRINT / step ~ 0: the footprint pooling does not blur the site


def _residual(rng, channels, signal=0.0):
    """Gaussian residuals (channels, ny, nx); ``signal`` added to every channel at SITE."""
    r = rng.standard_normal((channels,) + SHAPE)
    r[:, SITE[0], SITE[1]] += signal
    return Residual(np.zeros_like(r), r, np.ones(channels))


def test_sidak_equals_its_closed_form_and_stays_finite_in_the_tail():
    z = np.linspace(1.5, 5.0, 8)  # 1 - (1 - p)^n computed plainly is exact enough here
    tail = np.linspace(9.0, 37.0, 8)  # and n p (to p^2) here
    for looks in (2, 3, 7):
        expected = stats.norm.isf(1 - (1 - stats.norm.sf(z)) ** looks)
        np.testing.assert_allclose(sidak(z, looks), expected, rtol=1e-8)
        np.testing.assert_allclose(sidak(tail, looks),
                                   stats.norm.isf(looks * stats.norm.sf(tail)), rtol=1e-10)
    far = sidak(np.array([38.0, 45.0]), 7)
    assert np.all(np.isfinite(far)) and np.all(far < [38.0, 45.0]) and far[0] > 37.9
    np.testing.assert_array_equal(sidak(np.array([-2.0, 0.0, 0.1]), 7), [-2.0, 0.0, 0.0])
    assert sidak(np.array([5.0]), 1)[0] == 5.0


def test_one_informative_descriptor_is_not_drowned_by_the_others():
    """An offset of chi2 ~ 144 in one two-channel descriptor among five with 40 channels
    of noise each: the combined score keeps it within the two corrections, where pooling
    alone (the old combined score) adds the others' 200 noise channels to it."""
    rng = np.random.default_rng(0)
    residuals = {"strong": _residual(rng, 2, 8.5)}
    residuals.update({f"noise{i}": _residual(rng, 40) for i in range(5)})
    s = family_scores(residuals, {}, STEP)
    best = s["strong"][SITE]
    assert s["combined"][SITE] >= sidak(np.array([best]), 7)[0] - 1e-9
    assert s["combined"][SITE] > best - 0.5
    pooled_only = family_scores(residuals, {"all": tuple(residuals)}, STEP)["all"][SITE]
    assert pooled_only < best - 2.5


def test_evidence_spread_over_all_descriptors_is_pooled():
    """The same 3-sigma offset in five descriptors: pooled, it is more than any one."""
    rng = np.random.default_rng(1)
    residuals = {f"d{i}": _residual(rng, 1, 3.0) for i in range(5)}
    s = family_scores(residuals, {}, STEP)
    assert s["combined"][SITE] > max(s[k][SITE] for k in residuals) + 1.0


def test_evidence_spread_over_one_family_is_read_as_that_family():
    """A 3-sigma offset in each of six descriptors of one family and noise in six others
    with 10 channels each: the family pooled sees it far better than any member or all
    descriptors pooled, and the combined score keeps the family's reading within one
    correction for its 14 readings (12 descriptors, the two families; all pooled is the
    same set as neither, so it is a 15th)."""
    rng = np.random.default_rng(4)
    residuals = {f"f{i}": _residual(rng, 1, 3.0) for i in range(6)}
    residuals.update({f"n{i}": _residual(rng, 10) for i in range(6)})
    families = {"kind": tuple(f"f{i}" for i in range(6)),
                "all_noise": tuple(f"n{i}" for i in range(6))}
    s = family_scores(residuals, families, STEP)
    family = s["kind"][SITE]
    assert family > max(s[f"f{i}"][SITE] for i in range(6)) + 1.5
    expected = sidak(np.array([family]), 15)[0]
    assert s["combined"][SITE] >= expected - 1e-9
    assert s["combined"][SITE] > family - 0.6


def test_the_null_stays_standard_normal_in_the_tail():
    """Pure noise in six descriptors: the combined score exceeds 2.5 and 3 sigma about as
    often as a standard normal does (the corrections keep the false-alarm rate)."""
    rng = np.random.default_rng(2)
    residuals = {f"d{i}": _residual(rng, 1 + 3 * i) for i in range(6)}
    combined = family_scores(residuals, {}, STEP)["combined"]
    for level in (2.5, 3.0):
        rate = np.mean(combined > level)
        assert 0.5 * stats.norm.sf(level) < rate < 1.3 * stats.norm.sf(level), (level, rate)
