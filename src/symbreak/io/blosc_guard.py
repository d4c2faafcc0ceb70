"""Check a Blosc chunk's header before zarr hands it to the C decompressor.

c-blosc trusts the sizes in a chunk's 16-byte header: a truncated or damaged chunk file
can make it read past the buffer and crash the process (a segfault seen in about one of
four reads of a damaged zarr zip store). :func:`install` wraps zarr's
``BloscCodec._decode_sync`` so that a chunk whose stored size (``cbytes``) differs from
its length, or whose declared decompressed size (``nbytes``) exceeds the chunk's, raises
a ``ValueError`` (which the readers report as a corrupt file) instead.
"""

from __future__ import annotations

import math
import struct
from typing import Any

BLOSC_HEADER = struct.Struct("<BBBBIII")  # version, versionlz, flags, typesize, nbytes, blocksize, cbytes


def check_chunk(raw: bytes | memoryview, expected: int | None) -> None:
    """Raise ValueError for a Blosc chunk whose header disagrees with its length."""
    if len(raw) < BLOSC_HEADER.size:
        raise ValueError(f"Blosc chunk of {len(raw)} bytes is shorter than its header")
    _, _, _, _, nbytes, blocksize, cbytes = BLOSC_HEADER.unpack_from(raw, 0)
    if cbytes != len(raw):
        raise ValueError(f"Blosc chunk declares {cbytes} bytes but holds {len(raw)} "
                         "(truncated or damaged)")
    if expected is not None and nbytes > expected:
        raise ValueError(f"Blosc chunk declares {nbytes} bytes decompressed, more than the "
                         f"chunk's {expected}")
    if nbytes and not 0 < blocksize <= max(nbytes, 1):
        raise ValueError(f"Blosc chunk declares a block size of {blocksize} for {nbytes} bytes")


def install() -> None:
    """Wrap zarr's Blosc decoder with :func:`check_chunk` (once): zarr 3's ``BloscCodec``,
    or numcodecs' ``Blosc`` under zarr 2."""
    try:
        from zarr.codecs.blosc import BloscCodec
    except ImportError:  # zarr 2: numcodecs decodes
        _install_numcodecs()
        return
    original = BloscCodec._decode_sync
    if getattr(original, "_symbreak_checked", False):
        return

    def checked(self: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        try:
            expected = math.prod(chunk_spec.shape) * chunk_spec.dtype.to_native_dtype().itemsize
        except (AttributeError, TypeError, ValueError):
            expected = None
        check_chunk(memoryview(chunk_bytes.as_numpy_array()).cast("B"), expected)
        return original(self, chunk_bytes, chunk_spec)

    checked._symbreak_checked = True  # type: ignore[attr-defined]
    BloscCodec._decode_sync = checked  # type: ignore[method-assign]


def _install_numcodecs() -> None:
    from numcodecs.blosc import Blosc

    original = Blosc.decode
    if getattr(original, "_symbreak_checked", False):
        return

    def checked(self: Any, buf: Any, out: Any = None) -> Any:
        raw = memoryview(buf if not hasattr(buf, "tobytes") else buf.tobytes()).cast("B")
        check_chunk(raw, None if out is None else memoryview(out).nbytes)
        return original(self, buf, out)

    checked._symbreak_checked = True  # type: ignore[attr-defined]
    Blosc.decode = checked  # type: ignore[method-assign]
