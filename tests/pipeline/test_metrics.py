"""Circular correlation and AUC against known values and brute-force definitions."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from symbreak import metrics
from symbreak.errors import DataError


def fisher_lee_brute(a, b):
    i, j = np.triu_indices(len(a), k=1)
    sa, sb = np.sin(a[i] - a[j]), np.sin(b[i] - b[j])
    return (sa * sb).sum() / np.sqrt((sa**2).sum() * (sb**2).sum())


def test_fisher_lee_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    a = rng.uniform(-np.pi, np.pi, 200)
    b = a + rng.normal(0, 0.8, 200)
    assert metrics.circular_correlation(a, b) == pytest.approx(fisher_lee_brute(a, b), rel=1e-10)


def test_fisher_lee_rotation_and_reflection():
    rng = np.random.default_rng(1)
    a = rng.uniform(-np.pi, np.pi, 300)
    assert metrics.circular_correlation(a, a + 1.3) == pytest.approx(1.0)
    assert metrics.circular_correlation(a, np.angle(np.exp(1j * (2.0 - a)))) == pytest.approx(-1.0)


def test_independent_angles_correlate_near_zero():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(-np.pi, np.pi, (2, 20000))
    assert abs(metrics.circular_correlation(a, b)) < 0.03
    assert abs(metrics.circular_correlation_js(a, b)) < 0.03


def test_jammalamadaka_known_value():
    # hand computation: a = (0, pi/2, pi), mean_a = pi/2; b = a -> r = 1
    a = np.array([0.0, np.pi / 2, np.pi])
    assert metrics.circular_correlation_js(a, a) == pytest.approx(1.0)
    b = np.array([0.1, 0.5, 0.2])
    mb = np.arctan2(np.sin(b).sum(), np.cos(b).sum())
    da, db = np.sin(a - np.pi / 2), np.sin(b - mb)
    expected = (da * db).sum() / np.sqrt((da**2).sum() * (db**2).sum())
    assert metrics.circular_correlation_js(a, b) == pytest.approx(expected)


def test_nan_pairs_are_dropped():
    a = np.array([0.1, 0.7, np.nan, 2.0, -1.0])
    b = np.array([0.2, 0.9, 1.0, 2.2, np.nan])
    assert metrics.circular_correlation(a, b) == pytest.approx(
        fisher_lee_brute(a[[0, 1, 3]], b[[0, 1, 3]])
    )


def test_auc_known_values():
    labels = np.array([0, 0, 1, 1], bool)
    assert metrics.auc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert metrics.auc([0.9, 0.8, 0.1, 0.2], labels) == 0.0
    assert metrics.symmetric_auc([0.9, 0.8, 0.1, 0.2], labels) == 1.0
    # one inversion out of four pairs
    assert metrics.auc([0.1, 0.85, 0.8, 0.9], labels) == pytest.approx(0.75)
    rng = np.random.default_rng(3)
    s, y = rng.normal(size=500), rng.random(500) > 0.7
    assert metrics.auc(s, y) == pytest.approx(roc_auc_score(y, s))


def test_auc_needs_both_classes():
    with pytest.raises(DataError, match="both classes"):
        metrics.auc([1, 2, 3], [True, True, True])
