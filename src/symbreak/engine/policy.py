"""The chunk policy: how much of the memory budget each kind of work may hold.

A stage never reads the budget. It says what it holds per chunk, as one of the named
``COPIES_*`` constants below (the working copies of one chunk alive at once), or asks
whether an array may be worked on whole in memory (:func:`placement`, the one in-memory
or streamed decision), and the functions here turn that into a chunk shape, a count or a
:class:`Placement` from :func:`~symbreak.engine.budget.budget_bytes`. To change how much
memory a kind of work may use, change its constant here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator

from . import budget as _budget
from . import heap as _heap

# ---------------------------------------------------------------- shares of the budget
IN_MEMORY_SHARE = 4
"""A stage keeps a whole array in memory (reads a lazy input once, trains the rrVAE from
one tensor, keeps the preprocessed patterns) when it is at most 1/4 of the budget."""
SHUFFLE_BUFFER_SHARE = 8
"""The rrVAE's streaming shuffle buffer holds 1/8 of the budget of patterns."""
SIMULATION_SHARE = 4
"""A simulation batch of waves may use 1/4 of the budget (it runs on 2 threads, and
abTEM holds the potential and the detected patterns beside the waves)."""

# ------------------------------------------------------ working copies of one chunk
COPIES_KERNEL_PER_THREAD = 2.0
"""A streaming kernel (:func:`~symbreak.engine.mapper.map_patterns`: COM, virtual
detectors, input checks, means): each thread holds its raw chunk and a float32 copy."""
COPIES_KERNEL_SPARE = 2.0
"""... plus two more chunks in flight besides the threads' (read ahead, results)."""
COPIES_READ = 8.0
"""A reader's default dask chunks (:func:`symbreak.io.common.default_chunks`): up to 8
chunks of a file (decoded, rechunked, converted) are alive while a stage reads it."""
COPIES_WRITE = 8.0
"""Staging lazy patterns to a zarr store for training (:mod:`symbreak.engine.staging`): the
source chunks joined into one, its float32 copy and the compressor's buffers, per thread."""
COPIES_ENCODE = 8.0
"""Encoding chunks with the trained network (:mod:`symbreak.vae.encode_map`): the
chunk, its tensor, the network's activations over batches and the outputs, per thread."""
COPIES_IN_MEMORY_DECOMPOSE = 4.0
"""scikit-learn's in-memory PCA/NMF: copies of the float64 (patterns, pixels) matrix."""
COPIES_GRAM = 5.0
"""Covariance PCA: (pixels, pixels) float64 matrices alive at once (one per thread,
pair sums, the result)."""
COPIES_DECOMPRESSED = 1
"""A compressed member of an archive is decompressed whole into memory: once."""
WAVE_COPIES = 12
"""Working copies of one batch of waves during multislice and detection (abTEM)."""
COPIES_MULTISLICE = SIMULATION_SHARE * WAVE_COPIES
"""A simulation batch: :data:`WAVE_COPIES` within :data:`SIMULATION_SHARE` of the budget."""
COPIES_POTENTIAL = 1
"""A simulation's projected potential (all slices of every frozen-phonon configuration)
is held once."""
COPIES_SOURCE_BLUR = 2
"""A finite source's blur: the block of patterns and its filtered copy."""
COPIES_PERIODIC_FIT = 8
"""The lattice-periodic reference fit: the design matrix, its gradients, cos/sin
temporaries and the IRLS weights."""

# ------------------------------------------------------------------------ chunk sizes
MAX_CHUNK_BYTES = 64 * 2**20
"""Largest scan chunk [bytes]: larger chunks only add latency and memory."""
MAX_READ_CHUNK_BYTES = 16 * 2**20
"""Largest default chunk of a reader [bytes] (small chunks let a stage rechunk cheaply)."""
REUSE_MIN_BUDGET = 4 * 2**30
"""Freed buffers are reused (:func:`reused_buffers`) only under a memory budget of at
least this [bytes]: the heap then keeps freed buffers in every thread's arena, which a
256 MiB budget inside a 1 GiB memory cgroup could not afford (the out-of-core analysis
was killed while encoding, even with the arenas trimmed afterwards)."""


