"""The 'whole-pattern channels' analysis stage: the few directions in which patterns vary.

Bins the raw patterns, variance-stabilises them and projects them on the principal
components above the noise's Marchenko-Pastur edge (:mod:`symbreak.symmetry.patterns`);
the symmetry stage compares these channels with their lattice-equivalent positions as the
``whole_pattern`` descriptor (family ``pattern``). Importing this module registers its
schema entry; :mod:`symbreak.analysis.plan` puts :data:`STAGE` before the symmetry stage.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from ..errors import DataError
from ..symmetry.patterns import pattern_channels
from . import schema as S
from .context import Context, Stage

CHANNELS = S.define("pattern_channels", ("pattern_channel",) + S.SCAN, "Anscombe units",
                    "whole-pattern channels: binned, variance-stabilised patterns projected "
                    "on the principal components above the noise edge (shot noise sd 1 for "
                    "counts)", S.SYMMETRY_SECTION)


def shot_noise_counts(image: xr.DataArray) -> bool:
    """True when a detector image holds electron counts with their Poisson noise: its
    unit is counts and every value is a non-negative integer (a noise-free simulation
    in counts has expected, non-integer values and no shot noise)."""
    values = np.asarray(image.values, float)
    finite = values[np.isfinite(values)]
    return (image.attrs.get("units") == "counts" and finite.size > 0
            and bool(np.all(finite >= 0)) and bool(np.all(finite == np.round(finite))))


def is_counts(ctx: Context, results: xr.Dataset) -> bool:
    """Whether the raw patterns are electron counts with their Poisson noise: integer
    data, or a BF image that is (:func:`shot_noise_counts`)."""
    if np.dtype(ctx.data.dtype).kind in "biu":
        return True
    return S.BF in results and shot_noise_counts(results[S.BF])


def _channels(ctx: Context) -> xr.Dataset:
    counts = is_counts(ctx, ctx.results())
    try:
        found = pattern_channels(ctx.data, counts, ctx.progress)
    except DataError as exc:
        warnings.warn(f"whole-pattern channels skipped: {exc}")
        return xr.Dataset()
    rule = {"eigenvalues": [float(v) for v in found.eigenvalues], "edge": found.edge,
            "noise_variance": found.noise_variance, "binning": list(found.binning),
            "counts": found.counts,
            "noise_sd": None if found.noise_sd is None else [float(v) for v in found.noise_sd]}
    return xr.Dataset({CHANNELS: S.make(CHANNELS, found.channels, counts=int(counts),
                                        components=json.dumps(rule))})


STAGE = Stage("whole-pattern channels", _channels, variables=(CHANNELS,), uses=(S.BF,))
