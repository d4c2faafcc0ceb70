"""Open a damaged HDF5 file in a throw-away child process before the real reader does.

A flipped byte in an HDF5 object header or B-tree can make libhdf5 crash (a segfault,
not a Python exception) or loop; no check in Python can catch that once it happens in
this process. :func:`probe` therefore forks a child that opens the file with h5py and
touches what a reader touches (every group, attribute, dataset layout, chunk index and a
few values) and reports how it ended. A child killed by a signal means the file crashes
libhdf5: a one-line :class:`~symbreak.errors.FormatError` here instead of a crash later.
A file that passed is remembered (path, size, modification time), so it is probed once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from ..errors import FormatError

PROBE_TIMEOUT_S = 20  # reading a file's structure takes milliseconds; a loop never ends
PROBE_READ_BYTES = 8 * 2**20  # a dataset at most this large is read whole by the probe
MAX_PROBED_CHUNKS = 100_000  # chunk-index entries walked per dataset
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE, signal.SIGILL}
_PASSED: set[tuple[str, int, int]] = set()


def _key(path: Path) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.realpath(path), st.st_size, st.st_mtime_ns


def _touch(name: str, obj: object) -> None:
    """Read what a reader reads of one object (errors are the reader's to report)."""
    import h5py

    for key in list(obj.attrs):
        try:
            obj.attrs[key]
        except Exception:
            pass
    if not isinstance(obj, h5py.Dataset):
        return
    try:
        obj.id.get_create_plist().get_layout()
        if obj.chunks is not None:
            for i in range(min(obj.id.get_num_chunks(), MAX_PROBED_CHUNKS)):
                obj.id.get_chunk_info(i)
        if obj.size and obj.size * obj.dtype.itemsize <= PROBE_READ_BYTES:
            obj[()]
        elif obj.size:
            obj[(0,) * obj.ndim]
            obj[tuple(n - 1 for n in obj.shape)]
    except Exception:
        pass


def _child(path: Path) -> None:
    """The probe itself, in the forked child: never returns."""
    code = 0
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(PROBE_TIMEOUT_S)
        import h5py

        with h5py.File(path, "r") as f:
            _touch("/", f)
            f.visititems(_touch)
    except BaseException:
        code = 1  # a Python error: the real reader raises it as a FormatError
    finally:
        os._exit(code)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SUFFIXES = {".h5", ".hdf5", ".hdf", ".emd", ".hspy", ".nxs", ".cxi"}


def looks_like_hdf5(path: Path) -> bool:
    """An HDF5 suffix, or the HDF5 signature at the start of the file."""
    if path.suffix.lower() in HDF5_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def probe(path: Path) -> None:
    """Refuse an HDF5 file that crashes (or hangs) libhdf5, found in a child process.

    Raises
    ------
    FormatError
        The child was killed by a crash signal, or it did not finish within
        :data:`PROBE_TIMEOUT_S` while this process ran no other threads (with other
        threads a fork can inherit a held lock, so a slow child proves nothing).
    """
    if not hasattr(os, "fork"):
        return
    try:
        key = _key(path)
    except OSError:
        return
    if key in _PASSED:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():  # Python 3.12+ warns about fork with threads running
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        _child(path)
    status = _wait(pid, PROBE_TIMEOUT_S + 5)
    if status is None:
        if threading.active_count() == 1:
            raise FormatError(f"{path}: reading its HDF5 structure did not finish within "
                              f"{PROBE_TIMEOUT_S} s (a damaged object header or B-tree makes "
                              "libhdf5 loop); copy the file again")
        return
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in CRASH_SIGNALS:
        name = signal.Signals(os.WTERMSIG(status)).name
        raise FormatError(f"{path}: the HDF5 structure is damaged: reading it crashes libhdf5 "
                          f"({name}); copy or write the file again")
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM \
            and threading.active_count() == 1:
        raise FormatError(f"{path}: reading its HDF5 structure did not finish within "
                          f"{PROBE_TIMEOUT_S} s (a damaged object header or B-tree makes "
                          "libhdf5 loop); copy the file again")
    _PASSED.add(key)


def _wait(pid: int, timeout: float) -> int | None:
    """The child's wait status, or None after killing it when ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
