"""Preparing patterns for PCA and the rrVAE: crop, bin, resize, mean subtraction, PCA
denoising, normalisation (:mod:`~symbreak.preprocess.patterns`), and the settings that
describe it (:mod:`~symbreak.preprocess.settings`).

The functions are imported on first use, so that reading the settings (``symbreak
--help``, a model's configuration) does not pull in dask and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module 'symbreak.preprocess' has no attribute {name!r}")
    return getattr(importlib.import_module(".patterns", __name__), name)
