"""Arrays in memory and memory maps run from the kept thread pool: same numbers as the
dask path, chunks for every thread, threads from the affinity mask, pages released per
chunk."""

from __future__ import annotations

import os
import threading

import dask.array as da
import numpy as np
import pytest

import symbreak
from symbreak.arrays import release_pages
from symbreak.classical import com
from symbreak.engine import budget_scope, local, map_patterns


def _scan(shape=(12, 10, 16, 16), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(20.0, shape).astype(np.uint16)


def _kernel_with_thread_names(names: set):
    def kernel(block):
        names.add(threading.current_thread().name)
        return block.sum(axis=(2, 3), dtype=np.float64)[..., None]
    return kernel


def test_in_memory_and_lazy_give_the_same_sums_over_many_chunks() -> None:
    data = _scan()
    names: set = set()
    with budget_scope("64KB"):  # many small chunks
        held = map_patterns(symbreak.as_dataset(data), _kernel_with_thread_names(names), 1)
        lazy = map_patterns(symbreak.as_dataset(da.from_array(data, chunks=(3, 10, 16, 16))),
                            lambda b: b.sum(axis=(2, 3), dtype=np.float64)[..., None], 1)
    expected = data.sum(axis=(2, 3), dtype=np.float64)
    np.testing.assert_array_equal(held[..., 0], expected)
    np.testing.assert_array_equal(lazy[..., 0], expected)
    if local.n_workers() > 1:
        assert any(name.startswith("symbreak-kernel") for name in names)


def test_every_thread_gets_several_chunks() -> None:
    shape = (64, 64, 128, 128)  # 128 MiB in float32
    rows, cols = local.local_chunks(shape, 2)[:2]
    chunks = -(-shape[0] // rows) * -(-shape[1] // cols)
    assert chunks >= local.LOCAL_CHUNKS_PER_THREAD * local.n_workers()
    assert rows * cols * 128 * 128 * 4 >= local.MIN_LOCAL_CHUNK_BYTES


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_threads_follow_the_affinity_mask() -> None:
    old = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(old)})
        assert local.n_workers() == 1
        names: set = set()
        map_patterns(symbreak.as_dataset(_scan()), _kernel_with_thread_names(names), 1)
        assert names == {threading.current_thread().name}  # inline, no pool
    finally:
        os.sched_setaffinity(0, old)
    assert local.n_workers() == min(len(old), local.MAX_WORKERS)


def test_a_kernel_that_maps_again_does_not_deadlock() -> None:
    data = _scan()
    inner_ds = symbreak.as_dataset(_scan((2, 2, 16, 16), seed=1))

    def kernel(block):
        map_patterns(inner_ds, lambda b: b.sum(axis=(2, 3), dtype=np.float64)[..., None], 1)
        return block.sum(axis=(2, 3), dtype=np.float64)[..., None]

    with budget_scope("64KB"):
        out = map_patterns(symbreak.as_dataset(data), kernel, 1)
    np.testing.assert_array_equal(out[..., 0], data.sum(axis=(2, 3), dtype=np.float64))


def _mapped_scan(tmp_path) -> np.ndarray:
    """An 8 MiB scan saved as .npy and memory-mapped, none of it read yet."""
    path = tmp_path / "scan.npy"
    np.save(path, _scan((64, 16, 64, 64)))
    return np.load(path, mmap_mode="r")


def _resident_mib() -> float:
    with open("/proc/self/status") as fh:
        line = next(line for line in fh if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_release_pages_drops_only_the_chunk_it_is_given(tmp_path) -> None:
    mapped = _mapped_scan(tmp_path)
    path = tmp_path / "scan.npy"
    before = _resident_mib()
    int(mapped.sum())  # touch every page
    full = _resident_mib() - before
    release_pages(mapped[:16])  # a quarter
    quarter_left = _resident_mib() - before
    release_pages(mapped)
    none_left = _resident_mib() - before
    assert full > 7
    # the OS may map the file in large folios (2 MiB): a quarter can take a neighbour along
    assert 0.3 * full < quarter_left < 0.9 * full
    assert none_left < 0.1 * full
    assert int(mapped[40, 3].sum()) == int(np.load(path)[40, 3].sum())  # still readable


def test_com_of_a_memory_map_equals_in_memory(tmp_path) -> None:
    data = _scan((20, 9, 32, 32))
    path = tmp_path / "scan.npy"
    np.save(path, data)
    center = dict(detector_center=(15.5, 15.5))
    with budget_scope("200KB"):
        mapped = com(symbreak.as_dataset(np.load(path, mmap_mode="r"), **center),
                     reference="center")
    held = com(symbreak.as_dataset(data, **center), reference="center")
    for name in ("com_x", "com_y", "intensity"):
        np.testing.assert_array_equal(mapped[name].values, held[name].values)


def test_mean_pattern_in_memory_and_lazy_equal_numpy() -> None:
    from symbreak.preprocess import mean_pattern

    data = _scan().astype(np.float32)
    data[3, 4, 5, 6] = np.nan
    expected = np.nan_to_num(data, nan=0).astype(np.float64).mean(axis=(0, 1))
    with budget_scope("64KB"):
        held = mean_pattern(symbreak.as_dataset(data), progress=False)
        lazy = mean_pattern(symbreak.as_dataset(da.from_array(data, chunks=(5, 3, 16, 16))),
                            progress=False)
    np.testing.assert_allclose(held, expected, rtol=1e-12)
    np.testing.assert_allclose(lazy, expected, rtol=1e-12)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_populate_pages_maps_only_the_chunk_it_is_given(tmp_path) -> None:
    from symbreak.arrays import populate_pages

    mapped = _mapped_scan(tmp_path)
    before = _resident_mib()
    populate_pages(mapped[:32])  # half, without reading it
    half = _resident_mib() - before
    if half < 1:
        pytest.skip("MADV_POPULATE_READ needs Linux >= 5.14")
    assert 3.5 < half < 6.5
    populate_pages(np.zeros(10))  # arrays in memory: nothing to do
