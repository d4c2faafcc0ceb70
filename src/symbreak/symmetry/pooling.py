"""Pooling a residual over the probe's footprint: what a defect changes at every probe
within about a probe's width, and noise does not.

Three ways, by the kind of map (:attr:`symbreak.symmetry.reference.Residual.pooling`):

* ``chi2``: the weighted mean of each probe's chi2 (signals whose sign varies from probe
  to probe);
* ``signed``: per channel the matched filter of a constant offset over the footprint,
  ``z = sum w r / sqrt(sum w^2)`` (a scalar map a defect makes brighter or darker);
* ``field``: a vector field (the COM) through the derivative of the footprint, its
  divergence and curl, each a matched filter with unit variance under the null. A
  defect changes the projected potential phi locally and the COM is grad(phi) (thin
  specimen), so the divergence is the matched filter for a change of the projected
  charge (a vacancy, a dopant: the differentiated-DPC picture); the curl of a gradient
  is zero, but it takes the divergence's place when the detector is turned against the
  scan: the pair is unchanged by any rotation of the field, so an unknown scan rotation
  costs one degree of freedom instead of the signal. A flipped detector axis is not a
  rotation (the flipped gradient of a round bump has no divergence at its centre), so
  :func:`curl_free_orientation` first picks, of the field and its flip, the one whose
  lattice-periodic reference is closer to curl-free, as a gradient field is.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .reference import Residual

TRUNCATE = 4.0  # Gaussian kernels are cut at this many sigma


def footprint_weights(shape: tuple[int, int], footprint: tuple[float, float]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(sum of weights, sum of squared weights) (ny, nx) of the Gaussian ``footprint``
    (sigma in scan pixels) truncated at the scan's edges: near an edge fewer positions
    are pooled, so the pooled chi2 has fewer degrees of freedom there."""
    ones = np.ones(shape)
    w = ndimage.gaussian_filter(ones, footprint, mode="constant")
    radius = [int(4 * f + 0.5) for f in footprint]
    ky = np.exp(-0.5 * (np.arange(-radius[0], radius[0] + 1) / max(footprint[0], 1e-12)) ** 2)
    kx = np.exp(-0.5 * (np.arange(-radius[1], radius[1] + 1) / max(footprint[1], 1e-12)) ** 2)
    kernel = np.outer(ky / ky.sum(), kx / kx.sum())
    w2 = ndimage.correlate(ones, kernel ** 2, mode="constant")
    return w, w2


def _kernels(footprint: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The footprint's derivative kernels along y and along x in physical units up to a
    common factor (the footprint is the same length in Å along both axes, so a scan
    step is FOOTPRINT / footprint_px: d/dy [Å] = footprint_y d/dy [px] / FOOTPRINT)."""
    g, d = [], []
    for s in footprint:
        s = max(float(s), 1e-12)
        t = np.arange(-int(TRUNCATE * s + 0.5), int(TRUNCATE * s + 0.5) + 1)
        gauss = np.exp(-0.5 * (t / s) ** 2)
        gauss /= gauss.sum()
        g.append(gauss)
        d.append(-t / s ** 2 * gauss * s)  # x footprint_px: physical units
    return np.outer(d[0], g[1]), np.outer(g[0], d[1])


def curl_fraction(vy: np.ndarray, vx: np.ndarray) -> float:
    """sum(curl^2) / sum(div^2 + curl^2) of a vector field (y, x components) on a scan
    grid (finite differences; unchanged by any rotation of the field): 0 for a gradient
    field."""
    div = np.gradient(vy, axis=0) + np.gradient(vx, axis=1)
    curl = np.gradient(vy, axis=1) - np.gradient(vx, axis=0)
    total = float(np.sum(div ** 2 + curl ** 2))
    return float(np.sum(curl ** 2)) / total if total > 0 else 0.0


def curl_free_orientation(r: Residual) -> Residual:
    """``r`` (a vector residual (2, ny, nx)) with its y component negated when the
    flipped reference field is closer to curl-free than the field as measured (a
    detector axis flipped against the scan): the orientation in which the divergence
    filter sees a change of the projected charge."""
    ry, rx = r.reference[:2]
    if curl_fraction(-ry, rx) < curl_fraction(ry, rx):
        flip = np.array([-1.0, 1.0])[:, None, None]
        return Residual(r.reference * flip, r.residual * flip, r.spread, r.pooling)
    return r


def field_terms(r: Residual, footprint: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(chi2, dof) maps of a vector residual (2, ny, nx) (y, x components) pooled as its
    divergence and curl through the footprint's derivative (see the module docstring):
    ``(div^2 + curl^2)`` with each standardised by its sd under the null (unit residuals,
    the kernel cut at the scan's edges), 2 dof."""
    ky, kx = _kernels(footprint)
    ry, rx = (np.nan_to_num(c) for c in r.residual[:2])
    div = (ndimage.correlate(ry, ky, mode="constant")
           + ndimage.correlate(rx, kx, mode="constant"))
    curl = (ndimage.correlate(ry, kx, mode="constant")
            - ndimage.correlate(rx, ky, mode="constant"))
    ones = np.ones(ry.shape)
    var = (ndimage.correlate(ones, ky ** 2, mode="constant")
           + ndimage.correlate(ones, kx ** 2, mode="constant"))
    return (div ** 2 + curl ** 2) / var, np.full(ry.shape, 2.0)


def pooled_terms(r: Residual, footprint: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(chi2, dof) maps of one residual pooled over a Gaussian ``footprint`` (sigma in
    scan pixels (y, x); 0: none), cut at the scan's edges.

    * ``chi2``: the weighted mean of chi2 with weights w (sum 1) is matched to
      c chi2_nu, c = sum w^2, nu = k / c (returned as chi2 / c with nu dof);
    * ``signed``: per channel the matched filter ``z = sum w r / sqrt(sum
      w^2)`` (N(0, 1) under the null), returned as the sum of z^2 over the k channels
      with k dof. Where a defect adds or takes
      signal at every probe of the footprint, the signed sum grows as the number of
      probes n and its noise as sqrt(n); the sum of squares also adds n noise terms of
      variance 2 each, so the signed sum keeps sqrt(2 n) times more of a weak signal's
      significance;
    * ``field``: :func:`field_terms`.
    """
    if max(footprint) <= 0:
        return r.chi2, np.full(r.chi2.shape, float(r.dof))
    if r.pooling == "field":
        return field_terms(r, footprint)
    w, w2 = footprint_weights(r.chi2.shape, footprint)
    if r.pooling == "signed":
        z2 = sum(ndimage.gaussian_filter(np.nan_to_num(c), footprint, mode="constant") ** 2
                 for c in r.residual)
        return z2 / w2, np.full(r.chi2.shape, float(r.dof))
    c = w2 / w ** 2
    chi2 = ndimage.gaussian_filter(r.chi2, footprint, mode="constant") / w
    return chi2 / c, r.dof / c


