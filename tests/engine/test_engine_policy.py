"""The chunk policy: the same chunk shapes as before the engine, and every named
copies-constant keeps its chunks within the budget."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from symbreak import engine
from symbreak.engine import policy

MiB = 2**20

# (shape, itemsize, budget [bytes]) -> chunk shapes computed by the code before the engine
# (symbreak/budget.py scan_chunks with copies 8, 6 and 10, io.common.default_chunks)
GOLDEN = [
    ((64, 64, 32, 32), 4, 100000, (1, 3, 32, 32), (1, 4, 32, 32), (1, 2, 32, 32), (1, 3, 32, 32)),
    ((64, 64, 32, 32), 1, 3 * MiB, (6, 64, 32, 32), (8, 64, 32, 32), (4, 64, 32, 32),
     (6, 64, 32, 32)),
    ((64, 64, 32, 32), 4, 3 * MiB, (1, 64, 32, 32), (2, 64, 32, 32), (1, 64, 32, 32),
     (1, 64, 32, 32)),
    ((7, 300, 128, 128), 1, 3 * MiB, (1, 24, 128, 128), (1, 32, 128, 128), (1, 19, 128, 128),
     (1, 24, 128, 128)),
    ((7, 300, 128, 128), 4, 256 * MiB, (1, 300, 128, 128), (2, 300, 128, 128),
     (1, 300, 128, 128), (1, 256, 128, 128)),
    ((7, 300, 128, 128), 4, 64 * 2**30, (3, 300, 128, 128), (3, 300, 128, 128),
     (3, 300, 128, 128), (1, 256, 128, 128)),
    ((1000, 1000, 256, 256), 4, 256 * MiB, (1, 128, 256, 256), (1, 170, 256, 256),
     (1, 102, 256, 256), (1, 64, 256, 256)),
    ((1000, 1000, 256, 256), 4, 64 * 2**30, (1, 256, 256, 256), (1, 256, 256, 256),
     (1, 256, 256, 256), (1, 64, 256, 256)),
    ((5, 3, 2048, 2048), 4, 100000, (1, 1, 2048, 2048), (1, 1, 2048, 2048),
     (1, 1, 2048, 2048), (1, 1, 2048, 2048)),
    ((5, 3, 2048, 2048), 4, 256 * MiB, (1, 2, 2048, 2048), (1, 2, 2048, 2048),
     (1, 1, 2048, 2048), (1, 1, 2048, 2048)),
    ((1, 1, 8, 8), 4, 100000, (1, 1, 8, 8), (1, 1, 8, 8), (1, 1, 8, 8), (1, 1, 8, 8)),
    ((256, 1, 64, 64), 1, 3 * MiB, (96, 1, 64, 64), (128, 1, 64, 64), (76, 1, 64, 64),
     (96, 1, 64, 64)),
    ((256, 1, 64, 64), 4, 3 * MiB, (24, 1, 64, 64), (32, 1, 64, 64), (19, 1, 64, 64),
     (24, 1, 64, 64)),
]


@pytest.mark.parametrize("shape, itemsize, budget, c8, kernel2, kernel4, read", GOLDEN)
def test_chunk_shapes_are_those_of_the_code_before_the_engine(shape, itemsize, budget, c8,
                                                               kernel2, kernel4, read):
    from symbreak.io.common import default_chunks

    with engine.budget_scope(budget):
        assert engine.scan_chunks(shape, itemsize, copies=engine.COPIES_WRITE) == c8
        assert engine.scan_chunks(shape, itemsize, copies=engine.COPIES_ENCODE) == c8
        assert engine.scan_chunks(shape, itemsize, copies=engine.kernel_copies(2)) == kernel2
        assert engine.scan_chunks(shape, itemsize, copies=engine.kernel_copies(4)) == kernel4
        assert default_chunks(shape, itemsize) == read


SHAPES = [(64, 64, 32, 32), (7, 300, 128, 128), (1000, 1000, 256, 256), (256, 1, 64, 64)]
CHUNK_COPIES = {
    "COPIES_READ": (policy.COPIES_READ, policy.MAX_READ_CHUNK_BYTES),
    "COPIES_WRITE": (policy.COPIES_WRITE, policy.MAX_CHUNK_BYTES),
    "COPIES_ENCODE": (policy.COPIES_ENCODE, policy.MAX_CHUNK_BYTES),
    "kernel, 1 thread": (policy.kernel_copies(1), policy.MAX_CHUNK_BYTES),
    "kernel, 4 threads": (policy.kernel_copies(4), policy.MAX_CHUNK_BYTES),
}


@pytest.mark.parametrize("name", CHUNK_COPIES)
@pytest.mark.parametrize("budget", [3 * MiB, 40 * MiB, 256 * MiB, 4 * 2**30])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_chunk_times_its_copies_fits_the_budget(name, budget, shape):
    copies, cap = CHUNK_COPIES[name]
    pattern = shape[2] * shape[3] * 4
    with engine.budget_scope(budget):
        chunk = engine.scan_chunks(shape, 4, copies=copies, max_chunk_bytes=cap)
    nbytes = math.prod(chunk) * 4
    assert chunk[2:] == shape[2:]  # whole patterns
    assert nbytes <= max(cap, pattern)
    if copies * pattern <= budget:  # a single pattern is the floor
        assert nbytes * copies <= budget


def test_whole_array_rules_follow_their_constants():
    budget = 64 * MiB
    with engine.budget_scope(budget):
        assert engine.placement(budget // engine.IN_MEMORY_SHARE).in_memory
        assert engine.placement(budget // engine.IN_MEMORY_SHARE + 1).streamed
        for copies in (engine.COPIES_IN_MEMORY_DECOMPOSE, engine.COPIES_GRAM,
                       engine.COPIES_DECOMPRESSED, engine.COPIES_PERIODIC_FIT,
                       engine.COPIES_POTENTIAL, engine.COPIES_SOURCE_BLUR):
            assert engine.placement(budget // copies, copies).in_memory
            assert engine.placement(budget // copies + 1, copies).streamed
            assert engine.placement(budget // copies + 1, copies).need > budget
        buffer = engine.shuffle_buffer_patterns(4 * 64 * 64, batch=32)
        assert buffer * 4 * 64 * 64 * engine.SHUFFLE_BUFFER_SHARE <= budget
        assert engine.shuffle_buffer_patterns(budget, batch=32) == 32  # at least a batch


@pytest.mark.parametrize("budget", [10 * MiB, 256 * MiB, 8 * 2**30])
@pytest.mark.parametrize("phonons", [0, 1, 8])
def test_a_simulation_batch_of_waves_fits_its_share(budget, phonons):
    from symbreak.simulation.engine import max_batch

    plan, settings = SimpleNamespace(gpts=(256, 256)), SimpleNamespace(phonons=phonons)
    wave = 8 * 256 * 256 * max(1, phonons)
    with engine.budget_scope(budget):
        batch = max_batch(plan, settings)
    assert 1 <= batch <= 256
    before = max(1, min(256, budget // (4 * 12 * wave)))  # the code before the engine
    assert batch == before
    if wave * engine.COPIES_MULTISLICE <= budget:
        assert batch * wave * engine.COPIES_MULTISLICE <= budget


def test_stage_chunks_on_a_cluster_take_the_workers_memory(monkeypatch):
    from symbreak.engine import chunking

    data = SimpleNamespace(shape=(64, 64, 32, 32), dtype=np.dtype(np.uint16))
    monkeypatch.setattr(chunking, "active_client", lambda: object())
    monkeypatch.setattr(chunking, "worker_resources", lambda client: (MiB, 2))
    with engine.budget_scope("1GB"):
        chunks = chunking.chunk_shape(data)
    assert chunks == engine.chunks_within(data.shape, 4, MiB, engine.kernel_copies(2))
    assert math.prod(chunks) * 4 * engine.kernel_copies(2) <= MiB
