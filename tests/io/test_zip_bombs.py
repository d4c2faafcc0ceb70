"""Zip members are decompressed block by block, never beyond what the archive and the .npy
header declare (issue 22, item 9).

The bomb of the issue: a 3.1 MB ``.ndata1`` whose deflated ``data.npy`` holds a (2, 2, 4, 4)
.npy header and then 3 GiB of zeros. ``info`` and ``virtual`` decompressed the whole member
(6.3 GB); now they refuse it with one line before decompressing its data, also in a process
limited to 1.5 GB of address space.
"""

from __future__ import annotations

import io
import os
import resource
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from symbreak.errors import FormatError
from symbreak.io import load
from symbreak.io.guards import untrusted

from .conftest import one_line

BLOCK = 16 * 2**20
BOMB_ZEROS = 3 * 2**30
ADDRESS_LIMIT = 1500 * 10**6
LOCAL = struct.Struct("<4sHHHHHIIIHH")
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
END = struct.Struct("<4sHHHHIIH")


def _npy_header(shape=(2, 2, 4, 4), dtype="<u2") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _deflated(head: bytes, zeros: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``head`` + ``zeros`` zero bytes, and its CRC-32: one block of
    zeros is compressed once (a full flush makes every block's bytes the same) and
    repeated, so 3 GiB take a fraction of a second (the CRC a few seconds)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(head)
    block = bytes(BLOCK)
    packed = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    for _ in range(zeros // BLOCK):
        parts.append(packed)
        crc = zlib.crc32(block, crc)
    rest = bytes(zeros % BLOCK)
    parts.append(packer.compress(rest) + packer.flush())
    return b"".join(parts), zlib.crc32(rest, crc)


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> None:
    """A zip archive from (name, raw member bytes, method, CRC-32, declared size) rows."""
    body, central = bytearray(), bytearray()
    for name, raw, method, crc, size in members:
        offset = len(body)
        body += LOCAL.pack(b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(raw), size,
                           len(name), 0) + name.encode() + raw
        central += CENTRAL.pack(b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(raw),
                                size, len(name), 0, 0, 0, 0, 0, offset) + name.encode()
    path.write_bytes(bytes(body + central) + END.pack(
        b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(body), 0))


def write_bomb(path: Path, zeros: int = BOMB_ZEROS, declared: int | None = None) -> None:
    """The issue's .ndata1: a (2, 2, 4, 4) uint16 header in front of ``zeros`` deflated zero
    bytes; the archive declares the true size (or ``declared``)."""
    head = _npy_header()
    raw, crc = _deflated(head, zeros)
    size = len(head) + zeros if declared is None else declared
    write_zip(path, [("data.npy", raw, zipfile.ZIP_DEFLATED, crc, size),
                     ("metadata.json", b"{}", zipfile.ZIP_STORED, zlib.crc32(b"{}"), 2)])


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.ndata1"
    write_bomb(path)
    return path


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))


def _symbreak(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    # a budget of a big machine, where the declared 3 GiB pass the budget check
    env = dict(os.environ, SYMBREAK_PROGRESS="0", OMP_NUM_THREADS="1",
               SYMBREAK_MEMORY_BUDGET="64GB")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "symbreak", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, preexec_fn=_limited)
    return done, time.monotonic() - start


def test_the_bomb_is_the_one_of_the_issue(bomb):
    """3.1 MB on disk, a (2, 2, 4, 4) header, and an archive that zipfile accepts as it is,
    with the uncompressed size the ratio check lets pass."""
    assert 3.0e6 < bomb.stat().st_size < 3.3e6
    with zipfile.ZipFile(bomb) as archive:
        info = archive.getinfo("data.npy")
        assert info.file_size == BOMB_ZEROS + len(_npy_header())
        assert info.file_size < untrusted.MAX_ZIP_RATIO * info.compress_size
        with archive.open(info) as member:
            assert np.lib.format.read_magic(member) == (1, 0)
            assert np.lib.format.read_array_header_1_0(member)[0] == (2, 2, 4, 4)


@pytest.mark.parametrize("command", ["info", pytest.param("virtual", marks=pytest.mark.slow)])
def test_ndata1_bomb_is_refused_in_one_line_under_an_address_space_limit(bomb, tmp_path,
                                                                         command):
    args = [command, str(bomb)] + (["--out", "v.zarr"] if command == "virtual" else [])
    done, seconds = _symbreak(*args, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "bomb.ndata1" in lines[0] and "3,221,225,600 bytes uncompressed" in lines[0]
    assert "(2, 2, 4, 4)" in lines[0] and "zip bomb" in lines[0]
    assert seconds < 60
    assert not (tmp_path / "v.zarr").exists()


def test_bomb_is_refused_before_its_data_are_decompressed(tmp_path, monkeypatch):
    """Only the header is decompressed: no read of the member asks for more than the
    header's 128 bytes."""
    path = tmp_path / "b.ndata1"
    write_bomb(path, zeros=64 * 2**20)
    asked = []
    original = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read",
                        lambda self, n=-1: asked.append(n) or original(self, n))
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "b.ndata1", "67,108,992 bytes uncompressed", "describes 256")
    assert asked and all(0 <= n <= 4096 for n in asked), asked


