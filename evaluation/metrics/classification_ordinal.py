"""Ordinal-grading set metrics (DR grade, ISUP grade...), weighted by case multiplicities.

Contracts (see docs/metrics-engine.md):
- ``y_true`` and ``y_pred`` are (n,) integer grades (integral floats accepted); ``weights`` (B, n).
  Each row's value is the metric on its expanded resample.
- Weighted kappa always uses the grades ``range(n_grades)`` (sklearn ``labels=range(K)``):
  κ_w = 1 - Σ w_ij O_ij / Σ w_ij E_ij, w_ij = |i - j| (linear) or (i - j)² (quadratic); the
  usual 1/(K-1)^p normalisation cancels. ``nan`` when Σ w E = 0, i.e. truth and prediction sit
  in one and the same grade (sklearn: nan).
- Referable metrics binarise at ``referable_from``: a case is referable when its grade is
  ``>= referable_from``, for the truth and for the prediction. Referable AUROC ranks cases by
  predicted grade (ties ½). Their undefined values are those of the binary metrics.
"""

from __future__ import annotations

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics import classification_binary as binary
from evaluation.metrics.classification_binary import PROBABILITY
from evaluation.metrics.classification_multi import confusion_matrix
from evaluation.metrics.registry import register
from evaluation.metrics.weighted import Floats, as_weights, ratio, weighted_mean

TASK = {"ordinal-grading"}
KAPPA_POWERS = {"linear": 1, "quadratic": 2}


def grades(values: ArrayLike, name: str) -> NDArray[np.intp]:
    """``values`` as (n,) non-negative integer grades, or ``ValueError``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.size and not (np.isfinite(array).all() and (array == np.round(array)).all()
                           and (array >= 0).all()):
        raise ValueError(f"{name} must hold non-negative integer grades")
    return array.astype(np.intp)


def _grade_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    truth, predicted = grades(y_true, "y_true"), grades(y_pred, "y_pred")
    if truth.shape != predicted.shape:
        raise ValueError(f"y_true has {truth.size} cases but y_pred has {predicted.size}")
    return truth, predicted


def weighted_kappa(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                   n_grades: int, power: int) -> Floats:
    """Cohen's kappa with disagreement weights |i - j|^power over grades ``range(n_grades)``."""
    if isinstance(n_grades, bool) or not isinstance(n_grades, int | np.integer) or n_grades < 2:
        raise ValueError("n_grades must be an integer >= 2")
    truth, predicted = _grade_pair(y_true, y_pred)
    observed = confusion_matrix(truth, predicted, int(n_grades), weights)
    index = np.arange(n_grades)
    disagreement = np.abs(index[:, None] - index[None, :]).astype(np.float64) ** power
    total = observed.sum(axis=(1, 2))
    true_sums, pred_sums = observed.sum(axis=2), observed.sum(axis=1)
    expected = ratio(true_sums[:, :, None] * pred_sums[:, None, :], total[:, None, None])
    observed_cost = (disagreement * observed).sum(axis=(1, 2))
    expected_cost = (disagreement * np.nan_to_num(expected)).sum(axis=(1, 2))
    return 1.0 - ratio(observed_cost, expected_cost)


KAPPA_PARAMS = {"n_grades": int}


@register("quadratic_kappa", kind="set", tasks=TASK, direction="higher", bounds=(1.0, -1.0),
          label=_("Quadratic weighted kappa"), params=KAPPA_PARAMS)
def quadratic_kappa(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                    n_grades: int) -> Floats:
    """Quadratic weighted kappa over grades ``range(n_grades)``."""
    return weighted_kappa(y_true, y_pred, weights, n_grades=n_grades, power=2)


@register("linear_kappa", kind="set", tasks=TASK, direction="higher", bounds=(1.0, -1.0),
          label=_("Linear weighted kappa"), params=KAPPA_PARAMS)
def linear_kappa(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                 n_grades: int) -> Floats:
    """Linear weighted kappa over grades ``range(n_grades)``."""
    return weighted_kappa(y_true, y_pred, weights, n_grades=n_grades, power=1)


@register("mae_grade", kind="set", tasks=TASK, direction="lower", bounds=None,
          label=_("Mean absolute grade error"))
def mae_grade(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean |true grade - predicted grade|; ``nan`` on an empty resample."""
    truth, predicted = _grade_pair(y_true, y_pred)
    return weighted_mean(as_weights(weights, truth.size), np.abs(truth - predicted))


def referable(y_true: ArrayLike, y_pred: ArrayLike, referable_from: int
              ) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    """(referable truth in {0, 1}, predicted grades as scores) for the binary metrics."""
    if isinstance(referable_from, bool) or not isinstance(referable_from, int | np.integer) \
            or referable_from < 1:
        raise ValueError("referable_from must be an integer >= 1")
    truth, predicted = _grade_pair(y_true, y_pred)
    return (truth >= referable_from).astype(np.int8), predicted.astype(np.float64)


REFERABLE_PARAMS = {"referable_from": int}


@register("referable_sensitivity", kind="set", tasks=TASK, direction="higher",
          bounds=PROBABILITY, label=_("Referable sensitivity"), params=REFERABLE_PARAMS)
def referable_sensitivity(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                          referable_from: int) -> Floats:
    """Sensitivity for grade >= ``referable_from``; ``nan`` without referable cases."""
    labels, scores = referable(y_true, y_pred, referable_from)
    return binary.sensitivity(labels, scores, weights, threshold=float(referable_from))


@register("referable_specificity", kind="set", tasks=TASK, direction="higher",
          bounds=PROBABILITY, label=_("Referable specificity"), params=REFERABLE_PARAMS)
def referable_specificity(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                          referable_from: int) -> Floats:
    """Specificity for grade >= ``referable_from``; ``nan`` without non-referable cases."""
    labels, scores = referable(y_true, y_pred, referable_from)
    return binary.specificity(labels, scores, weights, threshold=float(referable_from))


@register("referable_auroc", kind="set", tasks=TASK, direction="higher", bounds=PROBABILITY,
          label=_("Referable AUROC"), params=REFERABLE_PARAMS)
def referable_auroc(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                    referable_from: int) -> Floats:
    """AUROC of the predicted grade for referable truth; ``nan`` with one class."""
    labels, scores = referable(y_true, y_pred, referable_from)
    return binary.auroc(labels, scores, weights)
