"""``report(results_dir)``: read ``results.zarr``, draw the figures, write the page."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Callable

import matplotlib.pyplot as plt
import xarray as xr
from matplotlib.figure import Figure

from ..analysis import schema as S
from ..errors import FormatError
from ..storage.atomic import atomic_output
from ..storage.lock import output_lock
from . import figures as F
from .explorer import scan_regions
from .html import build_page, extra_sections, section_stem
from .loading import open_results
from .markup import render


def _png(fig: Figure, dpi: int = 110) -> tuple[bytes, list]:
    """The figure as PNG bytes and where its scan maps lie in it (for the explorer)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    regions = scan_regions(fig)
    plt.close(fig)
    return buffer.getvalue(), regions


NEEDS = {  # variables a built-in figure cannot do without; missing: no figure
    "mean_pattern": (S.RAW_MEAN_PATTERN, S.MEAN_PATTERN),
    "com": (S.COM_X, S.COM_Y, S.COM_MAGNITUDE, S.COM_ANGLE),
    "pca": (S.PCA_SCORES, S.PCA_COMPONENTS, S.PCA_EXPLAINED),
    "rrvae": (S.LATENT_ANGLE, S.LATENT_Z, S.RECONSTRUCTION_ERROR),
    "chosen_patterns": ((S.ADF, S.BF),),  # one of them
}


def _has(results: xr.Dataset, need: str | tuple[str, ...]) -> bool:
    return any(n in results for n in ((need,) if isinstance(need, str) else need))


def figure_makers(results: xr.Dataset, extra_sections: tuple[str, ...] = ()
                  ) -> dict[str, Callable[[], Figure | None]]:
    """Every report figure, keyed by its file stem, as a function that draws it (or
    returns None when the results lack what it shows); ``extra_sections`` are schema
    sections without a figure of their own, drawn by :func:`.figures.section_figure`."""
    markers = F.truth_markers(results)
    makers: dict[str, Callable[[], Figure | None]] = {
        section_stem(s): functools.partial(F.section_figure, results, s, markers)
        for s in extra_sections if s != F.Y.SECTION}
    makers |= {
        "symmetry": lambda: F.symmetry_figure(results),
        "sites": lambda: F.sites_figure(results),
        "mean_pattern": lambda: F.mean_pattern_figure(results),
        "virtual_images": lambda: F.virtual_figure(results, markers),
        "com": lambda: F.com_figure(results, markers),
        "pca": lambda: F.pca_figure(results, markers),
        "rrvae": lambda: F.vae_figure(results, markers),
        "angles": lambda: F.angles_figure(results, markers),
        "chosen_patterns": lambda: F.positions_figure(results, markers),
        "manifold": lambda: F.manifold_figure(results),
        "training": lambda: F.training_figure(results),
    }
    return {name: (make if all(_has(results, n) for n in NEEDS.get(name, ()))
                   else lambda: None) for name, make in makers.items()}


def _drawn(results: xr.Dataset) -> dict[str, tuple[bytes, list] | None]:
    """Every figure as PNG bytes and scan-map regions. The results were checked at load
    (:mod:`.loading`); a figure that still cannot be drawn is a one-line error, not a
    traceback (``--debug`` shows its cause)."""
    out = {}
    for name, draw in figure_makers(results, extra_sections(results)).items():
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
