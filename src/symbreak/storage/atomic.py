"""Write outputs to a temporary name and rename at the end, never over the user's files.

A failed or interrupted write leaves no half file under the final name; an existing
output is only replaced with ``overwrite=True``. :func:`partial_output` uses a fixed
temporary name, and :class:`ChunkRecord` lists the chunks already in it, so that a write
killed half way can be continued (``resume``) instead of started again.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .safe_output import (check_target, exchange, is_leftover, make_marked_folder, mark,
                          remove_leftover, rename_new)

TEMP_MARK = ".symbreak-tmp-"
PARTIAL_MARK = f"{TEMP_MARK}partial-"
RECORD_NAME = ".symbreak-progress.json"


def check_output(path: str | os.PathLike, overwrite: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Validate an output path before any work: refuse an existing one unless asked,
    and one that symbreak did not make even then (see
    :func:`~symbreak.storage.safe_output.check_target`)."""
    return check_target(path, overwrite=overwrite, inputs=inputs)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _lock(final: Path, lock: bool, what: str) -> contextlib.AbstractContextManager:
    from .lock import output_lock

    return (output_lock(final, what, beside=True, reentrant=True) if lock
            else contextlib.nullcontext())


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False, *, lock: bool = True,
                  what: str = "save") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it to ``path``.

    Works for files and for directory stores (zarr); a folder gets symbreak's marker
    (:data:`~symbreak.storage.safe_output.MARKER`) before it is moved. The temporary path lies
    in a folder of its own (``.symbreak-tmp-<id>-NAME/NAME``) that carries the marker
    from the start, so that one left by a killed run is recognised and removed by the
    next run (:func:`remove_stale`). The output's lock (``<path>.lock``) is held
    throughout unless ``lock=False`` (the caller holds a lock covering it). On any
    exception, including KeyboardInterrupt, the temporary output is removed and the
    original is untouched.
    """
    final = check_output(path, overwrite)
    holder = final.with_name(f"{TEMP_MARK}{uuid.uuid4().hex[:8]}-{final.name}")
    with _lock(final, lock, what):
        try:
            check_output(final, overwrite)
            remove_stale(final)
            make_marked_folder(holder, f"temporary {what}")
            yield holder / final.name
            _swap_in(holder / final.name, final, what, overwrite)
        except BaseException:
            if is_leftover(holder):
                remove(holder)
            raise
        remove(holder)


def remove_stale(final: Path) -> None:
    """Remove the temporary folders of ``final`` that killed runs left beside it: only
    those that prove to be symbreak's (:func:`~symbreak.storage.safe_output.is_leftover`) and
    are named for ``final``; the caller holds ``final``'s lock, so no live run owns them."""
    pattern = re.compile(re.escape(TEMP_MARK) + "[0-9a-f]{8}-" + re.escape(final.name))
    try:
        names = [p for p in final.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:
        return
    for left in names:
        if is_leftover(left):
            remove(left)


def _swap_in(tmp: Path, final: Path, what: str = "output", overwrite: bool = True) -> None:
    """Move the finished ``tmp`` to ``final`` in one rename (an old ``final`` is swapped
    out atomically and removed after; without ``overwrite`` nothing that appeared at
    ``final`` meanwhile is replaced)."""
    if tmp.is_dir() and not tmp.is_symlink():
        mark(tmp, what)
    if overwrite and (final.exists() or final.is_symlink()):
        exchange(tmp, final)
        remove(tmp)
    else:
        rename_new(tmp, final)


def partial_path(path: str | os.PathLike) -> Path:
    """The fixed temporary folder of ``path`` (the same in every run, so it can be
    resumed): ``.symbreak-tmp-partial-NAME``, marked as symbreak's when it is made, with
    the unfinished output inside it (:func:`partial_store`)."""
    path = Path(path)
    return path.with_name(f"{PARTIAL_MARK}{path.name}")


def partial_store(path: str | os.PathLike) -> Path:
    """Where the unfinished output of ``path`` is written: ``partial_path(path)/NAME``."""
    return partial_path(path) / Path(path).name


def remove_partial(path: str | os.PathLike) -> None:
    """Remove the unfinished output of ``path`` that an earlier run left, only when its
    folder proves to be symbreak's (a user's folder of that name is refused, never
    removed)."""
    remove_leftover(partial_path(path), f"output {Path(path).name}")


@contextlib.contextmanager
def partial_output(path: str | os.PathLike, overwrite: bool = False,
                   keep_on_interrupt: bool = False) -> Iterator[Path]:
    """Like :func:`atomic_output` with the fixed temporary name :func:`partial_store`.

    The caller decides what to do with a temporary output left by an earlier run
    (continue it or remove it, :func:`remove_partial`) before writing. On
    KeyboardInterrupt the temporary output is kept when ``keep_on_interrupt``; any other
    exception removes it. The record file :data:`RECORD_NAME` inside a directory store is
    removed before the final rename.
    """
    final = check_output(path, overwrite)
    holder, tmp = partial_path(final), partial_store(final)
    if not holder.exists():
        make_marked_folder(holder, "unfinished output")
    try:
        yield tmp
        if tmp.is_dir():
            (tmp / RECORD_NAME).unlink(missing_ok=True)
        check_output(final, overwrite)
        _swap_in(tmp, final, overwrite=overwrite)
    except KeyboardInterrupt:
        if not keep_on_interrupt:
            remove(holder)
        raise
    except BaseException:
        remove(holder)
        raise
    remove(holder)


class ChunkRecord:
    """Which chunks of an output are on disk: ``RECORD_NAME`` in the temporary store.

    A JSON file ``{"fingerprint": {...}, "grid": [n, ...], "done": [[start, stop], ...]}``
    (ranges of C-order chunk numbers), replaced atomically after every
    :data:`SAVES`-th part of the grid's chunks and on :meth:`flush`. A chunk is marked
    only after it is written, so a kill loses at most one such part, never records a
    chunk that is not there. The saves depend on the count of chunks written, not on the
    clock, so the same write makes the same file operations on any machine.
    """

    SAVES = 64

    def __init__(self, path: Path, fingerprint: Any, grid: Iterable[int],
                 done: Iterable[int] = ()) -> None:
        self.path, self.fingerprint = Path(path), fingerprint
        self.grid = tuple(int(n) for n in grid)
        self.done: set[int] = set(done)
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def read(cls, path: Path) -> dict | None:
        """The record's contents, or None when missing or unreadable (killed mid-write
        of the store's header: nothing to continue)."""
        try:
            info = json.loads(Path(path).read_text())
            done = {int(i) for a, b in info["done"] for i in range(a, b)}
            return {"fingerprint": info["fingerprint"],
                    "grid": tuple(int(n) for n in info["grid"]), "done": done}
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def mark(self, number: int) -> None:
        """Record chunk ``number`` (C order over the grid) as written."""
        with self._lock:
            if self._closed:  # a chunk that finished after its write was abandoned
                return
            self.done.add(int(number))
            every = max(1, math.prod(self.grid) // self.SAVES)
            if len(self.done) % every == 0:
                self._save()

    def flush(self) -> None:
        with self._lock:
            self._save()

    def close(self) -> None:
        """Save the record and take no more marks: after a failed or interrupted write
        returns, threads still finishing a chunk never change the record (their chunks
        are written again on resume)."""
        with self._lock:
            self._save()
            self._closed = True

    def _save(self) -> None:
        ranges: list[list[int]] = []
        for i in sorted(self.done):
            if ranges and ranges[-1][1] == i:
                ranges[-1][1] = i + 1
            else:
                ranges.append([i, i + 1])
        text = json.dumps({"fingerprint": self.fingerprint, "grid": list(self.grid),
                           "done": ranges})
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)
