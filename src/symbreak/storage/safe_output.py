"""The one discipline of every output symbreak writes: nothing lost, nothing mixed.

* Every output is checked before any work (:func:`check_target`): it may not be the
  current folder, the input or inside the input (nor hold it); an existing one is
  replaced only with ``overwrite`` and only when symbreak made it: folders carry the
  marker :data:`MARKER`, written into every folder output before it gets its final
  name (a folder without it is refused, whatever ``overwrite`` says).
* Every writer holds the output's lock (:func:`writing`, :mod:`symbreak.storage.lock`).
* Outputs are written under a temporary name beside the final one and switched in with
  one rename: :func:`exchange` swaps an old output and the new one atomically
  (``renameat2(RENAME_EXCHANGE)`` on Linux), :func:`rename_new` never replaces what
  appeared meanwhile (``RENAME_NOREPLACE``). A kill at any point leaves the old output or
  the new one, complete.
* A full disk or a permission error ends in one line (:func:`disk_error`), after the
  temporary files are removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import FormatError, OutputExistsError, SettingsError
from .paths import absolute, display  # noqa: F401  (used as safe_output.display)
from .ownership import (MARKER, MARKER_FILE, PROOF, is_leftover, is_owned,  # noqa: F401
                        make_marked_folder, mark, output_id, remove_leftover)

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_kind(path: Path, what: str = "data") -> None:
    """Refuse a FIFO, socket or device: only regular files and folders are data (a FIFO
    would block the read forever, a device never ends)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket"
                if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or
                stat.S_ISBLK(mode) else "a special file")
        raise FormatError(f"{display(path)} is {kind}, not a regular file or folder; "
                            f"give a file or folder holding the {what}")


