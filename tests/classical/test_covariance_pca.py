"""PCA from the streamed covariance matrix equals scikit-learn's PCA on the same data."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from symbreak.classical import decompose
from symbreak.classical.covariance_pca import covariance_pca, fits
from symbreak.dataset import Dataset4D
from symbreak.engine import budget_scope


@pytest.fixture(scope="module")
def patterns():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(5, 12 * 12))
    weights = rng.normal(size=(20 * 15, 5)) * np.array([9, 5, 3, 2, 1])
    x = 50 + weights @ basis + rng.normal(scale=0.1, size=(300, 144))
    return x.reshape(20, 15, 12, 12)


def test_covariance_pca_equals_sklearn(patterns):
    flat = patterns.reshape(300, 144)
    ref = PCA(n_components=4).fit(flat)
    with budget_scope("64kB"):
        comps, mean, scores, ratio = covariance_pca(Dataset4D(patterns), 4)
    signs = np.sign(np.sum(comps * ref.components_, axis=1))
    np.testing.assert_allclose(comps * signs[:, None], ref.components_, atol=1e-9)
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-9)
    np.testing.assert_allclose(mean, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(scores * signs, ref.transform(flat), atol=1e-8)


def test_decompose_streams_through_the_covariance_when_data_exceed_the_budget(
        patterns, monkeypatch):
    from symbreak.classical import covariance_pca as module
    calls = []
    original = module.covariance_pca
    monkeypatch.setattr(module, "covariance_pca", lambda *a, **k: calls.append(1) or
                        original(*a, **k))
    ds = Dataset4D(patterns.astype(np.float32))
    # 1.2 MB: too small for the in-memory PCA (1.4 MB), enough for the covariance (1 MB)
    small = decompose(ds, "pca", 3, memory_budget="1200kB", progress=False)
    full = decompose(ds, "pca", 3, memory_budget="1GB", progress=False)
    assert calls == [1]
    np.testing.assert_allclose(small.explained_variance_ratio.values,
                               full.explained_variance_ratio.values, rtol=1e-5)
    np.testing.assert_allclose(np.abs(small.scores.values), np.abs(full.scores.values),
                               rtol=1e-4, atol=1e-3)


def test_fits_follows_the_budget():
    with budget_scope("1GB"):
        assert fits(46 * 46) and not fits(256 * 256)


def test_covariance_pca_refuses_nan_like_the_in_memory_pca(patterns):
    from symbreak.errors import DataError
    bad = patterns.copy()
    bad[3, 4, 5, 6] = np.nan
    with pytest.raises(DataError, match="NaN"), budget_scope("64kB"):
        covariance_pca(Dataset4D(bad), 2)
