"""Weighted counting primitives for set metrics over bootstrap resamples (pure numpy).

Contracts:
- ``weights`` is a (B, n) array of non-negative, finite case multiplicities, one row per
  resample (``np.ones((1, n))`` for the estimate on all cases). ``as_weights`` validates it and
  returns float64. A row stands for the expanded case list ``np.repeat(cases, row)``.
- Sums of integer-valued weights are exact (float64 is exact below 2**53), so counts, cumulative
  counts and average ranks computed here equal those of the expanded resample exactly.
- Every function works on any number of rows, so callers may pass blocks of resamples.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.binary import tie_groups

Floats = NDArray[np.float64]


def as_weights(weights: ArrayLike, n: int) -> Floats:
    """``weights`` as a float64 (B, n) array, or ``ValueError``."""
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != n:
        raise ValueError(f"weights must have shape (B, {n}), got {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return array


def ratio(numerator: ArrayLike, denominator: ArrayLike) -> Floats:
    """Elementwise ``numerator / denominator``, ``nan`` where the denominator is zero."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def weighted_mean(weights: Floats, values: NDArray) -> Floats:
    """Per row, the mean of ``values`` (shape (n,) or (B, n)) over the expanded resample.

    Sums row by row (not a BLAS product, whose rounding depends on the block), so a row's value
    is bit-identical whichever block of rows it is computed in.
    """
    return ratio((weights * values).sum(axis=1), weights.sum(axis=1))


def group_sums(weights: Floats, codes: NDArray[np.intp], n_codes: int) -> Floats:
    """(B, n_codes): per row, the total weight of the cases whose code is ``c``.

    ``codes`` holds one integer in ``[0, n_codes)`` per case. Cost O(B·n) (one gather and one
    ``np.add.reduceat``), independent of ``n_codes``.
    """
    rows = weights.shape[0]
    out = np.zeros((rows, n_codes))
    if codes.size == 0:
        return out
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    out[:, sorted_codes[starts]] = np.add.reduceat(weights[:, order], starts, axis=1)
    return out


def average_ranks(weights: Floats, values: NDArray) -> Floats:
    """(B, n): the rank (1-based, ties averaged) each case gets in its row's expanded resample.

    Tied copies of a value occupy positions ``C + 1 .. C + c`` where ``C`` is the weight below the
    value and ``c`` its own weight, so each gets ``C + (c + 1) / 2``: a half-integer, exact.
    """
    group, n_groups = tie_groups(values)
    counts = group_sums(weights, group, n_groups)
    below = np.cumsum(counts, axis=1) - counts
    return (below + (counts + 1.0) / 2.0)[:, group]


def varies(weights: Floats, values: NDArray) -> NDArray[np.bool_]:
    """(B,): whether ``values`` take more than one value among the cases a row draws."""
    drawn = weights > 0
    low = np.where(drawn, values, np.inf).min(axis=1, initial=np.inf)
    high = np.where(drawn, values, -np.inf).max(axis=1, initial=-np.inf)
    return low < high
