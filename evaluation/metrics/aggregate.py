"""Aggregation of case values over cases, with case-bootstrap percentile intervals (numpy only).

Contracts:
- Weights follow the engine convention (docs/metrics-engine.md): a ``(B, n)`` block of case
  multiplicities, one row per resample; ``ones((1, n))`` is the full data set.
- ``weighted_mean`` is ``w @ v / w.sum()`` per row. ``weighted_median`` equals ``np.median`` on
  the expanded sample ``np.repeat(v, w)`` exactly (the average of the two middle values when the
  row's total weight is even); its weights must be whole numbers. Both need finite values and give
  ``nan`` for a row whose weights sum to zero.
- ``aggregate_case_values`` never drops ``nan`` silently. With ``undefined="exclude"`` the
  statistic is taken over the defined cases only (each resample keeps the defined cases it drew);
  with ``undefined="worst"`` each ``nan`` is scored as ``worst`` (required then). Either way
  ``n_defined`` reports how many of the ``n_cases`` were defined, and ``n_resamples_defined`` how
  many resamples gave a value (a resample that drew no defined case gives none).
- Resamples come from ``bootstrap.resample_weights`` over all ``n`` cases, so the same seed gives
  the same resamples for every metric and every team (paired bootstrap). The interval is the
  equal-tailed percentile interval of the defined resample values (``percentile_interval``).
- ``bootstrap_set_metric`` does the same for a set metric ``fn(y_true, y_pred, weights,
  **params) -> (B,)``; its estimate is ``fn`` on ``ones((1, n))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.bootstrap import (
    CHUNK_BYTES,
    METHOD,
    percentile_interval,
    resample_weights,
)

Statistic = Literal["mean", "median"]
UndefinedRule = Literal["exclude", "worst"]
SetMetric = Callable[..., NDArray[np.float64]]

# Working bytes per case of one resample row: the weight draw (~28 B) plus the median's
# gathered weights, cumulative sums and comparisons (~24 B).
_BYTES_PER_CASE = 64


@dataclass(frozen=True)
class Aggregate:
    """A statistic over cases with its case-bootstrap percentile interval and its case counts."""

    estimate: float
    ci_low: float
    ci_high: float
    n_cases: int
    n_defined: int
    n_resamples: int
    seed: int
    statistic: str  # "mean" | "median" for case values, "set" for a set metric
    method: str
    confidence: float
    undefined: str  # "exclude" | "worst" ("exclude" for set metrics: undefined resamples)
    n_resamples_defined: int


def _as_values(values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError("values must be one-dimensional")
    if not np.isfinite(array).all():
        raise ValueError("values must be finite (resolve nan before weighting)")
    return array


def _as_weights(weights: ArrayLike, n: int) -> NDArray[np.float64]:
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != n:
        raise ValueError(f"weights must have shape (B, {n}), got {array.shape}")
    if (array < 0).any() or not np.isfinite(array).all():
        raise ValueError("weights must be finite and non-negative")
    return array


def weighted_mean(values: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    """Weighted mean of ``values`` for each row of ``weights``; ``nan`` where a row sums to 0."""
    v = _as_values(values)
    w = _as_weights(weights, v.size)
    total = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (w @ v) / total
    return np.where(total > 0, means, np.nan)


def weighted_median(values: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    """``np.median(np.repeat(values, row))`` for each row of whole-number ``weights``, vectorised.

    Sorts the values once; per row, the k-th smallest element of the expanded sample is the
    first sorted value whose cumulative weight exceeds k.
    """
    v = _as_values(values)
    w = _as_weights(weights, v.size)
    if (w != np.floor(w)).any():
        raise ValueError("weighted_median needs whole-number weights (multiplicities)")
    if v.size == 0:
        return np.full(w.shape[0], np.nan)
    order = np.argsort(v, kind="stable")
    sorted_values = v[order]
    cumulative = np.cumsum(w[:, order], axis=1)
    total = cumulative[:, -1]
    low_k = np.floor((total - 1) / 2)
    high_k = np.floor(total / 2)
    low_at = np.minimum((cumulative <= low_k[:, None]).sum(axis=1), v.size - 1)
    high_at = np.minimum((cumulative <= high_k[:, None]).sum(axis=1), v.size - 1)
    low, high = sorted_values[low_at], sorted_values[high_at]
    medians = np.where(low_at == high_at, low, (low + high) / 2)
    return np.where(total > 0, medians, np.nan)


_STATISTICS: dict[str, Callable[[ArrayLike, ArrayLike], NDArray[np.float64]]] = {
    "mean": weighted_mean,
    "median": weighted_median,
}


def _resolve_undefined(
    values: NDArray[np.float64], undefined: str, worst: float | None
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """(values to aggregate, mask of the cases they come from) under the undefined rule."""
    defined = ~np.isnan(values)
    if undefined == "exclude":
        if worst is not None:
            raise ValueError("worst applies only to undefined='worst'")
        return values[defined], defined
    if undefined == "worst":
        if worst is None or not np.isfinite(worst):
            raise ValueError("undefined='worst' needs a finite worst value")
        return np.where(defined, values, worst), np.ones_like(defined)
    raise ValueError(f"undefined must be 'exclude' or 'worst', got {undefined!r}")


def _check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")


def _resample_statistic(
    kept: NDArray[np.float64],
    columns: NDArray[np.bool_],
    statistic: Callable[[ArrayLike, ArrayLike], NDArray[np.float64]],
    n_resamples: int,
    seed: int,
) -> NDArray[np.float64]:
    """``statistic`` of ``kept`` on every resample of all cases, restricted to ``columns``."""
    n = columns.size
    rows = max(1, CHUNK_BYTES // (_BYTES_PER_CASE * n))
    samples = np.empty(n_resamples)
    start = 0
    for block in resample_weights(n, n_resamples, seed, rows):
        samples[start : start + len(block)] = statistic(kept, block[:, columns])
        start += len(block)
    return samples


def aggregate_case_values(
    values: ArrayLike,
    *,
    statistic: Statistic,
    undefined: UndefinedRule,
    worst: float | None = None,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Aggregate:
    """Mean or median of per-case values (``nan`` = undefined) with a case-bootstrap interval."""
    raw = np.asarray(values, dtype=np.float64)
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError("values must be a non-empty one-dimensional array")
    if np.isinf(raw).any():
        raise ValueError("case values must be finite or nan (undefined)")
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    _check_bootstrap_args(n_resamples, confidence)
    kept, columns = _resolve_undefined(raw, undefined, worst)
    fn = _STATISTICS[statistic]
    if kept.size:
        estimate = float(fn(kept, np.ones((1, kept.size)))[0])
        samples = _resample_statistic(kept, columns, fn, n_resamples, seed)
    else:
        estimate, samples = float("nan"), np.full(n_resamples, np.nan)
    low, high = percentile_interval(samples, confidence)
    return Aggregate(
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        n_cases=int(raw.size),
        n_defined=int(np.count_nonzero(~np.isnan(raw))),
        n_resamples=n_resamples,
        seed=seed,
        statistic=statistic,
        method=METHOD,
        confidence=confidence,
        undefined=undefined,
        n_resamples_defined=int(np.count_nonzero(~np.isnan(samples))),
    )


def bootstrap_set_metric(
    fn: SetMetric,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    **params: Any,
) -> Aggregate:
    """A set metric on all cases with a case-bootstrap percentile interval.

    ``fn(y_true, y_pred, weights, **params)`` must return one value per weights row (``nan``
    where undefined); undefined resamples are left out of the interval and counted.
    """
    _check_bootstrap_args(n_resamples, confidence)
    n = len(np.asarray(y_true))
    if n == 0:
        raise ValueError("y_true must hold at least one case")
    estimate = float(_call_set_metric(fn, y_true, y_pred, np.ones((1, n)), params)[0])
    rows = max(1, CHUNK_BYTES // (_BYTES_PER_CASE * n))
    samples = np.empty(n_resamples)
    start = 0
    for block in resample_weights(n, n_resamples, seed, rows):
        samples[start : start + len(block)] = _call_set_metric(fn, y_true, y_pred, block, params)
        start += len(block)
    low, high = percentile_interval(samples, confidence)
    return Aggregate(
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        n_cases=n,
        n_defined=n,
        n_resamples=n_resamples,
        seed=seed,
        statistic="set",
        method=METHOD,
        confidence=confidence,
        undefined="exclude",
        n_resamples_defined=int(np.count_nonzero(~np.isnan(samples))),
    )


def _call_set_metric(
    fn: SetMetric,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    weights: NDArray[np.float64],
    params: dict[str, Any],
) -> NDArray[np.float64]:
    result = np.asarray(fn(y_true, y_pred, weights, **params), dtype=np.float64)
    if result.shape != (weights.shape[0],):
        raise ValueError(f"set metric returned shape {result.shape}, need ({weights.shape[0]},)")
    return result