def test_member_declaring_the_header_size_but_holding_more_is_never_inflated(tmp_path,
                                                                          monkeypatch):
    """The archive lies too: it declares the 256 bytes the header describes, the deflate
    stream holds 1 GiB more. Every read asks for a bounded number of bytes (zipfile's
    read() of a whole member inflates up to 1 GiB at once), and the CRC of what was
    archived does not match what was read: refused."""
    path = tmp_path / "liar.ndata1"
    write_bomb(path, zeros=2**30, declared=len(_npy_header()) + 128)
    asked = []
    original = zipfile.ZipExtFile.read
    monkeypatch.setattr(zipfile.ZipExtFile, "read",
                        lambda self, n=-1: asked.append(n) or original(self, n))
    start = time.monotonic()
    with pytest.raises(FormatError) as exc:
        load(path)
    one_line(exc, "liar.ndata1", "CRC")
    assert time.monotonic() - start < 5
    assert asked and all(0 <= n <= untrusted.ZIP_BLOCK for n in asked), asked


def test_deflated_ndata1_with_fewer_bytes_than_its_header_is_refused(tmp_path):
    head = _npy_header()
    raw = zlib.compress(head + bytes(100), 9)[2:-4]
    write_zip(tmp_path / "short.ndata1",
              [("data.npy", raw, zipfile.ZIP_DEFLATED, zlib.crc32(head + bytes(100)),
                len(head) + 100),
               ("metadata.json", b"{}", zipfile.ZIP_STORED, zlib.crc32(b"{}"), 2)])
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "short.ndata1")
    one_line(exc, "short.ndata1", "declares 228 bytes", "describes 256")


def test_honest_deflated_ndata1_is_read_exactly(tmp_path):
    data = np.random.default_rng(1).integers(0, 60000, (3, 2, 5, 7)).astype(">u2")
    for order in ("C", "F"):
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(data, order=order))
        with zipfile.ZipFile(tmp_path / f"{order}.ndata1", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("data.npy", buffer.getvalue())
            z.writestr("metadata.json", "{}")
        np.testing.assert_array_equal(load(tmp_path / f"{order}.ndata1").to_numpy(), data)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_bzip2_and_lzma_members_are_refused(tmp_path, method):
    """zipfile inflates a whole read of a bzip2 or LZMA member at once (no bound)."""
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 2, 4, 4), np.uint16))
    with zipfile.ZipFile(tmp_path / "m.ndata1", "w", method) as z:
        z.writestr("data.npy", buffer.getvalue())
        z.writestr("metadata.json", "{}")
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "m.ndata1")
    one_line(exc, "m.ndata1", "'data.npy'", f"method {method}", "zip -0")


def test_metadata_json_bomb_is_refused_before_it_is_read(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 2, 4, 4), np.uint16))
    raw, crc = _deflated(b"{", 200 * 2**20)
    write_zip(tmp_path / "j.ndata1",
              [("data.npy", buffer.getvalue(), zipfile.ZIP_STORED,
                zlib.crc32(buffer.getvalue()), len(buffer.getvalue())),
               ("metadata.json", raw, zipfile.ZIP_DEFLATED, crc, 1 + 200 * 2**20)])
    with pytest.raises(FormatError) as exc:
        load(tmp_path / "j.ndata1")
    one_line(exc, "j.ndata1", "'metadata.json'", "209,715,201 bytes of metadata")


# ------------------------------------------------------------ compressed zarr chunks
def _store_with_codec(tmp_path: Path, codec) -> Path:
    import zarr

    path = tmp_path / "g.zarr"
    array = zarr.create_array(str(path), shape=(4, 4, 8, 8), chunks=(2, 2, 8, 8), dtype="u2",
                              compressors=[codec], zarr_format=3)
    array[:] = np.arange(4 * 4 * 8 * 8, dtype="u2").reshape(4, 4, 8, 8)
    return path


def test_gzip_chunk_inflating_to_far_more_than_a_chunk_is_refused(tmp_path):
    """A 64 kB gzip chunk holding 64 MiB of zeros, for a chunk of 512 bytes: numcodecs
    inflated all of it before zarr noticed the size; now inflation stops at the bound."""
    from zarr.codecs import GzipCodec

    path = _store_with_codec(tmp_path, GzipCodec())
    np.testing.assert_array_equal(load(path).to_numpy().ravel(), np.arange(1024))
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(BLOCK)
    (path / "c" / "1" / "0" / "0" / "0").write_bytes(
        b"".join(packer.compress(block) for _ in range(4)) + packer.flush())
    with pytest.raises(FormatError) as exc:
        load(path).to_numpy()
    one_line(exc, "g.zarr", "gzip chunk decompresses to more than 1049600 bytes",
             "decompression bomb")


def test_zstd_chunk_declaring_far_more_than_a_chunk_is_refused(tmp_path):
    from numcodecs import Zstd
    from zarr.codecs import ZstdCodec

    path = _store_with_codec(tmp_path, ZstdCodec())
    np.testing.assert_array_equal(load(path).to_numpy().ravel(), np.arange(1024))
    (path / "c" / "1" / "0" / "0" / "0").write_bytes(Zstd(level=3).encode(bytes(BLOCK * 4)))
    with pytest.raises(FormatError) as exc:
        load(path).to_numpy()
    one_line(exc, "g.zarr", "zstd chunk declares 67108864 bytes decompressed")


def test_zstd_frame_header_sizes_are_read_as_the_format_defines():
    from numcodecs import Zstd

    from symbreak.io.guards.blosc import zstd_declared

    for size in (0, 1, 255, 256, 300, 65791, 65792, 10**6):
        assert zstd_declared(Zstd(level=1).encode(bytes(size))) == size
    assert zstd_declared(b"not zstd at all") is None
