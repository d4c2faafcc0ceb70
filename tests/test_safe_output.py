"""Regression tests of issue 16: nothing of the user's lost or mixed, damaged input refused
in one line, no hang, no traceback. One test (or more) per reproduced case; the numbers
in the test names are the issue's.

Each command runs through ``symbreak.cli.main`` in this process (its exit status and
stderr are what a user sees), or in a child process where a hang or a crash is the
failure to catch.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import symbreak
from symbreak.cli import main
from support import one_line_error, run
from symbreak.errors import FormatError, OutputLockedError, SettingsError
from symbreak.storage.lock import LOCK_NAME, output_lock
from symbreak.storage.safe_output import MARKER, check_target, exchange, is_owned

TESTS = Path(__file__).parent


def _writers():
    spec = importlib.util.spec_from_file_location("io_writers", TESTS / "io" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def npy(tmp_path, monkeypatch):
    """``a.npy`` of the issue (8 x 8 scan of 32 x 32 px, float32), the test's folder as
    the current one."""
    monkeypatch.chdir(tmp_path)
    data = np.random.default_rng(0).random((8, 8, 32, 32)).astype("f4")
    np.save(tmp_path / "a.npy", data)
    return tmp_path / "a.npy"



# ------------------------------------------------------------------ 1. lock symlinks
def test_1_symlink_at_the_lock_path_is_refused_and_its_target_kept(npy, capsys):
    victim = npy.parent / "v.txt"
    victim.write_text("keep\n")
    (npy.parent / "o.zarr.lock").symlink_to(victim)
    status, err = run(capsys, "convert", npy, "o.zarr")
    assert status == 2 and "symbolic link" in one_line_error(err)
    assert victim.read_text() == "keep\n"
    assert not (npy.parent / "o.zarr").exists()


def test_1_symlink_as_the_analysis_lock_is_refused(npy, capsys):
    victim = npy.parent / "v.txt"
    victim.write_text("keep\n")
    (npy.parent / "run").mkdir()
    (npy.parent / "run" / LOCK_NAME).symlink_to(victim)
    status, err = run(capsys, "analyze", npy, "--out", "run", "--epochs", "1")
    assert status == 2 and "symbolic link" in one_line_error(err)
    assert victim.read_text() == "keep\n"


def test_1_hard_link_or_foreign_file_as_lock_is_refused(tmp_path):
    victim = tmp_path / "v.txt"
    victim.write_text("keep\n")
    os.link(victim, tmp_path / "o.zarr.lock")
    with pytest.raises(SettingsError, match="hard links"), output_lock(tmp_path / "o.zarr", "t", beside=True):
        pass
    (tmp_path / "o.zarr.lock").unlink()
    (tmp_path / "o.zarr.lock").write_text("my notes\n")
    with pytest.raises(SettingsError, match="not a symbreak lock"), \
            output_lock(tmp_path / "o.zarr", "t", beside=True):
        pass
    assert victim.read_text() == "keep\n"
    assert (tmp_path / "o.zarr.lock").read_text() == "my notes\n"


# ------------------------------------------------------------ 2. foreign folders
@pytest.mark.parametrize("command", [["convert", "a.npy", "d"], ["com", "a.npy", "--out", "d"],
                                     ["decompose", "a.npy", "--out", "d"]])
def test_2_overwrite_refuses_a_folder_symbreak_did_not_write(npy, capsys, command):
    (npy.parent / "d").mkdir()
    (npy.parent / "d" / "thesis.txt").write_text("x")
    status, err = run(capsys, *command, "--overwrite")
    assert status == 2 and "did not write" in one_line_error(err)
    assert (npy.parent / "d" / "thesis.txt").read_text() == "x"


def test_2_overwrite_replaces_symbreaks_own_output(npy, capsys):
    assert run(capsys, "com", npy, "--out", "c.zarr")[0] == 0
    assert is_owned(npy.parent / "c.zarr")
    assert (npy.parent / "c.zarr" / MARKER / "zarr.json").is_file()
    assert run(capsys, "com", npy, "--out", "c.zarr", "--overwrite")[0] == 0
    # the marker is an empty zarr group: xarray opens the store as before, no warning
    import warnings

    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "com_y" in xr.open_zarr(npy.parent / "c.zarr", consolidated=False)


# ------------------------------------------------------------ 4. concurrent writers
def test_4_a_second_writer_of_the_same_output_is_refused(npy, capsys):
    with output_lock(npy.parent / "o.zarr", "com", beside=True):
        status, err = run(capsys, "virtual", npy, "--out", "o.zarr")
    assert status == 2 and f"pid {os.getpid()}" in one_line_error(err)
    assert not (npy.parent / "o.zarr").exists()
    # and with the lock gone the same command writes
    assert run(capsys, "com", npy, "--out", "o.zarr")[0] == 0


def test_4_an_output_that_appears_meanwhile_is_not_replaced(tmp_path):
    """The rename that publishes a new output refuses to replace one that another
    program wrote meanwhile (RENAME_NOREPLACE, or the check before the rename)."""
    from symbreak.storage.atomic import atomic_output

    with pytest.raises(symbreak.errors.OutputExistsError):
        with atomic_output(tmp_path / "o.txt") as tmp:
            tmp.write_text("new")
            (tmp_path / "o.txt").write_text("theirs")
    assert (tmp_path / "o.txt").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.txt"]


# ---------------------------------------------------------- 5. output inside input
def test_5_output_inside_the_input_store_is_refused(npy, capsys):
    assert run(capsys, "convert", npy, "in.zarr")[0] == 0
    before = sorted(p.name for p in (npy.parent / "in.zarr").iterdir())
    status, err = run(capsys, "convert", "in.zarr", "in.zarr/inner.zarr")
    assert status == 2 and "inside the input" in one_line_error(err)
    assert sorted(p.name for p in (npy.parent / "in.zarr").iterdir()) == before


def test_5_output_holding_the_input_or_being_it(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.npy").write_bytes(b"")
    with pytest.raises(SettingsError, match="holds the input"):
        check_target(tmp_path / "d", overwrite=True, inputs=[tmp_path / "d" / "a.npy"])
    (tmp_path / "link.npy").symlink_to(tmp_path / "d" / "a.npy")
    with pytest.raises(SettingsError, match="is the input"):
        check_target(tmp_path / "d" / "a.npy", overwrite=True, inputs=[tmp_path / "link.npy"])


# --------------------------------------------------------------- 6. .ndata1 CRC
def test_6_ndata1_with_a_flipped_byte_fails_its_crc(tmp_path):
    data = np.arange(8 * 8 * 16 * 16, dtype=np.uint16).reshape(8, 8, 16, 16)
    path = tmp_path / "a.ndata1"
    _writers().write_ndata1(path, data)
    assert np.array_equal(symbreak.load(path).to_numpy(), data)  # undamaged: loads
    info = zipfile.ZipFile(path).getinfo("data.npy")
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    raw[info.header_offset + 30 + name_len + extra_len + info.file_size - 100] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="CRC"):
        symbreak.load(path)


# -------------------------------------------------------------------- 7, 8. MIB
@pytest.fixture
def mib(tmp_path):
    frames = np.random.default_rng(1).integers(0, 1000, (64, 32, 32)).astype(np.uint16)
    path = tmp_path / "a.mib"
    _writers().write_mib(path, frames, scan_shape=(8, 8))
    return path, frames


def test_7_8_undamaged_mib_loads_exactly(mib):
    path, frames = mib
    # RosettaSciIO shows Merlin frames flipped vertically (detector rows bottom-up)
    assert np.array_equal(symbreak.load(path).to_numpy(),
                          frames.reshape(8, 8, 32, 32)[:, :, ::-1])


def test_7_truncated_mib_is_refused(mib):
    path, _ = mib
    raw = path.read_bytes()
    path.write_bytes(raw[:-1000])
    with pytest.raises(FormatError, match="not a whole number"):
        symbreak.load(path)


def test_8_mib_header_size_field_changed_is_refused(mib):
    path, _ = mib
    raw = path.read_bytes()
    assert raw[:384].count(b",00384,") == 1
    path.write_bytes(raw.replace(b",00384,", b",99999,", 1))
    with pytest.raises(FormatError, match=path.name):
        symbreak.load(path)


def test_8_mib_later_frame_header_damaged_is_refused(mib):
    path, _ = mib
    raw = bytearray(path.read_bytes())
    frame = 384 + 32 * 32 * 2
    raw[63 * frame: 63 * frame + 3] = b"XQ1"
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="frame 64"):
        symbreak.load(path)


@pytest.mark.parametrize("frames", ["1000000000", "63", "abc"])
def test_minor_mib_hdr_with_another_frame_count_is_refused(mib, frames):
    path, _ = mib
    hdr = path.with_suffix(".hdr")
    hdr.write_text(hdr.read_text().replace("Number):\t64", f"Number):\t{frames}"))
    with pytest.raises(FormatError, match="holds 64"):
        symbreak.load(path)


# --------------------------------------------------------- 9, 10. special files
def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "symbreak", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "SYMBREAK_PROGRESS": "0"})


def test_9_fifo_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "p.npy")
    done = _cli("info", tmp_path / "p.npy", timeout=60)
    assert done.returncode == 2
    assert "FIFO" in one_line_error(done.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("name", ["z.ndata1", "z.zip"])
def test_10_device_as_data_is_refused(tmp_path, name):
    (tmp_path / name).symlink_to("/dev/zero")
    with pytest.raises(FormatError, match="device"):
        symbreak.load(tmp_path / name)
    with pytest.raises(FormatError, match="device"):
        symbreak.load("/dev/zero", format="ndata1")


# ---------------------------------------------------------------- 11. model sizes
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from symbreak import RotationalVAE

    X = np.random.default_rng(2).random((64, 16, 16)).astype("f4")
    folder = tmp_path_factory.mktemp("model") / "m"
    RotationalVAE(epochs=1, hidden=16, random_state=0, restarts=0).fit(X).save(folder)
    return folder


def _edit_config(src: Path, dst: Path, **arch) -> Path:
    import shutil

    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["architecture"].update(arch)
    (dst / "config.json").write_text(json.dumps(config))
    return dst


@pytest.mark.parametrize("arch, message", [
    ({"hidden": 20000}, r"architecture.hidden must be an integer >= 2 and <= 8192, got 20000"),
    ({"latent_dim": 100000000}, "latent_dim must be an integer >= 1 and <= 1024, got 100000000"),
    # the config's own parts disagree (settings and data still say 16 hidden, 16 px)
    ({"hidden": 32}, "settings.hidden must be the architecture's 32, got 16"),
    ({"pattern_shape": [32, 32]}, r"data.pattern_shape must be the architecture's \[32, 32\]"),
])
def test_11_model_config_sizes_checked_against_weights_first(model_dir, tmp_path, arch,
                                                              message):
    from symbreak import RotationalVAE

    assert RotationalVAE.load(model_dir).architecture_.hidden == 16
    bad = _edit_config(model_dir, tmp_path / "bad", **arch)
    with pytest.raises(FormatError, match=message) as info:
        RotationalVAE.load(bad)
    assert "\n" not in str(info.value)


# -------------------------------------------------------------- 12. simulate size
def test_12_huge_simulated_scan_is_refused_before_planning():
    from symbreak.simulation.run import plan

    with pytest.raises(SettingsError, match="scan_shape must be .* <= 65536"):
        plan("graphene-vacancy", scan_shape=(100000, 100000))
    with pytest.raises(SettingsError, match="5,000 x 5,000 probe scan: more than 16,777,216"):
        plan("graphene-vacancy", scan_shape=(5000, 5000))
    with pytest.raises(SettingsError, match="field of 2,000 Å, more than 1,000 Å"):
        plan("graphene-vacancy", scan_shape=(40, 40), scan_step=(50.0, 50.0))


# ----------------------------------------------------------- 13. damaged zarr chunks
@pytest.mark.parametrize("zipped", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_13_truncated_zarr_chunk_is_one_line_without_crash(npy, zipped):
    """A truncated chunk crashed c-blosc (segfault) in about one of four reads of a zip
    store, and zarr's event loop printed pages of tracebacks at exit; both are gone."""
    assert main(["convert", str(npy), "z.zarr", "--chunks", "2,2,32,32"]) == 0
    chunks = sorted(p for p in (npy.parent / "z.zarr" / "data" / "c").rglob("*") if p.is_file())
    for chunk in chunks[:8]:
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 3])
    target = npy.parent / "z.zarr"
    if zipped:
        target = npy.parent / "z.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as z:
            for f in sorted((npy.parent / "z.zarr").rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(npy.parent / "z.zarr").as_posix())
    for attempt in range(3):
        done = _cli("com", target, "--out", f"c{attempt}.zarr")
        assert done.returncode == 2, done.stderr[-2000:]
        assert "Blosc chunk declares" in one_line_error(done.stderr)


