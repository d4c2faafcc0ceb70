"""What a results file records about how it was made: run time and peak memory per
stage, package versions, input, calibration and settings."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import platform
import time
from importlib import metadata
from typing import Any, Callable

from .. import __version__
from ..engine import budget_bytes
from ..dataset import Dataset4D
from ..jsonable import jsonable
from ..progress import enabled
from .settings import AnalyzeSettings

PACKAGES = ("numpy", "scipy", "dask", "xarray", "zarr", "scikit-learn", "torch", "abtem",
            "matplotlib")


def _reset_peak_memory() -> None:
    """Start a new peak resident-set measurement (Linux; a no-op elsewhere)."""
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")


def peak_memory() -> int | None:
    """Peak resident set [bytes] since the last reset (``VmHWM``), or None if unknown."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return None


@dataclasses.dataclass
class StageTimer:
    """Times each stage [s], measures its peak memory [MiB] and announces it when
    progress is on."""

    progress: bool | None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    memory: dict[str, float] = dataclasses.field(default_factory=dict)

    def run(self, name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        if enabled(self.progress):
            print(f"symbreak analyze: {name} ...", flush=True)
        _reset_peak_memory()
        value = func(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - start, 3)
        peak = peak_memory()
        if peak is not None:
            self.memory[name] = round(peak / 2**20, 1)
        return value


def versions() -> dict[str, str]:
    """Versions of symbreak, Python and the packages the numbers depend on."""
    out = {"symbreak": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _dumps(value: Any) -> str:
    return json.dumps(jsonable(value), default=str)


def results_attrs(data: Dataset4D, X: Dataset4D, settings: AnalyzeSettings, source: str,
                  checksum: str, timer: StageTimer) -> dict[str, Any]:
    """The attributes of ``results.zarr``: input, checksum, calibration, settings,
    versions, provenance, timings and peak memory."""
    truth_attrs = dict(data.ground_truth.attrs) if data.ground_truth is not None else {}
    checks = data.metadata.get("input_checks", {})
    return {
        "title": "symbreak analyze results",
        "symbreak_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "input_file": source,
        "input_checksum": checksum,
        "input_shape": list(data.shape),
        "input_dtype": checks.get("dtype", str(data.dtype)),
        "calibration": _dumps(data.calibration.to_dict()),
        "analysis_calibration": _dumps(X.calibration.to_dict()),
        "settings": settings.to_json(),
        "versions": json.dumps(versions()),
        "provenance": _dumps(list(X.provenance)),
        "metadata": _dumps(dict(data.metadata)),
        "truth_attrs": _dumps(truth_attrs),
        "timings": json.dumps(dict(timer.timings)),
        "peak_memory_mib": json.dumps(dict(timer.memory)),
        "memory_budget_mib": round(budget_bytes() / 2**20, 1),
        "input_checks": _dumps(checks),
    }
