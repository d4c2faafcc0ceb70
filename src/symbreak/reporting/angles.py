"""Report panel 'COM angle and rrVAE angle': the two direction maps side by side on the
same cyclic colour map, and their difference once the rrVAE's arbitrary constant offset
(and, if needed, its sense of rotation) is removed."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ..analysis import schema as S
from .panels import grid, map_panel


def wrap(angle: Any) -> np.ndarray:
    """Angles wrapped to [-pi, pi) [rad]."""
    return np.mod(np.asarray(angle, dtype=float) + np.pi, 2 * np.pi) - np.pi


def alignment(angle: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Sense ``s`` (+1 or -1) and offset ``c`` [rad] for which ``s * angle - c`` best
    matches ``reference`` on the circle (largest mean resultant of the difference)."""
    best = (1, 0.0, -1.0)
    for sense in (1, -1):
        mean = np.nanmean(np.exp(1j * (sense * angle - reference)))
        if abs(mean) > best[2]:
            best = (sense, float(np.angle(mean)), abs(mean))
    return best[0], best[1]


def aligned_difference(angle: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, int, float]:
    """``wrap(s * angle - c - reference)`` [rad] with the :func:`alignment` ``s``, ``c``."""
    sense, offset = alignment(angle, reference)
    return wrap(sense * angle - offset - reference), sense, offset


def angles_figure(results: xr.Dataset, markers: dict[str, np.ndarray]) -> Figure | None:
    """COM angle | rrVAE angle latent | their aligned difference, all in rad on the
    cyclic 'twilight' colour map from -pi to pi."""
    if S.COM_ANGLE not in results or S.LATENT_ANGLE not in results:
        return None

    com = results[S.COM_ANGLE].values
    latent = results[S.LATENT_ANGLE].values
    difference, sense, offset = aligned_difference(latent, com)
    fig, axes = grid(3, 3)
    cyclic = {"cmap": "twilight", "vmin": -np.pi, "vmax": np.pi}
    map_panel(fig, axes[0], results, com, "COM angle arctan2(y, x)", "rad", markers, **cyclic)
    map_panel(fig, axes[1], results, latent, "rrVAE angle latent", "rad", markers, **cyclic)
    term = "angle" if sense == 1 else "-angle"
    degrees = float(np.degrees(offset))
    map_panel(fig, axes[2], results, difference, f"rrVAE {term} {'-' if degrees >= 0 else '+'} "
         f"{abs(degrees):.0f}° - COM angle", "rad", markers, **cyclic)
    return fig
