"""Metrics-engine benchmark: vectorised AUROC bootstrap vs a scikit-learn loop (DESIGN §7).

Row ``auroc-bootstrap-10k-n1000``: ours = ``auroc_bootstrap`` with n = 1,000 cases and
B = 10,000 resamples; reference = ``sklearn.metrics.roc_auc_score`` over the SAME resample
indices. To keep the run short the reference loop is timed over the first 1,000 resamples and
extrapolated by a factor of 10; those 1,000 values are asserted equal to ours to 1e-12.
Target: ours at most 1/40 of the reference (ratio = ours / reference ≤ 0.025).

Run: ``.venv/bin/python benchmarks/bench_metrics.py`` from the repository root.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

N_CASES = 1_000
N_RESAMPLES = 10_000
N_REFERENCE = 1_000  # resamples actually run through scikit-learn
SEED = 0
TARGET_RATIO = 1 / 40


def case_set(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels, continuous scores (no ties: the most tie groups, the slowest case)."""
    rng = np.random.default_rng(2024)
    labels = rng.integers(0, 2, size=n)
    return labels, rng.normal(size=n) + labels


def best_time(function, repeats: int = 3) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)


def sklearn_loop(labels: np.ndarray, scores: np.ndarray, n_resamples: int) -> np.ndarray:
    from evaluation.metrics.bootstrap import resample_indices

    values = []
    for block in resample_indices(len(labels), n_resamples, SEED, chunk=n_resamples):
        for rows in block:
            values.append(roc_auc_score(labels[rows], scores[rows]))
    return np.array(values)


def bench_auroc_bootstrap() -> tuple[str, float, float]:
    from evaluation.metrics.bootstrap import auroc_bootstrap, auroc_resample_values

    labels, scores = case_set(N_CASES)
    auroc_bootstrap(labels, scores, n_resamples=100, seed=SEED)  # warm-up
    ours = best_time(lambda: auroc_bootstrap(labels, scores, n_resamples=N_RESAMPLES, seed=SEED))

    start = time.perf_counter()
    reference_values = sklearn_loop(labels, scores, N_REFERENCE)
    reference = (time.perf_counter() - start) * (N_RESAMPLES / N_REFERENCE)

    ours_values = auroc_resample_values(labels, scores, n_resamples=N_REFERENCE, seed=SEED)
    worst = float(np.max(np.abs(ours_values - reference_values)))
    assert worst <= 1e-12, f"bootstrap values differ from scikit-learn by {worst:.3g}"
    # Reference extrapolated from 1,000 resamples (times 10).
    return "auroc-bootstrap-10k-n1000", ours, reference


def run() -> list[tuple[str, float, float]]:
    """Rows of (name, ours_s, reference_s)."""
    return [bench_auroc_bootstrap()]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for name, ours, reference in run():
        print(f"{name}: ours={ours:.3g}s reference={reference:.3g}s ratio={ours / reference:.3g}")
    print(f"(reference extrapolated from {N_REFERENCE:,} resamples; target ratio ≤ {TARGET_RATIO})")