def test_blosc_header_check_accepts_real_chunks_and_refuses_damage():
    from numcodecs import Blosc

    from symbreak.io.guards.blosc import check_chunk

    raw = np.arange(4096, dtype="<u2").tobytes()
    packed = Blosc(cname="zstd", clevel=5).encode(raw)
    check_chunk(packed, len(raw))
    with pytest.raises(ValueError, match="truncated"):
        check_chunk(packed[:-3], len(raw))
    with pytest.raises(ValueError, match="more than"):
        check_chunk(packed, len(raw) // 2)


# ------------------------------------------------------------------- 14. '.' as out
@pytest.mark.parametrize("command", [["convert", "a.npy", "."], ["com", "a.npy", "--out", "."],
                                     ["analyze", "a.npy", "--out", "."]])
def test_14_current_folder_as_output_is_refused(npy, capsys, command):
    status, err = run(capsys, *command, "--overwrite")
    assert status == 2 and "current folder" in one_line_error(err)
    assert (npy.parent / "a.npy").is_file()


# -------------------------------------------------------------- 15. non-UTF-8 names
def test_15_non_utf8_file_name_is_printed_not_a_traceback(tmp_path):
    raw = os.fsencode(tmp_path) + b"/b\xffn.npy"
    np.save(os.fsdecode(raw), np.random.default_rng(3).random((4, 4, 16, 16)).astype("f4"))
    out = os.fsencode(tmp_path) + b"/c\xff.zarr"
    done = subprocess.run([sys.executable, "-m", "symbreak", "com", raw, "--out", out],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert b"c\xff.zarr" in done.stdout  # the name's own bytes, as ls shows them
    assert os.path.isdir(out)


# ---------------------------------------------------------------- 16. disk full
def test_16_disk_full_is_one_line_and_leaves_no_temporary_files(npy, capsys, monkeypatch):
    """ENOSPC in the middle of writing (simulated: no tmpfs to fill here) ends in one
    line and removes the temporary output."""
    import zarr.storage

    real = zarr.storage.LocalStore.set
    calls = {"n": 0}

    async def full(self, key, value, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device", key)
        return await real(self, key, value, *args, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", full)
    status, err = run(capsys, "com", npy, "--out", "c.zarr")
    assert status == 1 and "the disk is full" in one_line_error(err)
    assert sorted(p.name for p in npy.parent.iterdir()) == ["a.npy"]


def test_16_hdf5_output_larger_than_the_free_space_is_refused_up_front(npy, capsys,
                                                                       monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(5 << 20, 5 << 20, 200_000))
    status, err = run(capsys, "convert", npy, "o.h5")
    assert status == 2 and "0.2 MiB free" in one_line_error(err)
    assert sorted(p.name for p in npy.parent.iterdir()) == ["a.npy"]


def test_16_disk_full_inside_a_library_error_is_recognised():
    from symbreak.storage.safe_output import disk_error

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("[enforce fail at inline_container.cc] write failed") from exc
    except RuntimeError as wrapped:
        assert disk_error(wrapped).errno == errno.ENOSPC
    assert disk_error(RuntimeError("File write failed: No space left on device")) is not None
    assert disk_error(ValueError("bad value")) is None


def test_16_checkpoint_temporary_file_removed_when_the_write_fails(tmp_path, monkeypatch):
    import torch

    from symbreak.vae import train

    def fail(*args, **kwargs):
        raise RuntimeError("PytorchStreamWriter failed writing file: No space left on device")

    def partial_then_fail(state, path):
        Path(path).write_bytes(b"x" * 1000)  # torch leaves a partial file behind
        fail()

    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(5 << 20, 5 << 20, 0))
    monkeypatch.setattr(torch, "save", partial_then_fail)
    with pytest.raises(OSError) as info:
        train.write_checkpoint_file(tmp_path / "checkpoint.pt", {"epoch": 1})
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ 17. settings decode
def test_17_settings_file_that_is_not_utf8(npy, capsys):
    (npy.parent / "s.toml").write_bytes(b"\xff\xfe[vae]\nepochs = 1\n")
    status, err = run(capsys, "analyze", npy, "--out", "r", "--config", "s.toml")
    assert status == 2 and "not UTF-8" in one_line_error(err)
    assert not (npy.parent / "r").exists()


# ----------------------------------------------------------------------- 18. seeds
@pytest.mark.parametrize("seed", ["4294967296", str(2**63 - 1), "-1"])
@pytest.mark.parametrize("command", [["analyze", "a.npy", "--out", "r"],
                                     ["train", "a.npy", "--out", "m"],
                                     ["decompose", "a.npy", "--out", "d.zarr"]])
def test_18_seed_outside_32_bits_is_one_line(npy, capsys, seed, command):
    status, err = run(capsys, *command, "--seed", seed)
    assert status == 2 and "4294967295" in one_line_error(err)


def test_18_largest_seed_is_accepted():
    from symbreak.classical.decompose import check_seed

    assert check_seed(2**32 - 1) == 2**32 - 1
    with pytest.raises(SettingsError):
        check_seed(2**32)


# -------------------------------------------------------------------- 19. latent_dim
def test_19_latent_dim_from_settings_is_bounded(npy, capsys):
    (npy.parent / "s.toml").write_text("[vae]\nlatent_dim = 100000000\n")
    status, err = run(capsys, "analyze", npy, "--out", "r", "--config", "s.toml")
    assert status == 2 and "latent_dim" in one_line_error(err)


# ----------------------------------------------------- the one-rename switch itself
def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "f").write_text("old")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "f").write_text("new")
    exchange(tmp_path / "new", tmp_path / "old")
    assert (tmp_path / "old" / "f").read_text() == "new"
    assert (tmp_path / "new" / "f").read_text() == "old"


# ------------------------------------------- damaged HDF5 that crashes libhdf5 itself
CRASH_READ = "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); [f.attrs[k] for k in f.attrs]"
LOAD = ("import sys, symbreak\n"
        "try:\n    symbreak.load(sys.argv[1]).to_numpy()\n    print('LOADED')\n"
        "except symbreak.errors.SymbreakError as exc:\n    print('ERROR', exc)\n")


def _damaged_hspy(path: Path) -> Path:
    """A HyperSpy file (RosettaSciIO's writer) with one bit flipped in the datatype of
    the root attribute ``file_format_version``: reading that attribute segfaults
    libhdf5 (found by the long fuzz run: byte 945 of the fuzz sample, mask 0x02)."""
    spec = importlib.util.spec_from_file_location("fuzz", TESTS / "test_fuzz_readers.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    fuzz._hspy(path, np.arange(4 * 4 * 16 * 16, dtype=np.uint16).reshape(4, 4, 16, 16))
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"file_format_version\0") + 25] ^= 0x02
    path.write_bytes(bytes(raw))
    return path


def test_hspy_with_a_flipped_header_byte_is_one_line_not_a_segfault(tmp_path):
    path = _damaged_hspy(tmp_path / "a.hspy")
    direct = subprocess.run([sys.executable, "-c", CRASH_READ, path], capture_output=True,
                            timeout=120)
    crashes = direct.returncode < 0  # the file crashes libhdf5 when h5py reads it
    done = subprocess.run([sys.executable, "-c", LOAD, path], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"load crashed ({done.returncode}): {done.stderr[-1500:]}"
    if crashes:
        assert done.stdout.startswith("ERROR"), done.stdout
        assert "crashes libhdf5 (SIGSEGV)" in done.stdout and path.name in done.stdout
        assert len(done.stdout.strip().splitlines()) == 1


def test_hdf5_probe_passes_good_files_once(tmp_path):
    from symbreak.io import hdf5_probe

    path = tmp_path / "a.h5"
    symbreak.save(np.ones((2, 2, 8, 8), "f4"), path)
    hdf5_probe.probe(path)
    assert hdf5_probe._key(path) in hdf5_probe._PASSED
    np.testing.assert_array_equal(symbreak.load(path).to_numpy(), 1.0)

