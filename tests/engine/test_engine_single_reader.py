"""The budget is read in one place: replacing the engine's reader changes the chunk
shapes of COM, virtual images, preprocessing, decomposition and the rrVAE's staging and
encoding, and no module outside the engine reads the budget itself."""

import math
import re
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

import symbreak
from symbreak import engine
from symbreak.engine import budget as budget_module
from symbreak.engine import policy

BUDGET = 256 * 2**10  # the budget the replaced reader gives: chunks of one scan row
SHAPE = (16, 12, 24, 24)


@pytest.fixture
def reader(monkeypatch):
    """Replace the engine's budget reader and record every chunk shape it picks."""
    reads, picks = [], []
    original = policy.chunks_within

    def read():
        reads.append(BUDGET)
        return BUDGET

    def spy(shape, itemsize, budget, copies, *args):
        chunks = original(shape, itemsize, budget, copies, *args)
        picks.append((budget, copies, chunks))
        return chunks

    monkeypatch.setattr(budget_module, "budget_bytes", read)
    monkeypatch.setattr(policy, "chunks_within", spy)
    monkeypatch.delenv(engine.ENV_VAR, raising=False)
    return reads, picks


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return symbreak.as_dataset(rng.poisson(5, SHAPE).astype(np.float32),
                               detector_center=(11.5, 11.5))


def kernel_pick(picks):
    copies = engine.kernel_copies(engine.n_workers())
    assert picks and all(p[:2] == (BUDGET, copies) for p in picks), picks
    return picks[-1][2]


def test_com_and_virtual_images_chunk_from_the_reader(reader, data):
    reads, picks = reader
    com = symbreak.com(data)
    chunks = kernel_pick(picks)
    assert chunks[0] < SHAPE[0] and math.prod(chunks) * 4 * picks[-1][1] <= BUDGET
    picks.clear()
    images = symbreak.virtual_images(data, {"bf": (0, 5)}, units="px")
    assert kernel_pick(picks) == chunks and reads
    assert np.isfinite(com.com_x.values).all() and np.isfinite(images.bf.values).all()


def test_preprocessing_and_input_checks_chunk_from_the_reader(reader, data):
    from symbreak.preprocess import mean_pattern

    reads, picks = reader
    mean = mean_pattern(data)
    kernel_pick(picks)
    np.testing.assert_allclose(mean, data.array.mean(axis=(0, 1)), rtol=1e-5)
    picks.clear()
    symbreak.check_input(data)
    kernel_pick(picks)


def test_decomposition_reads_the_budget_through_the_engine(reader, data):
    reads, picks = reader
    out = symbreak.decompose(data, "pca", 2)
    assert reads and out.attrs  # in memory or not: decided from the reader's budget
    picks.clear()
    from symbreak.classical.decompose import row_batches

    batches = row_batches(data, 1)
    rows = kernel_pick(picks)[0]
    assert batches[0] == slice(0, rows)


def test_vae_staging_and_encoding_chunk_from_the_reader(reader, data, tmp_path, monkeypatch):
    from symbreak.vae import encode_map
    from symbreak.engine.staging import stage_patterns

    reads, picks = reader
    store = stage_patterns(da.from_array(data.array, chunks=(4, 12, 24, 24)),
                           tmp_path / "p.zarr")
    budget, copies, chunks = picks[-1]
    assert (budget, copies) == (BUDGET, engine.COPIES_WRITE)
    assert store.chunks[0] == chunks[0] < SHAPE[0]

    blocks = []

    def fake_encode(block, spec):
        blocks.append(block.shape)
        return np.zeros(block.shape[:2] + (1, spec.n_out), np.float32)

    monkeypatch.setattr(encode_map, "encode_block", fake_encode)
    spec = type("Spec", (), {"n_out": 3})()
    out = encode_map.encode_lazy(da.from_array(data.array), spec)
    budget, copies, chunks = picks[-1]
    assert (budget, copies) == (BUDGET, engine.COPIES_ENCODE) and out.shape == (192, 3)
    assert max(b[0] for b in blocks) == chunks[0]


def test_a_user_budget_reaches_the_chunks(data, monkeypatch):
    budgets = []
    original = policy.chunks_within
    monkeypatch.setattr(policy, "chunks_within",
                        lambda shape, itemsize, budget, *a: budgets.append(budget) or
                        original(shape, itemsize, budget, *a))
    with engine.budget_scope("1GB"):
        small = symbreak.com(data, memory_budget="64kB")
        big = symbreak.com(data)
    assert budgets == [64 * 2**10, 2**30]
    np.testing.assert_allclose(small.com_x.values, big.com_x.values, rtol=1e-5, atol=1e-6)


SRC = Path(symbreak.__file__).parent
NOT_YET: set[str] = set()  # every stage asks the engine; nothing outside reads the budget


def test_only_the_engine_reads_the_budget():
    reading = re.compile(r"memory_budget\(\)|_SCOPE|environ\.get\(\s*ENV_VAR")
    found = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
             if reading.search(p.read_text()) and "engine" not in p.relative_to(SRC).parts}
    assert found <= NOT_YET, sorted(found - NOT_YET)
