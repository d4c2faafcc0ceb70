"""Progress bars (tqdm) for loops and for dask computations: on in a terminal and in a
Jupyter notebook (tqdm.auto draws a notebook bar there when ipywidgets is installed, text
otherwise), off when the output is a file or pipe unless asked for, and always off with
``SYMBREAK_PROGRESS=0``."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

from dask.callbacks import Callback
from tqdm.auto import tqdm

T = TypeVar("T")


def enabled(progress: bool | None = None) -> bool:
    """Whether to show a bar: explicit argument, else env var, else stderr is a terminal
    or this runs in a Jupyter kernel."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get("SYMBREAK_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return sys.stderr.isatty() or in_notebook()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell started by ``IPKernelApp``)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    try:
        return shell is not None and "IPKernelApp" in shell.config
    except (AttributeError, TypeError):
        return False


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
