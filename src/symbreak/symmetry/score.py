"""Symmetry-breaking scores, their threshold and the anomalies above it.

A descriptor's residual (see :mod:`symbreak.symmetry.reference`) has, at each probe, a
sum of squared standardised residuals ``chi2`` over its channels; for a perfect crystal
with Gaussian noise it follows a chi-squared law with ``dof`` = number of channels.
Before scoring, the residual is pooled over a Gaussian FOOTPRINT (about the probe size):
a defect changes every pattern within it, noise does not. A scalar map (BF, ADF, DF,
reconstruction error) is pooled signed, as a matched filter (a defect makes it brighter
or darker over the whole footprint); other maps by their chi2 (moment-matched: a
weighted sum of chi2_k with weights w is c chi2_nu with c = sum w^2, nu = k / c). The
score is the pooled chi2's exact normal equivalent (the one-sided normal quantile of its
tail probability), re-centred and re-scaled by its own median and 1.4826 x MAD over the
scan so that a descriptor whose residuals are not Gaussian (a noise-free simulation,
correlated channels) is still on a common footing. A family's score pools the chi2 of
its descriptors; the combined score is the best of every descriptor, family and all
pooled, corrected for the number of readings (:func:`family_scores`).

The threshold is the one-sided normal quantile for a false-alarm probability of
``FALSE_ALARMS`` (0.01) over the whole scan (Bonferroni over the positions): 4.37 sigma
for 1600 positions. Anomalies are local maxima of the lightly smoothed score above it,
merged within ``MERGE_RADIUS``.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
from scipy import ndimage, special, stats

from . import periodic
from .pooling import footprint_weights, pooled_terms  # noqa: F401 (part of the API)
from .reference import Residual

FALSE_ALARMS = 0.01  # expected number of null positions above the threshold, whole scan
MERGE_RADIUS = 1.0  # anomalies closer than this are one [Å]
SMOOTH_SIGMA = 0.25  # Gaussian smoothing of the score before finding maxima [Å]
FOOTPRINT = 0.3  # [Å] sigma of the Gaussian over which chi2 is pooled (about the probe)


def standardise(z: np.ndarray) -> np.ndarray:
    """``(z - max(median, 0)) / max(1.4826 MAD, 1)`` over the finite values [sigma].

    Only ever makes a score smaller: it corrects a spread that was underestimated
    (correlated channels, residuals heavier than Gaussian) but does not inflate scores
    whose residuals are mostly below the spread floor (noise-free data).
    """
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return z
    med = np.median(finite)
    scale = periodic.MAD_SCALE * np.median(np.abs(finite - med))
    return (z - max(med, 0.0)) / max(scale, 1.0)


def chi2_score(chi2: np.ndarray, dof: np.ndarray | float) -> np.ndarray:
    """The normal equivalent [sigma] of ``chi2`` with ``dof`` degrees of freedom: the
    one-sided normal quantile of its upper tail probability (exact, in log space: no
    underflow at 40 sigma)."""
    x = np.maximum(np.asarray(chi2, float), 0.0)
    k = np.broadcast_to(np.asarray(dof, float), x.shape)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_p = stats.chi2.logsf(x, k)
        # beyond float range (noise-free data): the leading term of the tail
        # Gamma(k/2, x/2) / Gamma(k/2), so that huge scores keep their order
        tail = -x / 2 + (k / 2 - 1) * np.log(np.maximum(x / 2, 1e-300)) - special.gammaln(k / 2)
        log_p = np.where(np.isfinite(log_p), log_p, tail)
    return -special.ndtri_exp(np.minimum(log_p, -1e-300))


def pooled_score(residuals: Sequence[Residual], footprint: tuple[float, float] = (0.0, 0.0)
                 ) -> np.ndarray:
    """Score [sigma] of one or more residuals pooled: each pooled over the Gaussian
    ``footprint`` (:func:`pooled_terms`), their chi2 and dof summed, converted to its
    normal equivalent (:func:`chi2_score`) and standardised (:func:`standardise`)."""
    terms = [pooled_terms(r, footprint) for r in residuals]
    chi2 = sum(t[0] for t in terms)
    dof = sum(t[1] for t in terms)
    return standardise(chi2_score(chi2, dof))


def threshold(n_positions: int, false_alarms: float = FALSE_ALARMS) -> float:
    """Score threshold [sigma]: ``false_alarms`` expected exceedances over the scan."""
    return float(stats.norm.isf(false_alarms / max(n_positions, 1)))


@dataclasses.dataclass(frozen=True)
class Anomaly:
    """A place where the symmetry is broken: position (y, x) [Å] and peak score [sigma];
    ``index`` is the scan pixel (iy, ix) of the peak."""

    y: float
    x: float
    score: float
    index: tuple[int, int]


def find_anomalies(score: np.ndarray, step: tuple[float, float], limit: float,
                   merge: float = MERGE_RADIUS, smooth: float = SMOOTH_SIGMA,
                   max_count: int = 50) -> list[Anomaly]:
    """Local maxima of the smoothed ``score`` whose unsmoothed peak is above ``limit``,
    strongest first, merged within ``merge`` [Å]; positions refined to the score-weighted
    centroid of the 3 x 3 neighbourhood [Å]."""
    s = np.nan_to_num(score, nan=-np.inf)
    sm = ndimage.gaussian_filter(np.where(np.isfinite(s), s, 0.0),
                                 (smooth / step[0], smooth / step[1]), mode="nearest")
    size = (max(3, int(2 * merge / step[0]) | 1), max(3, int(2 * merge / step[1]) | 1))
    peak = (sm == ndimage.maximum_filter(sm, size=size, mode="nearest"))
    near = ndimage.maximum_filter(s, size=3, mode="nearest")
    iy, ix = np.nonzero(peak & (near > limit))
    order = np.argsort(-near[iy, ix])
    found: list[Anomaly] = []
    for i in order:
        y, x = _centroid(s, iy[i], ix[i], step)
        if all(np.hypot(y - a.y, x - a.x) > merge for a in found):
            found.append(Anomaly(y, x, float(near[iy[i], ix[i]]), (int(iy[i]), int(ix[i]))))
        if len(found) >= max_count:
            break
    return found


def _centroid(s: np.ndarray, iy: int, ix: int, step: tuple[float, float]
              ) -> tuple[float, float]:
    y0, y1 = max(iy - 1, 0), min(iy + 2, s.shape[0])
    x0, x1 = max(ix - 1, 0), min(ix + 2, s.shape[1])
    w = s[y0:y1, x0:x1]
    w = np.where(np.isfinite(w), w, -np.inf)
    w = np.maximum(w - np.min(w[np.isfinite(w)]), 0.0)
    Y, X = np.meshgrid(np.arange(y0, y1), np.arange(x0, x1), indexing="ij")
    if w.sum() <= 0:
        return iy * step[0], ix * step[1]
    return float((w * Y).sum() / w.sum() * step[0]), float((w * X).sum() / w.sum() * step[1])


def family_scores(residuals: Mapping[str, Residual], families: Mapping[str, Sequence[str]],
                  step: tuple[float, float] = (1.0, 1.0)) -> dict[str, np.ndarray]:
    """Score per descriptor, per family (those of its descriptors present) and
    ``combined`` [sigma], each pooled over FOOTPRINT [Å].

    ``combined`` is the best of every reading, corrected for the number of readings
    (:func:`sidak`): each descriptor alone (the most power when one descriptor carries
    the information, where pooling would add the others' noise: a light substitution in
    the dark field), each family of two or more present descriptors pooled (when the
    information is spread over descriptors of one kind: a vacancy changes BF, ADF, DF and
    COM at once) and all descriptors pooled. So it is never below any of them by more
    than one Sidak correction, and, the readings being positively correlated, its null
    is N(0, 1) or below in the tail."""
    px = (FOOTPRINT / step[0], FOOTPRINT / step[1])
    out = {name: pooled_score([r], px) for name, r in residuals.items()}
    readings = [out[n] for n in residuals]
    groups = {tuple(sorted(residuals))} if len(residuals) > 1 else set()
    for family, names in families.items():
        present = [n for n in names if n in residuals]
        if present:
            out[family] = pooled_score([residuals[n] for n in present], px)
        if len(present) > 1 and tuple(sorted(present)) not in groups:
            groups.add(tuple(sorted(present)))
            readings.append(out[family])
    if len(residuals) > 1:
        readings.append(pooled_score(list(residuals.values()), px))
    out["combined"] = sidak(np.max(readings, axis=0), len(readings))
    return out


def sidak(z: np.ndarray, looks: int) -> np.ndarray:
    """The score [sigma] of the best of ``looks`` independent N(0, 1) scores whose maximum
    is ``z``: its one-sided p-value made 1 - (1 - p)^looks (Sidak), back to a score.
    Exact in the tails (log space: no overflow at 40 sigma): for 7 looks, 0.45 sigma less
    than ``z`` at 4.37 sigma, 0.07 sigma less at 30 sigma. Scores at or below 0 (no
    evidence) are left as they are, and a positive one is not made negative."""
    z = np.asarray(z, dtype=float)
    if looks <= 1:
        return z
    log_p = stats.norm.logsf(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_corrected = np.where(
            log_p < -30, log_p + np.log(looks),  # 1 - (1 - p)^n = n p to 1e-13 here
            np.log(-np.expm1(looks * np.log1p(-np.exp(log_p)))))
    corrected = np.maximum(-special.ndtri_exp(log_corrected), 0.0)
    return np.where(np.isnan(z) | (z <= 0), z, corrected)  # no evidence: left as it is
