"""``report(results_dir)``: read ``results.zarr``, draw the figures, write the page."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
import xarray as xr
from matplotlib.figure import Figure

from ..errors import FormatError
from ..io.atomic import atomic_output
from ..io.lock import output_lock
from . import figures
from .explorer import scan_regions
from .html import build_page, extra_sections
from .loading import open_results
from .markup import render


def _png(fig: Figure, dpi: int = 110) -> tuple[bytes, list]:
    """The figure as PNG bytes and where its scan maps lie in it (for the explorer)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    regions = scan_regions(fig)
    plt.close(fig)
    return buffer.getvalue(), regions


def _drawn(results: xr.Dataset) -> dict[str, tuple[bytes, list] | None]:
    """Every figure as PNG bytes and scan-map regions. The results were checked at load
    (:mod:`.loading`); a figure that still cannot be drawn is a one-line error, not a
    traceback (``--debug`` shows its cause)."""
    out = {}
    for name, draw in figures.figure_makers(results, extra_sections(results)).items():
        try:
            fig = draw()
            out[name] = None if fig is None else _png(fig)
        except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as error:
            plt.close("all")
            raise FormatError(f"cannot draw the {name!r} figure from these results "
                              f"({type(error).__name__}: {str(error)[:120]}); rerun symbreak "
                              "analyze to write them again") from error
    return out


def report(results_dir: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write ``results_dir/report.html`` and ``results_dir/figures/*.png``.

    Parameters
    ----------
    results_dir
        Folder written by :func:`symbreak.analyze` (it holds ``results.zarr``).
    overwrite
        Replace an earlier report in that folder (default: yes, it is symbreak's own).

    Returns
    -------
    pathlib.Path
        Path of the HTML page.
    """
    folder = Path(results_dir)
    results = open_results(folder)
    drawn = _drawn(results)
    pngs = {name: None if d is None else d[0] for name, d in drawn.items()}
    maps = {name: d[1] for name, d in drawn.items() if d is not None and d[1]}
    text = render(build_page(results, pngs, maps))  # all of it before anything is written
    page = folder / "report.html"
    with output_lock(folder, "report"):  # the analysis folder's lock
        with atomic_output(folder / "figures", overwrite=overwrite, lock=False) as tmp:
            tmp.mkdir()
            for name, png in pngs.items():
                if png is not None:
                    (tmp / f"{name}.png").write_bytes(png)
        with atomic_output(page, overwrite=overwrite, lock=False) as tmp:
            # a file name that is not UTF-8 (surrogate escapes) is shown as \xNN
            tmp.write_text(text, encoding="utf-8", errors="backslashreplace")
    return page
