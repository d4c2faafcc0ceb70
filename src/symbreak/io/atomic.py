"""Write outputs to a temporary name and rename at the end, never over the user's files.

A failed or interrupted write leaves no half file under the final name; an existing
output is only replaced with ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from ..errors import OutputExistsError, SettingsError

TEMP_MARK = ".symbreak-tmp-"


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an output path before any work: refuse an existing one unless asked."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} already exists; choose another output path or pass overwrite=True "
            "(--overwrite on the command line)"
        )
    if not path.parent.exists():
        raise SettingsError(f"the folder {path.parent} for output {path.name} does not exist")
    return path


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it to ``path``.

    Works for files and for directory stores (zarr). On any exception, including
    KeyboardInterrupt, the temporary output is removed and the original is untouched.
    """
    final = check_output(path, overwrite)
    tmp = final.with_name(f"{TEMP_MARK}{uuid.uuid4().hex[:8]}-{final.name}")
    try:
        yield tmp
        if final.exists():
            # keep the old output until the new one is complete, then swap
            old = final.with_name(f"{TEMP_MARK}old-{uuid.uuid4().hex[:8]}-{final.name}")
            os.replace(final, old)
            os.replace(tmp, final)
            remove(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        remove(tmp)
        raise
