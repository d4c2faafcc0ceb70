"""Numbers that compare maps with ground truth: circular correlation and ROC-AUC.

Angles are in radians. NaNs are dropped pairwise before computing anything.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from ..errors import DataError


def _paired_angles(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise DataError(f"angle arrays differ in size: {a.size} vs {b.size}; pass maps of one shape")
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3:
        raise DataError(f"need at least 3 finite angle pairs, got {int(keep.sum())}")
    return a[keep], b[keep]


def circular_correlation(a: ArrayLike, b: ArrayLike) -> float:
    """Fisher & Lee (1983) circular-circular correlation, in [-1, 1].

    ``rho = sum_{i<j} sin(a_i - a_j) sin(b_i - b_j) / sqrt(sum sin^2(a_i - a_j) sum
    sin^2(b_i - b_j))``, computed in O(n) through the identity
    ``sum_{i,j} sin(a_i - a_j) sin(b_i - b_j) = 2 (S_ss S_cc - S_sc S_cs)``.
    It is +1 when ``b = a + c`` and -1 when ``b = -a + c`` for any constant ``c``.

    Parameters
    ----------
    a, b
        Angles [rad] of the same shape.
    """
    a, b = _paired_angles(a, b)
    sa, ca, sb, cb = np.sin(a), np.cos(a), np.sin(b), np.cos(b)
    num = (sa @ sb) * (ca @ cb) - (sa @ cb) * (ca @ sb)
    den_a = (sa @ sa) * (ca @ ca) - (sa @ ca) ** 2
    den_b = (sb @ sb) * (cb @ cb) - (sb @ cb) ** 2
    if den_a <= 0 or den_b <= 0:
        return float("nan")
    return float(num / np.sqrt(den_a * den_b))


def circular_correlation_js(a: ArrayLike, b: ArrayLike) -> float:
    """Jammalamadaka & SenGupta (2001) circular correlation, in [-1, 1].

    ``r = sum sin(a - mean_a) sin(b - mean_b) / sqrt(sum sin^2(a - mean_a)
    sum sin^2(b - mean_b))`` with circular means ``mean_a``, ``mean_b`` [rad].
    """
    a, b = _paired_angles(a, b)
    da = np.sin(a - circular_mean(a))
    db = np.sin(b - circular_mean(b))
    den = np.sqrt((da @ da) * (db @ db))
    return float(da @ db / den) if den > 0 else float("nan")


def circular_mean(a: ArrayLike) -> float:
    """Circular mean direction [rad] of angles ``a`` [rad]."""
    a = np.asarray(a, dtype=float).ravel()
    a = a[np.isfinite(a)]
    return float(np.arctan2(np.sin(a).sum(), np.cos(a).sum()))


def auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """ROC-AUC of ``scores`` for telling ``labels`` True from False (NaN scores dropped).

    0.5 is chance; 1.0 means every positive scores above every negative.
    """
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise DataError(f"scores ({s.size}) and labels ({y.size}) differ in size")
    keep = np.isfinite(s)
    s, y = s[keep], y[keep]
    if y.all() or not y.any():
        raise DataError(
            f"labels need both classes for an AUC, got {int(y.sum())} positive of {y.size}"
        )
    return float(roc_auc_score(y, s))


def symmetric_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """``max(AUC, 1 - AUC)``: separation regardless of the map's sign, in [0.5, 1].

    A latent or score map has no preferred sign, so a map that is low on the positives
    separates them as well as one that is high.
    """
    value = auc(scores, labels)
    return max(value, 1.0 - value)
