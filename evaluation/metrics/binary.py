"""Binary-classification metrics on plain arrays (pure numpy, no Django).

Contracts:
- ``y_true`` holds labels 0/1 (bool accepted); ``scores`` are finite floats of the same length.
  Anything else raises ``ValueError``.
- AUROC is the Mann-Whitney probability P(s⁺ > s⁻) + ½·P(s⁺ = s⁻); it is undefined (``nan``) when
  only one class is present (this includes the empty input).
- The weighted, thresholded metrics live in ``classification_binary``; this module keeps the
  validation, tie groups and the Mann-Whitney core they share.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def validate_binary(y_true: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.int8], NDArray]:
    """Return (labels as int8 0/1, scores as float64), or raise ``ValueError``."""
    labels = np.asarray(y_true)
    values = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or values.ndim != 1:
        raise ValueError("y_true and scores must be one-dimensional")
    if labels.shape != values.shape:
        raise ValueError(f"y_true has {labels.size} cases but scores has {values.size}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError("y_true must contain only the labels 0 and 1")
    if not np.isfinite(values).all():
        raise ValueError("scores must be finite (no NaN or infinity)")
    return labels.astype(np.int8), values


def tie_groups(scores: NDArray) -> tuple[NDArray[np.intp], int]:
    """Index of each case's distinct score in ascending order, and the number of distinct scores."""
    distinct, group = np.unique(scores, return_inverse=True)
    return group.ravel(), distinct.size


def mann_whitney_auc(pos_counts: NDArray[np.int64], neg_counts: NDArray[np.int64]) -> NDArray:
    """AUROC from per-tie-group class counts along the last axis (groups in ascending score order).

    Works on any leading shape (e.g. one row per bootstrap resample). The numerator is summed in
    exact integer arithmetic (doubled, so the ½ for ties stays integral), then divided once, so
    the result is the correctly rounded ratio. Rows with a missing class give ``nan``.
    """
    neg_below = np.cumsum(neg_counts, axis=-1) - neg_counts
    doubled_wins = (pos_counts * (2 * neg_below + neg_counts)).sum(axis=-1)
    doubled_pairs = 2 * pos_counts.sum(axis=-1) * neg_counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = doubled_wins / doubled_pairs.astype(np.float64)
    return np.where(doubled_pairs > 0, auc, np.nan)


def auroc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Mann-Whitney AUROC with ties counted ½; ``nan`` when a class is missing."""
    labels, values = validate_binary(y_true, scores)
    group, n_groups = tie_groups(values)
    pos = np.bincount(group[labels == 1], minlength=n_groups).astype(np.int64)
    neg = np.bincount(group[labels == 0], minlength=n_groups).astype(np.int64)
    return float(mann_whitney_auc(pos, neg))
