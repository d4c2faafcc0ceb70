"""Held-out patterns read from a streamed store: the same patterns as indexing in memory,
read chunk by chunk (each chunk once)."""

import numpy as np
import zarr

from symbreak.vae.inputs import read_indices
from symbreak.vae.source import open_patterns


def test_read_indices_from_a_store_equals_memory(tmp_path):
    data = np.random.default_rng(0).random((9, 7, 4, 5)).astype(np.float32)
    store = zarr.create_array(str(tmp_path / "p.zarr"), shape=data.shape, chunks=(2, 7, 4, 5),
                              dtype=np.float32, zarr_format=3)
    store[:] = data
    source = open_patterns(tmp_path / "p.zarr")
    flat = data.reshape(-1, 4, 5)
    reads = []
    original = source.read
    source.read = lambda a, b: reads.append((a, b)) or original(a, b)
    indices = np.array([62, 3, 17, 18, 40, 0, 55])  # unsorted, across chunks
    np.testing.assert_array_equal(read_indices(source, indices), flat[indices])
    assert len(reads) == len(set(reads)) == 5  # chunks of rows 0-1, 2-3, 4-5, 6-7 and 8
    sample = read_indices(source, np.arange(63), limit=5)  # evenly spaced subset
    np.testing.assert_array_equal(sample, flat[[0, 16, 31, 46, 62]])
