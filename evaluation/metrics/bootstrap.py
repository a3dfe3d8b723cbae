"""Case-bootstrap confidence interval for AUROC, vectorised (pure numpy, no Django).

Contracts:
- Resampling: ``n_resamples`` resamples of the ``n`` cases with replacement, drawn by
  ``resample_indices`` from ``numpy.random.default_rng(seed)`` as int32 row-major blocks; the
  stream does not depend on the chunk size, so any caller (tests, a scikit-learn oracle) can
  regenerate exactly the same index matrix.
- Each resample's AUROC is the weighted Mann-Whitney statistic (ties count ½), identical to
  ``sklearn.metrics.roc_auc_score`` on ``y[idx], s[idx]`` up to rounding (≤ 1e-12).
- A resample holding a single class is undefined (``nan``) and excluded; ``n_defined`` counts the
  others. The interval is the percentile interval (``numpy.quantile``, linear) of the defined
  values; with none defined, or a single-class input, the estimate and/or bounds are ``nan``.
- Memory is bounded: resamples are processed in chunks of about ``CHUNK_BYTES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.binary import auroc, mann_whitney_auc, tie_groups, validate_binary

CHUNK_BYTES = 64 * 2**20
METHOD = "case-bootstrap-percentile"


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate on all cases plus a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    n_resamples: int
    n_defined: int
    seed: int
    method: str


def resample_indices(
    n: int, n_resamples: int, seed: int, chunk: int
) -> Iterator[NDArray[np.int32]]:
    """Yield blocks of at most ``chunk`` rows of ``n`` case indices drawn with replacement.

    Concatenated, the blocks form the same ``(n_resamples, n)`` matrix whatever ``chunk`` is.
    """
    if n < 1 or n > np.iinfo(np.int32).max:
        raise ValueError(f"need 1 <= n <= 2**31 - 1 cases, got {n}")
    if chunk < 1:
        raise ValueError("chunk must be positive")
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        yield rng.integers(0, n, size=(rows, n), dtype=np.int32)


def chunk_rows(n: int, n_groups: int, budget_bytes: int = CHUNK_BYTES) -> int:
    """Resamples per chunk so that the working arrays stay within about ``budget_bytes``."""
    # int32 draws + int64 keys per case; int64 counts, cumsums and products per tie group.
    bytes_per_resample = 12 * n + 8 * 2 * n_groups * 4
    return max(1, budget_bytes // bytes_per_resample)


def auroc_resample_values(
    y_true: ArrayLike, scores: ArrayLike, *, n_resamples: int = 10_000, seed: int = 0
) -> NDArray[np.float64]:
    """AUROC of each bootstrap resample (``nan`` where a resample holds one class)."""
    labels, values = validate_binary(y_true, scores)
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    out = np.full(n_resamples, np.nan)
    if np.unique(labels).size < 2:
        return out
    group, n_groups = tie_groups(values)
    case_code = 2 * group.astype(np.int64) + labels  # (tie group, class) slot of each case
    rows = chunk_rows(labels.size, n_groups)
    start = 0
    for block in resample_indices(labels.size, n_resamples, seed, rows):
        out[start : start + len(block)] = _block_auroc(case_code[block], n_groups)
        start += len(block)
    return out


def _block_auroc(codes: NDArray[np.int64], n_groups: int) -> NDArray[np.float64]:
    """Weighted Mann-Whitney AUROC for each row of (tie group, class) codes."""
    rows = codes.shape[0]
    slots = 2 * n_groups
    codes += (np.arange(rows, dtype=np.int64) * slots)[:, None]
    counts = np.bincount(codes.ravel(), minlength=rows * slots).reshape(rows, n_groups, 2)
    return mann_whitney_auc(counts[..., 1], counts[..., 0])


def percentile_interval(values: NDArray, confidence: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of the non-nan ``values``; ``nan`` bounds if none."""
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return float(low), float(high)


def auroc_bootstrap(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """AUROC on all cases with a case-bootstrap percentile interval."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")
    samples = auroc_resample_values(y_true, scores, n_resamples=n_resamples, seed=seed)
    low, high = percentile_interval(samples, confidence)
    return BootstrapResult(
        estimate=auroc(y_true, scores),
        low=low,
        high=high,
        n_resamples=n_resamples,
        n_defined=int(np.count_nonzero(~np.isnan(samples))),
        seed=seed,
        method=METHOD,
    )


def resample_weights(
    n: int, n_resamples: int, seed: int, chunk: int
) -> Iterator[NDArray[np.float64]]:
    """Yield (rows, n) multiplicity blocks: how often each case was drawn in each resample.

    Built from the same stream as ``resample_indices`` (same seed -> same resamples), so every
    metric, and every team of a phase, is evaluated on identical resamples.
    """
    for block in resample_indices(n, n_resamples, seed, chunk):
        rows = block.shape[0]
        flat = (np.arange(rows, dtype=np.int64)[:, None] * n + block).ravel()
        yield np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)
