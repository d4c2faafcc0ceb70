"""Progress bars (tqdm) for loops and for dask computations; off when not a terminal
unless asked for, and always off with ``SYMBREAK_PROGRESS=0``."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

from dask.callbacks import Callback
from tqdm.auto import tqdm

T = TypeVar("T")


def enabled(progress: bool | None = None) -> bool:
    """Whether to show a bar: explicit argument, else env var, else stderr is a terminal."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get("SYMBREAK_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def track(iterable: Iterable[T], total: int | None = None, desc: str = "",
          progress: bool | None = None, unit: str = "it") -> Iterator[T]:
    """Iterate with a progress bar on stderr."""
    return iter(tqdm(iterable, total=total, desc=desc, disable=not enabled(progress),
                     unit=unit, file=sys.stderr, dynamic_ncols=True))


class DaskProgress(Callback):
    """A dask callback that drives a tqdm bar over the tasks of one ``compute``."""

    def __init__(self, desc: str = "", progress: bool | None = None) -> None:
        super().__init__()
        self._desc = desc
        self._disable = not enabled(progress)
        self._bar: tqdm | None = None

    def _start_state(self, dsk, state) -> None:
        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        self._bar = tqdm(total=total, desc=self._desc, disable=self._disable, unit="task",
                         file=sys.stderr, dynamic_ncols=True)

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def _finish(self, dsk, state, errored) -> None:
        if self._bar is not None:
            self._bar.close()