def check_target(path: str | os.PathLike, *, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check an output path before any work is done.

    Parameters
    ----------
    path
        The output file, store or folder.
    overwrite
        Replace an existing output (only one that symbreak made, see :func:`is_owned`).
    inputs
        Files the command reads: the output may not be one of them, inside one, or hold one.

    Returns
    -------
    Path
        ``path`` (``~`` expanded).

    Raises
    ------
    OutputExistsError, SettingsError
        One line naming the output and what to do.
    """
    given = Path(os.path.expanduser(os.fspath(path)))
    out = absolute(given)
    check_place(given, inputs)
    exists = out.exists() or out.is_symlink()
    if exists and not overwrite:
        raise OutputExistsError(f"{display(given)} already exists; choose another output "
                                "path or pass overwrite=True")
    if exists:
        _check_replaceable(out, given)
    if not out.parent.is_dir():
        raise SettingsError(f"the folder {display(given.parent)} for output {display(out.name)} "
                            "does not exist")
    return given


def check_place(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse an output that is the root or the current folder (or holds it), or that is
    an input, lies inside one or holds one (both resolved, links followed)."""
    out = absolute(path)
    if out.parent == out:
        raise SettingsError(f"output {display(path)} is the root folder; give a new name")
    real = Path(os.path.realpath(out))
    if _inside(Path.cwd().resolve(), real):
        raise SettingsError(f"output {display(path)} is the current folder (or holds it); "
                            "give a new name, e.g. out.zarr or results")
    for name in inputs:
        source = Path(os.path.realpath(absolute(name)))
        if _inside(real, source) or _inside(source, real):
            relation = "is" if real == source else "is inside" if _inside(real, source) \
                else "holds"
            raise SettingsError(f"output {display(path)} {relation} the input "
                                f"{display(name)}; write the output somewhere else")


def _check_replaceable(out: Path, given: Path) -> None:
    if out.is_symlink():
        raise SettingsError(f"output {display(given)} is a symbolic link; symbreak does not "
                            "replace links: give the real path or another name")
    check_kind(out, "output")
    if not is_owned(out):
        raise SettingsError(
            f"{display(given)} is a folder that symbreak did not write (it has no valid "
            f"{MARKER} marker); overwrite=True replaces only symbreak's own outputs: move it "
            "away or choose another output path")


@contextlib.contextmanager
def writing(path: str | os.PathLike, what: str, *, overwrite: bool = False,
            inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Check ``path`` and hold its lock (``<path>.lock``) for the whole command.

    The check is repeated once the lock is held, so that of two commands started
    together on the same output one writes and the other is refused (never both).
    """
    from .lock import output_lock

    inputs = list(inputs)
    out = check_target(path, overwrite=overwrite, inputs=inputs)
    with output_lock(out, what, beside=True):
        check_target(out, overwrite=overwrite, inputs=inputs)
        yield out


def check_free_space(path: str | os.PathLike, needed: int) -> None:
    """Refuse up front an output of ``needed`` bytes that the disk cannot hold (for
    uncompressed outputs, whose size is known before writing: HDF5).

    Raises
    ------
    SettingsError
        Less free space than ``needed`` in the folder of ``path``.
    """
    import shutil

    folder = absolute(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        raise SettingsError(f"{display(path)} needs about {needed / 2**20:,.1f} MiB but the disk "
                            f"holding {display(folder)} has {free / 2**20:,.1f} MiB free; free "
                            "some space or write the output to another disk")


# ----------------------------------------------------------------------- renames
RENAME_EVENT = "symbreak.rename"  # audit event raised just before renameat2


@functools.lru_cache(maxsize=1)
def _libc_renameat2() -> object | None:
    """libc's ``renameat2`` (found once per process: ``find_library`` runs ``ldconfig``),
    or None."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    return getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None)


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the system lacks it."""
    import sys

    call = _libc_renameat2()
    if call is None:
        return False
    # a foreign call raises no audit event: this one makes the swap a kill point of
    # install_kill_hook (and lets an audit hook see it, like os.rename)
    sys.audit(RENAME_EVENT, os.fspath(src), os.fspath(dst), flags)
    result = call(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # the kernel or the file system cannot: fall back
    raise OSError(code, os.strerror(code), os.fspath(dst))


def rename_new(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, refusing if something appeared at ``dst`` meanwhile."""
    try:
        if _renameat2(src, dst, RENAME_NOREPLACE):
            return
    except FileExistsError:
        pass
    else:
        if not (dst.exists() or dst.is_symlink()):
            os.rename(src, dst)
            return
    raise OutputExistsError(f"{display(dst)} appeared while symbreak was writing it (another "
                            "program wrote it); the new output is not kept: choose another "
                            "path or pass overwrite=True")


def exchange(new: Path, old: Path) -> None:
    """Swap ``new`` and ``old`` atomically: afterwards ``old``'s name holds the new output
    and ``new``'s name the old one (which the caller removes). Without
    ``RENAME_EXCHANGE`` (not Linux, some network file systems): two renames, with the old
    output parked under ``new``'s name in between."""
    if _renameat2(new, old, RENAME_EXCHANGE):
        return
    parked = new.with_name(new.name + ".old")
    os.rename(old, parked)
    os.rename(new, old)
    os.rename(parked, new)


# -------------------------------------------------------------------- disk errors
DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "the file system is read-only"}


def disk_error(exc: BaseException) -> OSError | None:
    """The full-disk / permission :class:`OSError` behind ``exc`` (libraries such as torch
    and h5py wrap it in their own errors), or None."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            return exc
        text = str(exc)
        for code, words in ((errno.ENOSPC, "No space left on device"),
                            (errno.EDQUOT, "Disk quota exceeded")):
            if words in text:
                return OSError(code, words)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def describe_disk_error(exc: OSError) -> str:
    """One line for a failed write: what happened, where, and what to do."""
    where = f" writing {display(exc.filename)}" if exc.filename else ""
    fix = {errno.ENOSPC: "free some space or write the output to another disk",
           errno.EDQUOT: "free some space or write the output to another disk",
           errno.EROFS: "write the output to another folder"}.get(
        exc.errno, "write the output to a folder you may write to")
    return (f"{DISK_ERRORS.get(exc.errno, os.strerror(exc.errno or 0))}{where}; the partial "
            f"output was removed: {fix}")


# ------------------------------------------------------------- interruption tests
KILL_AFTER_ENV = "SYMBREAK_KILL_AFTER_WRITES"
_WRITE_EVENTS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.truncate",
                 "os.link", "os.symlink", "shutil.rmtree", RENAME_EVENT}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _is_write(event: str, args: tuple) -> bool:
    """Whether the audit event ``event(*args)`` is a write step: a rename (``os.replace``
    raises ``os.rename``; the renameat2 swap :data:`RENAME_EVENT`), a removal
    (``os.unlink`` raises ``os.remove``; ``shutil.rmtree`` one event for the tree, then
    one per entry), a folder or link made, a truncation, or a file opened for writing."""
    if event in _WRITE_EVENTS:
        return True
    if event != "open" or len(args) < 3:
        return False
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def install_kill_hook() -> None:
    """For the interruption tests only: with ``$SYMBREAK_KILL_AFTER_WRITES=N`` set, this
    process kills itself with SIGKILL at its N-th write step (see :func:`_is_write`: a
    file opened for writing, a rename or the atomic swap, a removal, a folder made),
    just before the step is done, i.e. at any point of writing an output."""
    import signal
    import sys

    value = os.environ.get(KILL_AFTER_ENV)
    if not value:
        return
    left = [int(value)]

    def hook(event: str, args: tuple) -> None:
        if _is_write(event, args):
            left[0] -= 1
            if left[0] <= 0:
                os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
