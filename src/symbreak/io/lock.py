"""One writer per output: an exclusive ``flock`` on a lock file, refused with a clear error.

The lock is held by an open file descriptor, so the kernel releases it when the process
ends for any reason, kill -9 included: a lock file left behind by a killed run holds no
lock and never blocks the next run (which takes it over and removes it when done).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputLockedError, SettingsError

LOCK_NAME = ".symbreak.lock"


def lock_path(path: Path, beside: bool) -> Path:
    """``<out>/.symbreak.lock`` in an output folder, ``<out>.lock`` beside a file or a
    store that is replaced as a whole."""
    return path.with_name(path.name + ".lock") if beside else path / LOCK_NAME


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file's contents (written by the holder)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "another process"
    return (f"symbreak {info.get('what', '?')} (pid {info['pid']} on {info.get('host', '?')}, "
            f"since {info.get('started', '?')})")


def _acquire(lock: Path, path: Path, what: str) -> int:
    """An fd holding the exclusive lock on ``lock``, whose inode is still at that path."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputLockedError(
                f"{path} is being written by {holder}; wait for it to finish or choose "
                f"another output (the lock {lock.name} goes away with that process)") from None
        except OSError:  # file system without flock: work unlocked rather than not at all
            return fd
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file between our open and flock: retry


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, what: str, *, beside: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on the output ``path`` for the duration of the block.

    Parameters
    ----------
    path
        The output: a folder that the command writes into (the lock is
        ``path/.symbreak.lock``; the folder is created if missing), or, with
        ``beside=True``, a file or store that is replaced as a whole (``<path>.lock``).
    what
        The command, recorded in the lock file and named in the refusal.
    beside
        Put the lock file beside ``path`` instead of inside it.

    Raises
    ------
    OutputLockedError
        Another process holds the lock; the message names its pid and host.
    """
    path = Path(path)
    if not path.parent.exists():
        raise SettingsError(f"the folder {path.parent} for output {path.name} does not exist")
    if not beside:
        if path.exists() and not path.is_dir():
            raise SettingsError(f"output {path} is a file; give a folder")
        path.mkdir(exist_ok=True)
    lock = lock_path(path, beside)
    fd = _acquire(lock, path, what)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        # unlink while still holding the lock: a waiting process then sees another
        # inode at the path and retries (see _acquire), so no two hold it at once
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(lock)):
                os.unlink(lock)
        os.close(fd)
