"""``analyze`` with its array stages on a dask.distributed cluster of 2 worker processes
gives the results of the local run (float tolerance), streamed or in memory."""

import numpy as np
import pytest

import symbreak
from symbreak.analysis import analyze

from .conftest import synthetic_scan

pytestmark = pytest.mark.slow
FAST = dict(epochs=2, pca_components=4, manifold_size=3, progress=False)
NAMES = ["bf", "adf", "com_x", "com_y", "mean_pattern", "pca_explained_variance_ratio",
         "latent_angle", "latent_z", "reconstruction_error"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    path = tmp_path_factory.mktemp("cluster") / "scan.zarr"
    symbreak.save(synthetic_scan(ny=12, nx=10), path)
    return path


@pytest.mark.parametrize("budget", ["96kB", "2GB"], ids=["streamed", "in-memory"])
def test_two_workers_equal_the_local_run(stored, budget):
    local = analyze(stored, memory_budget=budget, **FAST)
    cluster = analyze(stored, memory_budget=budget, workers=2, **FAST)
    assert local.attrs["rrvae_streamed"] == cluster.attrs["rrvae_streamed"] == \
        int(budget == "96kB")
    for name in NAMES:
        if name == "pca_explained_variance_ratio" and budget == "96kB":
            continue  # below the covariance's own budget PCA is incremental, see below
        np.testing.assert_allclose(cluster[name].values, local[name].values, rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    # IncrementalPCA's batches follow the workers' memory, and it is an approximation:
    # the leading ratios agree to 1e-4, the small ones to a few per cent
    ratios = [r.pca_explained_variance_ratio.values for r in (cluster, local)]
    np.testing.assert_allclose(ratios[0][:2], ratios[1][:2], rtol=1e-3)
    np.testing.assert_allclose(ratios[0], ratios[1], rtol=5e-2)
