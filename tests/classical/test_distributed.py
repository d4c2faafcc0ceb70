"""The array stages give the local threaded scheduler's numbers on a dask.distributed
LocalCluster of 1 and of 2 worker processes, for data in memory, in a .npy memory map,
in an EMD/HDF5 file and in a zarr store (each takes a different path to the workers).

Tolerances: per-pattern stages (COM with its scan rotation and iCOM, virtual images) and
the mean pattern agree to rtol 1e-10 (only the summation order may differ); saved and
reloaded data exactly; preprocessed (float32) patterns, PCA (signs fixed by the largest
pixel), streamed NMF and PCA denoising to 1e-6 of the largest absolute value.
"""

import pickle
import sys

import dask
import numpy as np
import pytest
from classical_synthetic import shifted_disks
from distributed import get_task_stream

import symbreak
from symbreak.arrays import H5Dataset, NoCopyView, ReleasingMemmap, file_view
from symbreak.classical import decompose, pca_denoise, virtual_images
from symbreak.engine import active_client, budget_scope, use_cluster
from symbreak.errors import SettingsError
from symbreak.preprocess import mean_pattern, preprocess

SCAN, PATTERN = (12, 10), (32, 32)
BUDGET = 512 * 2**10  # 4-6 scan chunks: tasks for both workers, little overhead
# 1 scan row per batch with any scheduler, so incremental fits see the same batches
DECOMPOSE_BUDGET = 64 * 2**10
DETECTORS = {"bf": (0.0, 7.0), "adf": (7.0, 14.0)}
SOURCES = ("numpy", "npy", "h5", "zarr")
# random shifts have no curl to tell the flips apart; the found angle is still compared
pytestmark = pytest.mark.filterwarnings("ignore:the scan flip found by minimum curl")


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(3)
    shifts = rng.uniform(-2, 2, (2,) + SCAN)
    return rng.poisson(200 * shifted_disks(shifts[0], shifts[1], PATTERN) + 1).astype(np.uint16)


@pytest.fixture(scope="module")
def files(counts, tmp_path_factory):
    folder = tmp_path_factory.mktemp("distributed")
    np.save(folder / "data.npy", counts)
    symbreak.save(counts, folder / "data.h5")
    symbreak.save(counts, folder / "data.zarr")
    return {"npy": folder / "data.npy", "h5": folder / "data.h5", "zarr": folder / "data.zarr"}


def open_source(source, counts, files):
    return symbreak.as_dataset(counts) if source == "numpy" else symbreak.load(files[source])


def stages(ds):
    """The numbers of the per-pattern stages and the mean pattern, as numpy arrays."""
    out = {"mean": mean_pattern(ds)}
    result = symbreak.com(ds, rotation="auto", memory_budget=BUDGET)
    out.update(com_x=result.com_x.values, com_y=result.com_y.values,
               rotation=np.array([result.attrs["scan_rotation"]]),
               icom=symbreak.classical.icom(result).values)
    images = virtual_images(ds, DETECTORS, units="px", center=(15.5, 15.5), memory_budget=BUDGET)
    out.update({k: images[k].values for k in DETECTORS})
    shifted = virtual_images(ds, DETECTORS, units="px", center=(15.5, 15.5), shifts="com",
                             memory_budget=BUDGET)
    out["bf_shifted"] = shifted["bf"].values
    return out


def decompositions(ds):
    """Preprocessing, PCA (in memory and incremental), streamed NMF and PCA denoising."""
    out = {"preprocessed": preprocess(ds, crop=24, bin=2).to_numpy()}
    for incremental in (False, True):
        pca = decompose(ds, "pca", 3, incremental=incremental, memory_budget=DECOMPOSE_BUDGET)
        out[f"pca_{incremental}"] = pca.components.values
        out[f"pca_scores_{incremental}"] = pca.scores.values
    nmf = decompose(ds, "nmf", 2, incremental=True, max_iter=6, memory_budget=DECOMPOSE_BUDGET)
    out.update(nmf=nmf.components.values, nmf_scores=nmf.scores.values)
    out["denoised"] = pca_denoise(ds, 4, 2, memory_budget=DECOMPOSE_BUDGET).to_numpy()
    return out


def threaded(func, counts):
    """``func`` of the data in memory on the threaded scheduler (even with a cluster up)."""
    with dask.config.set(scheduler="threads"):
        assert active_client() is None
        return func(symbreak.as_dataset(counts))


@pytest.fixture(scope="module")
def reference_stages(counts):
    return threaded(stages, counts)


@pytest.fixture(scope="module")
def reference_decompositions(counts):
    return threaded(decompositions, counts)


@pytest.fixture(scope="module", params=[pytest.param(1, marks=pytest.mark.slow), 2],
                ids=["1worker", "2workers"])
def client(request):
    with use_cluster(workers=request.param) as client:
        yield client
    assert active_client() is None


def on_workers(client, func, *args):
    """``func(*args)`` and a check that dask tasks ran on the cluster's workers."""
    with get_task_stream(client) as stream:
        result = func(*args)
    ran_on = {task["worker"] for task in stream.data}
    assert ran_on and ran_on <= set(client.scheduler_info(n_workers=-1)["workers"])
    return result


