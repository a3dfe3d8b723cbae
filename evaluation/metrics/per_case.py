"""Per-case (case-kind) metrics for label-like tasks, so that rank-then-aggregate and
test-then-rank (which compare teams case by case) work for classification and regression too.

Contract: ``metric(y_true, y_pred) -> (n,)`` float64, one value per case, no weights: the engine
aggregates case values by the spec's statistic with the case bootstrap.

- ``case_brier`` (binary): ``(score - y)²`` per case, the per-case Brier loss; its mean is the
  Brier score. A proper scoring rule, so it rewards calibrated probabilities.
- ``absolute_error`` (regression, ordinal grading): ``|prediction - truth|`` per case; its mean is
  the MAE.
"""

from __future__ import annotations

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.registry import register


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if truth.ndim != 1 or truth.shape != pred.shape:
        raise ValueError("per-case metrics need two 1-D arrays of the same length")
    if not (np.isfinite(truth).all() and np.isfinite(pred).all()):
        raise ValueError("per-case metrics need finite values")
    return truth, pred


@register("case_brier", kind="case", tasks={"binary-classification"}, direction="lower",
          bounds=(0.0, 1.0), label=_("Per-case Brier loss"))
def case_brier(y_true: ArrayLike, y_pred: ArrayLike) -> NDArray[np.float64]:
    truth, pred = _pair(y_true, y_pred)
    return (pred - truth) ** 2


@register("absolute_error", kind="case", tasks={"regression", "ordinal-grading"},
          direction="lower", bounds=None, label=_("Per-case absolute error"))
def absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> NDArray[np.float64]:
    truth, pred = _pair(y_true, y_pred)
    return np.abs(pred - truth)
