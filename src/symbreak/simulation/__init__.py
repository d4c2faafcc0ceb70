"""4D-STEM reference data simulated with abTEM (multislice) on ASE structures.

:func:`simulate` builds a lazy dask graph (abTEM's) and returns a
:class:`~symbreak.dataset.Dataset4D` with full calibration and ground truth; nothing is
computed until the data is used or saved, and saving streams it chunk by chunk.

The names are imported on first use, so that :mod:`symbreak.simulation.settings` (read by
``symbreak --help``) does not pull in abTEM.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "simulate": "run",
    "plan": "run",
    "PRESETS": "presets",
    "describe_presets": "presets",
    "SimulationSettings": "settings",
    "FIELDS": "settings",
    "measurement": "engine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symbreak.simulation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return __all__