@pytest.mark.parametrize("source", SOURCES)
def test_stages_match_threaded(client, source, counts, files, reference_stages):
    assert active_client() is client
    got = on_workers(client, stages, open_source(source, counts, files))
    for name, expected in reference_stages.items():
        np.testing.assert_allclose(got[name], expected, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES)
def test_decompositions_match_threaded(client, source, counts, files,
                                       reference_decompositions):
    got = on_workers(client, decompositions, open_source(source, counts, files))
    for name, expected in reference_decompositions.items():
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got[name], expected, rtol=0, atol=1e-6 * scale, err_msg=name)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("suffix", (".zarr", pytest.param(".h5", marks=pytest.mark.slow)))
def test_save_round_trip(client, source, suffix, counts, files, tmp_path):
    out = tmp_path / f"copy{suffix}"
    if suffix == ".zarr":  # the workers write the zarr chunks
        on_workers(client, symbreak.save, open_source(source, counts, files), out)
    else:  # an HDF5 file has one writer: this process
        symbreak.save(open_source(source, counts, files), out)
    back = symbreak.load(out).to_numpy()
    assert back.dtype == counts.dtype
    np.testing.assert_array_equal(back, counts)


def test_memmap_pickles_as_a_file_description(tmp_path):
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(64, 64, 56, 57))
    big[3, 5] = 7.0  # ~50 MB file
    big.flush()
    del big
    mapped = np.load(path, mmap_mode="r")
    for wrapper in (NoCopyView(mapped), ReleasingMemmap(mapped[2:5, 1:60:3])):
        blob = pickle.dumps(wrapper)
        assert len(blob) < 10_000
        np.testing.assert_array_equal(pickle.loads(blob).array, wrapper.array)
    graph = pickle.dumps(symbreak.load(path).to_dask())
    assert len(graph) < 10_000
    # an array in memory travels with its data
    assert len(pickle.dumps(NoCopyView(np.array(mapped[0, 0])))) > mapped[0, 0].nbytes


def test_file_view_offsets(tmp_path):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.int32).reshape(2, 3, 4, 5)
    np.save(tmp_path / "a.npy", np.asfortranarray(data))
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    for view in (mapped, mapped[1], mapped[:, 1:3, ::2], mapped.T):
        description = file_view(view)
        assert description is not None
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(NoCopyView(view))).array, view)
    assert file_view(mapped[::-1]) is None
    assert file_view(np.load(tmp_path / "a.npy", mmap_mode="c")) is None
    assert file_view(data) is None


def test_h5_dataset_pickles_by_path(files, counts):
    import h5py

    with h5py.File(files["h5"], "r") as f:
        name = next(k for k in _datasets(f) if f[k].ndim == 4)
        wrapper = H5Dataset(f[name])
        blob = pickle.dumps(wrapper)
    assert len(blob) < 1_000
    np.testing.assert_array_equal(pickle.loads(blob)[2:4], counts[2:4])


def _datasets(f):
    names = []
    f.visititems(lambda name, obj: names.append(name) if hasattr(obj, "shape") else None)
    return names


def test_use_cluster_errors(monkeypatch):
    monkeypatch.setattr("symbreak.engine.cluster.CONNECT_TIMEOUT", 1)
    address = "tcp://127.0.0.1:1"
    with (pytest.raises(SettingsError, match=f"{address}.*dask scheduler"),
          use_cluster(scheduler=address)):
        pass
    with pytest.raises(SettingsError, match="not both"), use_cluster(address, workers=2):
        pass
    with pytest.raises(SettingsError, match="positive integer"), use_cluster(workers=0):
        pass
    with use_cluster() as nothing:
        assert nothing is None
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with (pytest.raises(SettingsError, match="distributed is not installed"),
          use_cluster(workers=1)):
        pass


def test_numpy_input_is_scattered_not_shipped_in_graphs(client, counts):
    from symbreak.engine import as_chunked

    with budget_scope(BUDGET):
        chunked = as_chunked(symbreak.as_dataset(counts))
    assert chunked.name.startswith("scattered-") and chunked.numblocks[0] > 1
    np.testing.assert_array_equal(chunked.compute(), counts)


def test_cli_unreachable_scheduler(monkeypatch, files, tmp_path, capsys):
    from symbreak.cli import main

    monkeypatch.setattr("symbreak.engine.cluster.CONNECT_TIMEOUT", 1)
    code = main(["com", str(files["npy"]), "--out", str(tmp_path / "c.zarr"),
                 "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "tcp://127.0.0.1:1" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.zarr").exists()


@pytest.mark.slow
def test_cli_workers_match_api(files, tmp_path, reference_stages):
    import xarray as xr

    from symbreak.cli import main

    out = tmp_path / "com.zarr"
    assert main(["com", str(files["h5"]), "--out", str(out), "--workers", "2",
                 "--memory-budget", str(BUDGET), "--rotation", "auto"]) == 0
    with xr.open_zarr(out) as result:
        np.testing.assert_allclose(result.com_x.values, reference_stages["com_x"], rtol=1e-10,
                                   atol=1e-12)
