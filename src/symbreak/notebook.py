"""Rich display in Jupyter: the HTML summary of a :class:`~symbreak.dataset.Dataset4D`
(``Dataset4D._repr_html_``) with shape, dtype, size, lazy or in memory, calibration and,
for data in memory, a thumbnail of the mean pattern."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

THUMBNAIL_MAX_BYTES = 256 * 2**20  # in-memory data up to this size get a mean-pattern thumbnail


def _rows(rows: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th style='text-align:left;padding-right:12px'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)


def _size(nbytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def mean_thumbnail(ds: Any, pixels: int = 120) -> str | None:
    """``<img>`` of the mean pattern (log scale) of in-memory data no larger than
    THUMBNAIL_MAX_BYTES; None for lazy or larger data (nothing is read for a summary)."""
    if ds.is_lazy or ds.nbytes > THUMBNAIL_MAX_BYTES:
        return None
    from matplotlib.figure import Figure

    mean = np.asarray(ds.array, dtype=np.float64).mean(axis=(0, 1))
    positive = mean[mean > 0]
    floor = positive.min() if positive.size else 1.0
    fig = Figure(figsize=(pixels / 100, pixels / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.log10(np.clip(mean, floor, None)), cmap="magma")
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f"<img src='data:image/png;base64,{data}' alt='mean pattern' "
            f"title='mean pattern (log scale)' style='width:{pixels}px'>")


def dataset_html(ds: Any) -> str:
    """The HTML summary of a Dataset4D."""
    ny, nx, ky, kx = ds.shape
    kind = (f"lazy (dask, chunks {ds.chunks}): nothing read yet" if ds.is_lazy
            else f"in memory ({type(ds.array).__name__})")
    rows = [("scan (y, x)", f"{ny} x {nx} probe positions"),
            ("detector (ky, kx)", f"{ky} x {kx} px"), ("dtype", ds.dtype),
            ("size", _size(ds.nbytes)), ("array", kind), ("source", ds.source or "-")]
    if ds.provenance:
        rows.append(("steps", ", ".join(str(p.get("step", "?")) for p in ds.provenance)))
    if ds.ground_truth is not None:
        rows.append(("ground truth", ", ".join(map(str, ds.ground_truth.data_vars))))
    calibration = "".join(
        f"<tr><td>{html.escape(str(f))}</td><td>{html.escape(str(v))}</td>"
        f"<td>{html.escape(str(s))}</td></tr>" for f, v, s in ds.calibration.describe())
    thumb = mean_thumbnail(ds)
    side = f"<div style='margin-left:16px'>{thumb}</div>" if thumb else ""
    return (
        "<div style='display:flex;align-items:flex-start'><div>"
        "<b>symbreak.Dataset4D</b>"
        f"<table>{_rows(rows)}</table>"
        "<details><summary>calibration</summary><table><tr><th>field</th><th>value</th>"
        f"<th>source</th></tr>{calibration}</table></details></div>{side}</div>")
