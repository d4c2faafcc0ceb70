"""A summary of a loaded data set for ``symbreak info`` (reads no pattern data)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ..dataset import Dataset4D
from .common import jsonable, size_on_disk
from .registry import format_for

MAX_METADATA_ITEMS = 16
MAX_VALUE_CHARS = 70


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n} B"


def _flatten(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(tree, Mapping):
        items = []
        for key, value in tree.items():
            items.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return items
    return [(prefix, tree)]


def describe(data: Dataset4D, path: str | os.PathLike) -> dict[str, Any]:
    """Everything ``symbreak info`` shows, as a JSON-able dict."""
    path = Path(path)
    fmt = next((p["format"] for p in reversed(data.provenance) if p.get("step") == "load"),
               None) or format_for(path).name
    truth = data.ground_truth
    return {
        "path": str(path), "format": fmt, "shape": list(data.shape),
        "axes": ["scan_y", "scan_x", "ky", "kx"], "dtype": str(data.dtype),
        "size_on_disk": size_on_disk(path), "size_in_memory": data.nbytes,
        "storage": "lazy (dask)" if data.is_lazy else type(data.array).__name__,
        "chunks": list(data.chunks) if data.chunks else None,
        "calibration": [{"field": f, "value": v, "source": s}
                        for f, v, s in data.calibration.describe()],
        "metadata": {k: jsonable(v) for k, v in _flatten(dict(data.metadata))},
        "provenance": jsonable(list(data.provenance)),
        "ground_truth": sorted(map(str, truth.data_vars)) if truth is not None else None,
    }


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def render(summary: Mapping[str, Any]) -> str:
    """The summary as aligned text."""
    lines = [
        f"path          {summary['path']}",
        f"format        {summary['format']}",
        f"shape         {tuple(summary['shape'])}  (scan_y, scan_x, ky, kx)",
        f"dtype         {summary['dtype']}",
        f"size on disk  {human_bytes(summary['size_on_disk'])}  "
        f"(in memory {human_bytes(summary['size_in_memory'])})",
        f"storage       {summary['storage']}"
        + (f", chunks {tuple(summary['chunks'])}" if summary["chunks"] else ""),
        "calibration",
    ]
    for row in summary["calibration"]:
        source = f"[{row['source']}]" if row["source"] else ""
        lines.append(f"  {row['field']:<17} {row['value']:<34} {source}".rstrip())
    metadata = list(summary["metadata"].items())
    lines.append(f"metadata      {len(metadata)} entries" + (":" if metadata else ""))
    for key, value in metadata[:MAX_METADATA_ITEMS]:
        lines.append(f"  {_short(key):<32} {_short(value)}")
    if len(metadata) > MAX_METADATA_ITEMS:
        lines.append(f"  ... {len(metadata) - MAX_METADATA_ITEMS} more (--json shows all)")
    lines.append("provenance")
    for i, step in enumerate(summary["provenance"], 1):
        rest = ", ".join(f"{k}={_short(v)}" for k, v in step.items() if k not in ("step", "time"))
        lines.append(f"  {i}. {step.get('step')} {rest}".rstrip())
    truth = summary["ground_truth"]
    lines.append("ground truth  " + (f"yes: {', '.join(truth)}" if truth is not None else "none"))
    return "\n".join(lines)
