"""``symbreak.plot``: the report's figures, one function each, for notebooks and scripts.

Every function takes the results of :func:`symbreak.analyze` (the returned
``xarray.Dataset``) or the path of an analysis folder (its ``results.zarr`` is read) and
returns a matplotlib ``Figure`` (``None`` when the results lack what it shows). Maps are
drawn in Å with the scan origin at the top left and the known atoms and defects of a
simulation marked; patterns in mrad (px without a calibration); every colour bar names
its unit. The figures are closed in pyplot before they are returned, so a notebook shows
each once (as the cell's value) and a script saves it with ``fig.savefig(path)``.

Example
-------
>>> import symbreak
>>> results = symbreak.analyze(symbreak.simulate("graphene-vacancy"), epochs=20)
>>> symbreak.plot.virtual_images(results).savefig("bf_adf.png")
"""

from __future__ import annotations

import os
from typing import Any, Callable

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

__all__ = ["mean_pattern", "virtual_images", "com", "pca", "rrvae", "angles", "manifold",
           "training", "symmetry", "chosen_patterns", "com_colors"]

def _results(results: Any) -> xr.Dataset:
    if isinstance(results, (str, os.PathLike)):
        from .reporting import open_results
        return open_results(results)
    if not isinstance(results, xr.Dataset):
        from .errors import SettingsError
        raise SettingsError(f"expected the results of symbreak.analyze (an xarray.Dataset) "
                            f"or an analysis folder, got {type(results).__name__}")
    from .reporting.loading import check_results
    return check_results(results, "the results")


def _draw(make: Callable[..., Figure | None], results: Any, with_markers: bool = True
          ) -> Figure | None:
    from .reporting import figures

    r = _results(results)
    fig = make(r, figures.truth_markers(r)) if with_markers else make(r)
    if fig is not None:
        plt.close(fig)
    return fig


def mean_pattern(results: Any) -> Figure | None:
    """Mean of all patterns on the whole detector (log10, in the data's unit) with the
    bright-field and annular dark-field detectors and the analysis crop drawn on it, next
    to the mean pattern on the analysis grid; axes in mrad."""
    from .reporting import figures
    return _draw(figures.mean_pattern_figure, results, with_markers=False)


def virtual_images(results: Any) -> Figure | None:
    """Virtual bright-field and annular dark-field images over the scan [Å], in the data's
    unit (fractions of the incident beam for beam-normalised simulations, counts for
    counting detectors); the detector angles [mrad] in the titles."""
    from .reporting import figures
    return _draw(figures.virtual_figure, results)


def com(results: Any) -> Figure | None:
    """Centre of mass of each pattern relative to the mean pattern's: x, y [mrad],
    magnitude, and direction as hue with magnitude as brightness (colour-wheel legend)."""
    from .reporting import figures
    return _draw(figures.com_figure, results)


def pca(results: Any) -> Figure | None:
    """The first four PCA scores (maps, arbitrary units, with the explained variance in
    %) over their components (patterns on the analysis grid)."""
    from .reporting import figures
    return _draw(figures.pca_figure, results)


def rrvae(results: Any) -> Figure | None:
    """rrVAE maps: the angle latent [rad, wrapped, cyclic colours], the content latents
    [1] and the reconstruction error per pattern."""
    from .reporting import figures
    return _draw(figures.vae_figure, results)


def angles(results: Any) -> Figure | None:
    """COM angle and rrVAE angle latent side by side [rad, same cyclic colour map from -pi
    to pi] and their difference after removing the best constant offset and sense."""
    from .reporting import angles as panel
    return _draw(panel.angles_figure, results)


def manifold(results: Any) -> Figure | None:
    """Patterns decoded by the rrVAE over a grid of the two content latents (angle 0), on
    the scale of the preprocessed patterns."""
    from .reporting import figures
    return _draw(figures.manifold_figure, results, with_markers=False)


def training(results: Any) -> Figure | None:
    """Training loss (negative ELBO plus the rotation-consistency term) and validation
    loss (negative ELBO on held-out patterns) per pattern against epoch."""
    from .reporting import figures
    return _draw(figures.training_figure, results, with_markers=False)


def symmetry(results: Any) -> Figure | None:
    """Symmetry-breaking scores [robust standard deviations] over the ADF image with the
    anomalies circled, and example patterns at an anomaly beside their lattice-equivalent
    reference; ``None`` when the symmetry stage did not run."""
    from .reporting.symmetry import symmetry_figure
    return _draw(symmetry_figure, results, with_markers=False)


def chosen_patterns(results: Any) -> Figure | None:
    """The preprocessed pattern at the strongest anomaly, a lattice-equivalent position
    and a perfect-lattice site (or the largest and smallest reconstruction error), marked
    on the ADF image, and the anomaly minus its lattice-equivalent pattern."""
    from .reporting import positions
    return _draw(positions.positions_figure, results)


def com_colors(angle: Any, magnitude: Any) -> np.ndarray:
    """RGB image (..., 3) in [0, 1] of a direction map ``angle`` [rad] as hue and
    ``magnitude`` as brightness (scaled to its 99th percentile), as in :func:`com`."""
    from .reporting import figures
    return figures.com_colors(np.asarray(angle, dtype=float), np.asarray(magnitude, dtype=float))
