"""Chunks of the chunked rrVAE encoding: within the budget, balanced over the threads,
aligned to the stored chunks, and the encodings equal to the in-memory ones."""

import numpy as np
import pytest
import zarr

from symbreak.engine import COPIES_ENCODE, budget_scope
from symbreak.vae import encode_map
from symbreak.vae.encode_map import BATCH, TASKS_PER_THREAD, encode_chunks

PATTERN = 48 * 48 * 4  # bytes of one float32 48 x 48 pattern


def test_chunks_give_every_thread_several_chunks_of_at_least_one_batch():
    with budget_scope("4GB"):  # the budget allows one chunk of 64 MiB = 7281 patterns
        rows = encode_chunks((20000, 1, 48, 48), None, threads=2)[0]
    assert rows == -(-20000 // (TASKS_PER_THREAD * 2))  # 2500: 8 chunks, 4 per thread
    with budget_scope("4GB"):
        assert encode_chunks((3000, 1, 48, 48), None, threads=2)[0] == BATCH


def test_chunks_are_whole_stored_chunks_when_they_span_one():
    with budget_scope("4GB"):
        assert encode_chunks((20000, 1, 48, 48), 2048, threads=2)[0] == 2048
        assert encode_chunks((20000, 1, 48, 48), 1000, threads=2)[0] == 2000
        # a stored chunk larger than the balanced chunk is read in parts
        assert encode_chunks((20000, 1, 48, 48), 4096, threads=2)[0] == 2500


def test_the_budget_still_caps_the_chunks():
    with budget_scope("8MB"):  # 8 MiB / 8 copies = 113 patterns, below one batch
        rows = encode_chunks((20000, 1, 48, 48), 2048, threads=2)[0]
    assert rows == 8 * 2**20 // COPIES_ENCODE // PATTERN == 113
    with budget_scope("256MB"):  # 4D scans: whole scan rows
        assert encode_chunks((100, 200, 48, 48), None, threads=2) == (13, 200, 48, 48)


def test_chunked_encoding_of_a_store_equals_encoding_in_memory(fitted, dipole_set, tmp_path):
    X = dipole_set["X"].astype(np.float32)
    store = zarr.create_array(str(tmp_path / "p.zarr"), shape=X.shape,
                              chunks=(300, *X.shape[1:]), dtype=np.float32)
    store[:] = X
    with budget_scope("1MB"):  # streams the 1000 patterns (4 MB) in chunks of 32
        lazy = fitted.transform(store)
    memory = fitted.transform(X)
    for name in ("latent_angle", "latent_z", "reconstruction_error"):
        np.testing.assert_allclose(lazy[name].values, memory[name].values, rtol=1e-5,
                                   atol=1e-6)


def test_encode_block_runs_with_one_torch_thread(fitted, monkeypatch):
    import torch

    seen = []
    monkeypatch.setattr(encode_map, "encode_patterns",
                        lambda *a, **k: seen.append(torch.get_num_threads())
                        or np.zeros((4, 5), np.float32))
    spec = type("Spec", (), {"n_out": 5, "likelihood": "", "translation_prior": 0.0,
                             "copies": 1, "model": lambda self: None})()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        encode_map.encode_block(np.zeros((2, 2, 8, 8), np.float32), spec)
    finally:
        torch.set_num_threads(before)
    assert seen == [1]


def test_buffers_are_reused_while_any_thread_encodes_then_the_limit_returns(monkeypatch):
    from symbreak.engine import heap, reused_buffers

    calls = []
    monkeypatch.setattr(heap, "_mallopt", lambda param, value: calls.append(value) or True)
    monkeypatch.setattr(heap, "_HEAP_LIMITED", [True])
    with budget_scope("8GB"):
        with reused_buffers():
            with reused_buffers():  # a second thread's chunk overlapping the first
                pass
            assert calls == [heap.REUSE_MMAP_THRESHOLD]  # still raised for the first
        assert calls == [heap.REUSE_MMAP_THRESHOLD, heap.MMAP_THRESHOLD]
        monkeypatch.setattr(heap, "_HEAP_LIMITED", [False])
        monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
        with reused_buffers():  # glibc's own threshold is left alone
            pass
        assert len(calls) == 2


def test_buffers_are_not_reused_under_a_small_budget(monkeypatch):
    from symbreak.engine import heap, policy, reused_buffers

    calls = []
    monkeypatch.setattr(heap, "_mallopt", lambda param, value: calls.append(value) or True)
    monkeypatch.setattr(heap, "_HEAP_LIMITED", [True])
    with budget_scope(policy.REUSE_MIN_BUDGET - 1), reused_buffers():
        pass
    assert calls == []
    with budget_scope(policy.REUSE_MIN_BUDGET), reused_buffers():
        pass
    assert calls == [heap.REUSE_MMAP_THRESHOLD, heap.MMAP_THRESHOLD]
