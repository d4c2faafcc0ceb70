"""One writer per output: an exclusive ``flock`` on a lock file, refused with a clear error.

The lock is held by an open file descriptor, so the kernel releases it when the process
ends for any reason, kill -9 included: a lock file left behind by a killed run holds no
lock and never blocks the next run (which takes it over and removes it when done).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import OutputLockedError, SettingsError
from .paths import display

LOCK_NAME = ".symbreak.lock"
_HELD: set[str] = set()  # the lock files this process holds (absolute paths)


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


def _refuse(lock: Path, why: str) -> SettingsError:
    return SettingsError(f"the lock path {display(lock)} {why}; symbreak never writes "
                         "through it: remove it (or choose another output) and run again")


def _open_lock(lock: Path) -> int | None:
    """An fd of the lock file, created new (``O_EXCL``) or an earlier symbreak lock file;
    never through a symbolic link (``O_NOFOLLOW``), never a file with other names (hard
    links) or other contents. None: it vanished between two calls (retry)."""
    flags = os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(lock, flags | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        pass
    try:
        fd = os.open(lock, flags | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO cannot block us
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(lock, "is a symbolic link") from None
        raise
    st = os.fstat(fd)
    problem = ("is not a regular file" if not stat.S_ISREG(st.st_mode) else
               "has other names (hard links)" if st.st_nlink > 1 else
               "is not a symbreak lock file" if not _is_lock(fd) else None)
    if problem:
        os.close(fd)
        raise _refuse(lock, problem)
    return fd


def _is_lock(fd: int) -> bool:
    """Empty (a run killed right after creating it) or the JSON a holder writes."""
    text = os.pread(fd, 4097, 0)
    if not text.strip():
        return True
    try:
        info = json.loads(text.decode())
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(info, dict) and "pid" in info


def _acquire(lock: Path, path: Path, what: str) -> int:
    """An fd holding the exclusive lock on ``lock``, whose inode is still at that path."""
    while True:
        fd = _open_lock(lock)
        if fd is None:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputLockedError(
                f"{display(path)} is being written by {holder}; wait for it to finish or "
                f"choose another output (the lock {display(lock.name)} goes away with that "
                "process)") from None
        except OSError:  # file system without flock: work unlocked rather than not at all
            return fd
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file between our open and flock: retry


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, what: str, *, beside: bool = False,
                reentrant: bool = False) -> Iterator[None]:
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
    reentrant
        Go ahead when this process holds the lock already (a writer called inside a
        command that took it); otherwise a second lock of the same output is refused.

    Raises
    ------
    OutputLockedError
        Another process holds the lock; the message names its pid and host.
    """
    path = Path(path)
    if not path.parent.exists():
        raise SettingsError(f"the folder {display(path.parent)} for output "
                            f"{display(path.name)} does not exist")
    if not beside:
        if path.exists() and not path.is_dir():
            raise SettingsError(f"output {display(path)} is a file; give a folder")
        path.mkdir(exist_ok=True)
    lock = lock_path(path, beside)
    key = os.path.abspath(lock)
    if reentrant and key in _HELD:  # this process holds it (a command around a writer)
        yield
        return
    fd = _acquire(lock, path, what)
    _HELD.add(key)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        _HELD.discard(key)
        # unlink while still holding the lock: a waiting process then sees another
        # inode at the path and retries (see _acquire), so no two hold it at once
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(lock, follow_symlinks=False)):
                os.unlink(lock)
        os.close(fd)
