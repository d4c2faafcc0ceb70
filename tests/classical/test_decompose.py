import dask.array as da
import numpy as np
import pytest
from sklearn.decomposition import PCA

from symbreak.classical import decompose, pca_denoise
from symbreak.dataset import Dataset4D
from symbreak.errors import DataError, SettingsError


def low_rank(seed=0, noise=1e-3, shape=(20, 18, 12, 12), rank=3):
    rng = np.random.default_rng(seed)
    comps = rng.random((rank,) + shape[2:])
    scores = rng.random(shape[:2] + (rank,))
    data = np.einsum("yxc,cij->yxij", scores, comps)
    return data + noise * rng.random(shape)


def reconstruct(result):
    rec = np.einsum("cyx,cij->yxij", result.scores.values, result.components.values)
    return rec + result["mean"].values


def match_up_to_sign(a, b, atol):
    for row_a, row_b in zip(a, b):
        sign = np.sign(row_a @ row_b)
        np.testing.assert_allclose(row_a, sign * row_b, atol=atol)


@pytest.fixture
def data():
    return low_rank()


def test_pca_matches_sklearn(data):
    flat = data.reshape(-1, 144)
    reference = PCA(n_components=5).fit(flat)
    result = decompose(data, "pca", 5)
    assert result.scores.dims == ("component", "scan_y", "scan_x")
    assert result.components.dims == ("component", "ky", "kx")
    match_up_to_sign(result.components.values.reshape(5, -1), reference.components_, 1e-10)
    match_up_to_sign(result.scores.values.reshape(5, -1), reference.transform(flat).T, 1e-10)
    np.testing.assert_allclose(result.explained_variance_ratio.values,
                               reference.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(result["mean"].values.ravel(), reference.mean_, atol=1e-12)


def test_signs_are_deterministic(data):
    result = decompose(data, "pca", 3)
    comps = result.components.values.reshape(3, -1)
    peak = comps[np.arange(3), np.abs(comps).argmax(axis=1)]
    assert (peak > 0).all()
    again = decompose(data * 1.0, "pca", 3, incremental=True, memory_budget=200_000)
    np.testing.assert_allclose(again.components.values, result.components.values, atol=1e-5)


def test_incremental_pca_matches_and_reconstructs(data):
    lazy = da.from_array(data, chunks=(3, 18, 12, 12))
    result = decompose(lazy, "pca", 3, incremental=True, memory_budget=200_000)
    assert '"incremental": true' in result.attrs["settings"]
    reference = PCA(n_components=3).fit(data.reshape(-1, 144))
    match_up_to_sign(result.components.values.reshape(3, -1), reference.components_, 1e-4)
    error = np.linalg.norm(reconstruct(result) - data) / np.linalg.norm(data)
    assert error < 2e-3


@pytest.mark.parametrize("incremental", [False, True])
def test_nmf_reconstructs_low_rank(data, incremental):
    result = decompose(data, "nmf", 3, incremental=incremental, memory_budget=200_000)
    assert "explained_variance_ratio" not in result
    assert (result.components.values >= 0).all() and (result.scores.values >= 0).all()
    rec = np.einsum("cyx,cij->yxij", result.scores.values, result.components.values)
    assert np.linalg.norm(rec - data) / np.linalg.norm(data) < 5e-3


def test_streamed_nmf_is_reproducible(data):
    a = decompose(data, "nmf", 3, incremental=True, memory_budget=200_000, random_state=1)
    b = decompose(data, "nmf", 3, incremental=True, memory_budget=200_000, random_state=1)
    np.testing.assert_array_equal(a.components.values, b.components.values)


def test_pca_denoise_is_lazy_projection(data):
    noisy = data + np.random.default_rng(9).normal(0, 0.05, data.shape)
    denoised = pca_denoise(noisy, n_components=6, keep=3)
    assert isinstance(denoised, Dataset4D) and denoised.is_lazy
    assert denoised.provenance[-1]["step"] == "pca_denoise"
    values = denoised.to_numpy()
    flat = noisy.reshape(-1, 144)
    pca = PCA(n_components=6).fit(flat)
    basis = pca.components_[:3]
    expected = (flat - pca.mean_) @ basis.T @ basis + pca.mean_
    np.testing.assert_allclose(values.reshape(-1, 144), expected, atol=1e-4)
    assert np.linalg.norm(values - data) < 0.6 * np.linalg.norm(noisy - data)
    subset = pca_denoise(noisy, n_components=6, keep=[0, 2]).to_numpy()
    basis = pca.components_[[0, 2]]
    np.testing.assert_allclose(subset.reshape(-1, 144),
                               (flat - pca.mean_) @ basis.T @ basis + pca.mean_, atol=1e-4)


@pytest.mark.parametrize("kwargs, error", [
    ({"method": "ica"}, SettingsError),
    ({"n_components": 0}, SettingsError),
    ({"n_components": 10_000}, SettingsError),
    ({"n_components": 2.5}, SettingsError),
])
def test_bad_settings(data, kwargs, error):
    with pytest.raises(error):
        decompose(data, **kwargs)


def test_bad_data():
    negative = low_rank() - 0.5
    with pytest.raises(DataError, match="non-negative"):
        decompose(negative, "nmf", 2)
    with pytest.raises(DataError, match="non-negative"):
        decompose(negative, "nmf", 2, incremental=True)
    nan = low_rank()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        decompose(nan, "pca", 2)
    with pytest.raises(SettingsError, match="keep"):
        pca_denoise(low_rank(), n_components=4, keep=[5])
