"""``symbreak.analyze`` as planned stages.

- :mod:`~symbreak.analysis.schema`: every results variable (name, dims, units).
- :mod:`~symbreak.analysis.context`: what a stage is (its needs, products and results
  variables) and the context it runs on.
- :mod:`~symbreak.analysis.plan`: the analysis order (``STAGES``, the one stage list);
  settings + data description -> resolved, checked plan (pure).
- :mod:`~symbreak.analysis.stages`: the built-in stages (virtual images, COM,
  preprocessing, PCA, rrVAE, ground truth); ``explorer_stage``, ``symmetry_stage`` and
  ``sites_stage`` hold one stage each.
- :mod:`~symbreak.analysis.inputs`: open, fingerprint and read the input.
- :mod:`~symbreak.analysis.run`: the output folder, its lock and the final write.
- :mod:`~symbreak.analysis.provenance`: timings, peak memory, versions, attributes.

The names below are imported on first use, so that reading the schema (as the report
does) does not import PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"analyze": "api", "Context": "context", "Stage": "context", "STAGES": "plan"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'symbreak.analysis' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
