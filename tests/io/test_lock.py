"""output_lock: one writer per output, a clear refusal naming the other process, and no
stale lock after kill -9."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from symbreak.errors import OutputLockedError, SymbreakError
from symbreak.storage.lock import LOCK_NAME, output_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from symbreak.storage.lock import output_lock
    with output_lock(sys.argv[1], sys.argv[2], beside=sys.argv[3] == "1"):
        print("held", flush=True)
        time.sleep(120)
""")


@contextlib.contextmanager
def held_elsewhere(path, what, beside=False):
    """Another process holding the lock on ``path``; yields it (killed with SIGKILL at
    the end unless the test already did)."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), what, str(int(beside))],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()


def test_second_holder_is_refused_with_pid_and_host(tmp_path):
    out = tmp_path / "run"
    with held_elsewhere(out, "analyze") as child:
        assert (out / LOCK_NAME).is_file()
        with pytest.raises(OutputLockedError) as info, output_lock(out, "analyze"):
            pytest.fail("took a lock another process holds")
        message = str(info.value)
        assert f"pid {child.pid} " in message
        assert socket.gethostname() in message
        assert "symbreak analyze" in message
        assert isinstance(info.value, SymbreakError)


def test_kill_9_leaves_no_lock_that_blocks(tmp_path):
    out = tmp_path / "out.zarr"
    with held_elsewhere(out, "convert", beside=True) as child:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert (tmp_path / "out.zarr.lock").exists()  # the file stays, the lock does not
    with output_lock(out, "convert", beside=True):
        assert (tmp_path / "out.zarr.lock").read_text().count(f'"pid": {os.getpid()}') == 1
    assert not (tmp_path / "out.zarr.lock").exists()  # removed on a clean release
    assert not out.exists()  # a lock beside the output does not create it


def test_same_process_second_lock_is_refused_and_released_after(tmp_path):
    out = tmp_path / "run"
    with output_lock(out, "analyze"), \
            pytest.raises(OutputLockedError, match=f"pid {os.getpid()} "), \
            output_lock(out, "analyze"):
        pass
    assert out.is_dir() and list(out.iterdir()) == []
    with output_lock(out, "analyze"):  # free again
        pass


def test_lock_needs_an_existing_parent(tmp_path):
    with pytest.raises(SymbreakError, match="does not exist"), \
            output_lock(tmp_path / "missing" / "run", "analyze"):
        pass


def test_convert_refuses_an_output_another_process_writes(tmp_path, capsys):
    from symbreak.cli import main

    source = tmp_path / "in.npy"
    np.save(source, np.zeros((2, 3, 4, 4), np.uint16))
    out = tmp_path / "out.zarr"
    with held_elsewhere(out, "convert", beside=True) as child:
        assert main(["convert", str(source), str(out)]) == 2
    err = capsys.readouterr().err
    assert "is being written by symbreak convert" in err and f"pid {child.pid} " in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "out.zarr.lock"]


def test_analyze_refuses_an_output_folder_another_analyze_writes(tmp_path, capsys):
    from symbreak.cli import main

    source = tmp_path / "in.npy"
    np.save(source, np.random.default_rng(0).poisson(5, (6, 6, 16, 16)).astype(np.uint16))
    out = tmp_path / "run"
    with held_elsewhere(out, "analyze") as child:
        assert main(["analyze", str(source), "--out", str(out), "--epochs", "1",
                     "--no-report", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is being written by symbreak analyze" in err and f"pid {child.pid} " in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written
