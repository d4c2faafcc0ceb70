"""Nothing is read until asked; one pattern or one scan row reads only its part."""

from __future__ import annotations

import h5py
import numpy as np
import zarr

import pytest

import symbreak
from symbreak.io import load, save


def _record(monkeypatch, cls):
    calls = []
    original = cls.__getitem__

    def getitem(self, key):
        calls.append(key)
        return original(self, key)

    monkeypatch.setattr(cls, "__getitem__", getitem)
    return calls


def _sizes(calls, shape):
    out = []
    for key in calls:
        key = key if isinstance(key, tuple) else (key,)
        n = 1
        for k, dim in zip(key + (slice(None),) * (len(shape) - len(key)), shape):
            n *= len(range(*k.indices(dim))) if isinstance(k, slice) else 1
        out.append(n)
    return out


def test_zarr_reads_only_the_chunk_with_the_pattern(tmp_path, writers, monkeypatch):
    data = writers.counts((6, 5, 8, 8))
    out = save(data, tmp_path / "d.zarr", chunks=(1, 5, 8, 8))
    ds = load(out)
    calls = _record(monkeypatch, zarr.Array)
    np.testing.assert_array_equal(ds.pattern(4, 2), data[4, 2])
    assert max(_sizes(calls, data.shape)) == 8 * 8
    calls.clear()
    np.testing.assert_array_equal(ds[3:4].to_numpy(), data[3:4])
    assert sum(_sizes(calls, data.shape)) == 5 * 8 * 8


def test_hdf5_reads_only_the_pattern(tmp_path, writers, monkeypatch):
    data = writers.counts((6, 5, 8, 8), np.float32)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"] = data
    ds = load(tmp_path / "d.h5")
    assert ds.is_lazy
    calls = _record(monkeypatch, h5py.Dataset)
    np.testing.assert_array_equal(ds.pattern(5, 4), data[5, 4])
    assert max(_sizes(calls, data.shape)) == 8 * 8


def test_npy_slice_is_a_view_of_the_map(tmp_path, writers):
    data = writers.counts((6, 5, 8, 8))
    np.save(tmp_path / "d.npy", data)
    ds = load(tmp_path / "d.npy")
    row = ds[2:3].array
    assert isinstance(row, np.memmap) and not row.flags.owndata


def test_to_numpy_refuses_lazy_data_larger_than_the_available_memory(monkeypatch):
    import dask.array as da

    import symbreak.dataset as dataset_module
    from symbreak.errors import DataError

    data = symbreak.as_dataset(da.zeros((4, 4, 16, 16), chunks=(1, 4, 16, 16)))
    monkeypatch.setattr(dataset_module, "available_memory", lambda: 10_000)
    with pytest.raises(DataError, match="do not fit in the available memory"):
        data.to_numpy()
    monkeypatch.setattr(dataset_module, "available_memory", lambda: 10**9)
    assert data.to_numpy().shape == (4, 4, 16, 16)