def kernel_copies(threads: int) -> float:
    """Working copies of a chunk while ``threads`` threads run a streaming kernel."""
    return COPIES_KERNEL_PER_THREAD * threads + COPIES_KERNEL_SPARE


def chunks_within(shape: tuple[int, ...], itemsize: int, budget: int, copies: float,
                  max_chunk_bytes: int = MAX_CHUNK_BYTES) -> tuple[int, int, int, int]:
    """Chunk shape (rows, cols, ky, kx) of a 4-D array such that ``copies`` chunks fit in
    ``budget`` [bytes] and one chunk is at most ``max_chunk_bytes`` [bytes].

    Whole patterns are never split (a chunk holds at least one), whole scan rows are
    preferred. Pure arithmetic: :func:`scan_chunks` is the same with the budget read.
    """
    ny, nx, ky, kx = (int(n) for n in shape)
    pattern = ky * kx * itemsize
    target = max(int(budget / copies), pattern)
    per_chunk = max(1, min(target // pattern, max(1, max_chunk_bytes // pattern)))
    if per_chunk >= nx:
        rows = int(min(ny, max(1, per_chunk // nx)))
        return (rows, nx, ky, kx)
    return (1, int(per_chunk), ky, kx)


def scan_chunks(shape: tuple[int, ...], itemsize: int, *, copies: float,
                max_chunk_bytes: int = MAX_CHUNK_BYTES) -> tuple[int, int, int, int]:
    """Chunk shape (rows, cols, ky, kx) for work that holds ``copies`` chunks of a 4-D
    array of ``itemsize``-byte [bytes] values at once, within the memory budget."""
    return chunks_within(shape, itemsize, _budget.budget_bytes(), copies, max_chunk_bytes)


def items_within(item_bytes: int, copies: float) -> int:
    """How many items of ``item_bytes`` [bytes] fit ``copies`` times in the budget (at
    least 1)."""
    return int(max(1, _budget.budget_bytes() // max(1, int(copies * item_bytes))))


def shuffle_buffer_patterns(pattern_bytes: int, batch: int) -> int:
    """Patterns of ``pattern_bytes`` [bytes] in the rrVAE's streaming shuffle buffer:
    1/:data:`SHUFFLE_BUFFER_SHARE` of the budget, at least one ``batch``."""
    return max(int(batch), _budget.budget_bytes() // SHUFFLE_BUFFER_SHARE // int(pattern_bytes))


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where work on an array runs: whole in memory, or streamed chunk by chunk.

    Attributes
    ----------
    in_memory
        Whether the work may hold the array (its working copies) in memory.
    need
        Memory [bytes] the in-memory way holds: the array times its copies.
    budget
        The memory budget the decision was made against [bytes].
    """

    in_memory: bool
    need: float
    budget: int

    @property
    def streamed(self) -> bool:
        """Whether the work must stream the array in chunks (or refuse it)."""
        return not self.in_memory


def placement(nbytes: int, copies: float | None = None) -> Placement:
    """The one in-memory or streamed decision for work on ``nbytes`` [bytes].

    Parameters
    ----------
    nbytes
        Size of the array [bytes].
    copies
        Working copies of it held at once (a ``COPIES_*`` constant); None for an array
        kept whole, which may use 1/:data:`IN_MEMORY_SHARE` of the budget.
    """
    budget = _budget.budget_bytes()
    if copies is None:
        return Placement(int(nbytes) <= budget // IN_MEMORY_SHARE,
                         int(nbytes) * IN_MEMORY_SHARE, budget)
    return Placement(nbytes * copies <= budget, nbytes * copies, budget)


@contextlib.contextmanager
def reused_buffers() -> Iterator[None]:
    """Inside the block, freed buffers are reused (:func:`~symbreak.engine.heap.reused_heap`)
    when heap growth is limited and the budget is at least :data:`REUSE_MIN_BUDGET`;
    otherwise a no-op."""
    if _heap.limited_threshold() is None or _budget.budget_bytes() < REUSE_MIN_BUDGET:
        yield
        return
    with _heap.reused_heap():
        yield
