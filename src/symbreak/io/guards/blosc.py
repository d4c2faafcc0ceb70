"""Check a Blosc chunk's header before zarr hands it to the C decompressor.

c-blosc trusts the sizes in a chunk's 16-byte header: a truncated or damaged chunk file
can make it read past the buffer and crash the process (a segfault seen in about one of
four reads of a damaged zarr zip store). :func:`install` wraps zarr's
``BloscCodec._decode_sync`` so that a chunk whose stored size (``cbytes``) differs from
its length, or whose declared decompressed size (``nbytes``) exceeds the chunk's, raises
a ``ValueError`` (which the readers report as a corrupt file) instead.

gzip and zstd chunks (zarr 3's ``GzipCodec`` and ``ZstdCodec``) are decompressed whole by
numcodecs, whatever they hold: a 1 MB chunk of deflated zeros became 1 GB in memory before
zarr noticed its size. A gzip chunk is inflated here at most :func:`chunk_bound` bytes;
a zstd frame declaring more than that is refused before numcodecs allocates it.
"""

from __future__ import annotations

import math
import struct
import zlib
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


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def chunk_bound(expected: int) -> int:
    """The most bytes a chunk of ``expected`` raw bytes may decompress to: twice that plus
    1 MiB (room for a shard's index or a codec between), so only a bomb is refused."""
    return 2 * expected + 2**20


def inflate_gzip(raw: bytes | memoryview, limit: int) -> bytes:
    """A gzip chunk (one member or several) inflated, refused beyond ``limit`` bytes."""
    out, data = bytearray(), bytes(raw)
    while data:
        inflater = zlib.decompressobj(wbits=31)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise ValueError(f"gzip chunk decompresses to more than {limit} bytes, far more "
                             "than a chunk of this array (a decompression bomb)")
        if not inflater.eof:
            raise ValueError("gzip chunk ends early (truncated or damaged)")
        data = inflater.unused_data
    return bytes(out)


def zstd_declared(raw: bytes | memoryview) -> int | None:
    """The content size a zstd frame header declares, or None when it does not say."""
    head = bytes(raw[:18])
    if len(head) < 6 or head[:4] != ZSTD_MAGIC:
        return None
    flags = head[4]
    single = bool(flags & 0x20)
    size_bytes = (1 if single else 0, 2, 4, 8)[flags >> 6]
    start = 5 + (0 if single else 1) + (0, 1, 2, 4)[flags & 3]
    if size_bytes == 0 or len(head) < start + size_bytes:
        return None
    value = int.from_bytes(head[start:start + size_bytes], "little")
    return value + 256 if size_bytes == 2 else value


def _expected(chunk_spec: Any) -> int | None:
    try:
        return math.prod(chunk_spec.shape) * chunk_spec.dtype.to_native_dtype().itemsize
    except (AttributeError, TypeError, ValueError):
        return None


def _install_gzip_zstd() -> None:
    """Bound zarr 3's gzip and zstd chunk decoding (module docstring)."""
    from zarr.codecs.gzip import GzipCodec
    from zarr.codecs.zstd import ZstdCodec

    if getattr(GzipCodec._decode_sync, "_symbreak_checked", False):
        return
    zstd_original = ZstdCodec._decode_sync

    def gzip_checked(self: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        expected = _expected(chunk_spec)
        raw = memoryview(chunk_bytes.as_numpy_array()).cast("B")
        limit = chunk_bound(expected) if expected is not None else 2**62
        return chunk_spec.prototype.buffer.from_bytes(inflate_gzip(raw, limit))

    def zstd_checked(self: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        expected = _expected(chunk_spec)
        declared = zstd_declared(memoryview(chunk_bytes.as_numpy_array()).cast("B"))
        if expected is not None and declared is not None and declared > chunk_bound(expected):
            raise ValueError(f"zstd chunk declares {declared} bytes decompressed, far more "
                             f"than a chunk of this array ({expected} bytes)")
        return zstd_original(self, chunk_bytes, chunk_spec)

    for function in (gzip_checked, zstd_checked):
        function._symbreak_checked = True  # type: ignore[attr-defined]
    GzipCodec._decode_sync = gzip_checked  # type: ignore[method-assign]
    ZstdCodec._decode_sync = zstd_checked  # type: ignore[method-assign]


def install() -> None:
    """Wrap zarr's Blosc decoder with :func:`check_chunk` (once): zarr 3's ``BloscCodec``,
    or numcodecs' ``Blosc`` under zarr 2."""
    try:
        from zarr.codecs.blosc import BloscCodec
    except ImportError:  # zarr 2: numcodecs decodes
        _install_numcodecs()
        return
    _install_gzip_zstd()
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
