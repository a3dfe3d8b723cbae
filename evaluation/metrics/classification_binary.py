"""Binary-classification set metrics, weighted by case multiplicities (pure numpy).

Contracts (see docs/metrics-engine.md):
- ``metric(y_true, scores, weights, **params) -> (B,)``: ``y_true`` (n,) in {0, 1}, ``scores``
  (n,) finite, ``weights`` (B, n); each row's value equals the metric on the expanded resample
  ``np.repeat(y, w), np.repeat(s, w)``. Vectorised over rows: no Python loop over resamples.
- A case is predicted positive when ``score >= threshold``.
- ``nan`` means undefined: AUROC with one class; AP without positives (sklearn says 0);
  sensitivity without positives; specificity without negatives; precision without predicted
  positives; F1 without positives and predicted positives; MCC when a margin of the confusion
  matrix is zero (sklearn says 0); balanced accuracy with neither class; sensitivity at
  specificity with either class missing; every metric on an empty resample.
- Calibration metrics (Brier, log loss, ECE) require scores in [0, 1].
"""

from __future__ import annotations

from typing import cast

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.binary import mann_whitney_auc, tie_groups, validate_binary
from evaluation.metrics.registry import register
from evaluation.metrics.weighted import Floats, as_weights, group_sums, ratio, weighted_mean

TASK = {"binary-classification"}
PROBABILITY = (1.0, 0.0)  # (best, worst) of a rate in [0, 1]
LOG_LOSS_EPS = float(np.finfo(np.float64).eps)  # scikit-learn >= 1.5 clips to [eps, 1 - eps]


def binary_inputs(
    y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike
) -> tuple[NDArray[np.int8], Floats, Floats]:
    """Validated (labels, scores, weights), or ``ValueError``."""
    labels, values = validate_binary(y_true, scores)
    return labels, values, as_weights(weights, labels.size)


def class_weights_by_score(
    labels: NDArray[np.int8], values: Floats, weights: Floats
) -> tuple[Floats, Floats]:
    """(positive, negative) weight per tie group of scores, groups ascending: two (B, G) arrays."""
    group, n_groups = tie_groups(values)
    sums = group_sums(weights, 2 * group + labels, 2 * n_groups)
    sums = sums.reshape(weights.shape[0], n_groups, 2)
    return sums[..., 1], sums[..., 0]


def weighted_auroc(labels: NDArray[np.int8], values: Floats, weights: Floats) -> Floats:
    """Mann-Whitney AUROC per row (ties count ½) on validated inputs."""
    pos, neg = class_weights_by_score(labels, values, weights)
    # mann_whitney_auc is typed for integer counts; integer-valued float sums are just as exact.
    return mann_whitney_auc(cast(NDArray[np.int64], pos), cast(NDArray[np.int64], neg))


def weighted_average_precision(
    labels: NDArray[np.int8], values: Floats, weights: Floats
) -> Floats:
    """Non-interpolated AP per row on validated inputs: Σ (R_k - R_{k-1}) P_k over thresholds."""
    pos, neg = class_weights_by_score(labels, values, weights)
    pos_desc = pos[:, ::-1]
    true_pos = np.cumsum(pos_desc, axis=1)
    flagged = true_pos + np.cumsum(neg[:, ::-1], axis=1)
    precision = np.divide(true_pos, flagged, out=np.zeros_like(flagged), where=flagged > 0)
    return ratio((pos_desc * precision).sum(axis=1), pos.sum(axis=1))


@register("auroc", kind="set", tasks=TASK, direction="higher", bounds=PROBABILITY,
          label=_("Area under the ROC curve"))
def auroc(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike) -> Floats:
    """P(s⁺ > s⁻) + ½·P(s⁺ = s⁻); ``nan`` when a class is missing."""
    return weighted_auroc(*binary_inputs(y_true, scores, weights))


@register("average_precision", kind="set", tasks=TASK, direction="higher", bounds=PROBABILITY,
          label=_("Average precision"))
def average_precision(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike) -> Floats:
    """sklearn's ``average_precision_score`` (step-wise, not trapezoid); nan without positives."""
    return weighted_average_precision(*binary_inputs(y_true, scores, weights))


def confusion_counts(
    y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, threshold: float
) -> tuple[Floats, Floats, Floats, Floats]:
    """Weighted (tp, fp, tn, fn), each (B,), with ``score >= threshold`` predicted positive."""
    labels, values, w = binary_inputs(y_true, scores, weights)
    if not np.isfinite(threshold):
        raise ValueError("threshold must be finite")
    predicted = values >= threshold
    actual = labels == 1
    cells = np.stack([predicted & actual, predicted & ~actual, ~predicted & ~actual,
                      ~predicted & actual], axis=1)
    tp, fp, tn, fn = (w @ cells.astype(np.float64)).T
    return tp, fp, tn, fn


THRESHOLD_PARAMS = {"threshold": float}


@register("sensitivity", kind="set", tasks=TASK, direction="higher", bounds=PROBABILITY,
          label=_("Sensitivity"), params=THRESHOLD_PARAMS)
def sensitivity(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
                threshold: float = 0.5) -> Floats:
    """TP / (TP + FN); ``nan`` without positives."""
    tp, _fp, _tn, fn = confusion_counts(y_true, scores, weights, threshold)
    return ratio(tp, tp + fn)


@register("specificity", kind="set", tasks=TASK, direction="higher", bounds=PROBABILITY,
          label=_("Specificity"), params=THRESHOLD_PARAMS)
def specificity(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
                threshold: float = 0.5) -> Floats:
    """TN / (TN + FP); ``nan`` without negatives."""
    _tp, fp, tn, _fn = confusion_counts(y_true, scores, weights, threshold)
    return ratio(tn, tn + fp)


@register("precision", kind="set", tasks=TASK, direction="higher", bounds=PROBABILITY,
          label=_("Precision (positive predictive value)"), params=THRESHOLD_PARAMS)
def precision(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
              threshold: float = 0.5) -> Floats:
    """TP / (TP + FP); ``nan`` without predicted positives."""
    tp, fp, _tn, _fn = confusion_counts(y_true, scores, weights, threshold)
    return ratio(tp, tp + fp)


@register("f1", kind="set", tasks=TASK, direction="higher", bounds=PROBABILITY,
          label=_("F1 score"), params=THRESHOLD_PARAMS)
def f1(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
       threshold: float = 0.5) -> Floats:
    """2·TP / (2·TP + FP + FN); ``nan`` without positives and predicted positives."""
    tp, fp, _tn, fn = confusion_counts(y_true, scores, weights, threshold)
    return ratio(2 * tp, 2 * tp + fp + fn)


def binary_accuracy(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
                    threshold: float = 0.5) -> Floats:
    """(TP + TN) / all; ``nan`` on an empty resample."""
    tp, fp, tn, fn = confusion_counts(y_true, scores, weights, threshold)
    return ratio(tp + tn, tp + fp + tn + fn)


def binary_balanced_accuracy(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
                             threshold: float = 0.5) -> Floats:
    """Mean of sensitivity and specificity over the classes present; ``nan`` with none."""
    tp, fp, tn, fn = confusion_counts(y_true, scores, weights, threshold)
    recalls = np.stack([ratio(tp, tp + fn), ratio(tn, tn + fp)])
    present = (~np.isnan(recalls)).sum(axis=0)
    return ratio(np.nansum(recalls, axis=0), present)


def binary_mcc(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
               threshold: float = 0.5) -> Floats:
    """(TP·TN - FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN)); ``nan`` when a factor is zero."""
    tp, fp, tn, fn = confusion_counts(y_true, scores, weights, threshold)
    margins = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return ratio(tp * tn - fp * fn, np.sqrt(margins))


@register("sensitivity_at_specificity", kind="set", tasks=TASK, direction="higher",
          bounds=PROBABILITY, label=_("Sensitivity at a target specificity"),
          params={"specificity": float})
def sensitivity_at_specificity(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *,
                               specificity: float) -> Floats:
    """The highest sensitivity among thresholds whose specificity is at least ``specificity``.

    Candidate thresholds are every distinct score of the resample and +inf (nothing positive,
    specificity 1), with ``score >= t`` positive; a threshold is eligible when ``TN / N`` (one
    float division) is ``>= specificity``. Since lowering the threshold never raises
    specificity nor lowers sensitivity, this is the sensitivity at the lowest eligible
    threshold. ``nan`` when a class is missing.
    """
    if not 0.0 <= specificity <= 1.0:
        raise ValueError("specificity must lie in [0, 1]")
    pos, neg = class_weights_by_score(*binary_inputs(y_true, scores, weights))
    rows = pos.shape[0]
    start = np.zeros((rows, 1))
    true_pos = np.hstack([start, np.cumsum(pos[:, ::-1], axis=1)])
    false_pos = np.hstack([start, np.cumsum(neg[:, ::-1], axis=1)])
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        eligible = (n_neg[:, None] - false_pos) / n_neg[:, None] >= specificity
    best = np.where(eligible, true_pos, 0.0).max(axis=1)
    return np.where(n_neg > 0, ratio(best, n_pos), np.nan)


def probabilities(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike
                  ) -> tuple[NDArray[np.int8], Floats, Floats]:
    """Validated inputs whose scores are probabilities in [0, 1], or ``ValueError``."""
    labels, values, w = binary_inputs(y_true, scores, weights)
    if ((values < 0) | (values > 1)).any():
        raise ValueError("calibration metrics need scores in [0, 1]")
    return labels, values, w


@register("brier", kind="set", tasks=TASK, direction="lower", bounds=(0.0, 1.0),
          label=_("Brier score"))
def brier(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean of (p - y)²."""
    labels, values, w = probabilities(y_true, scores, weights)
    return weighted_mean(w, (values - labels) ** 2)


@register("log_loss", kind="set", tasks=TASK, direction="lower", bounds=None,
          label=_("Log loss"))
def log_loss(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean of -log p(true class), p clipped to [eps, 1 - eps] with eps = float64 epsilon.

    This is scikit-learn 1.9's clipping (``np.finfo(float64).eps``); releases before 1.5 used
    1e-15.
    """
    labels, values, w = probabilities(y_true, scores, weights)
    p_true = np.where(labels == 1, values, 1.0 - values)
    return weighted_mean(w, -np.log(np.clip(p_true, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)))


def ece_bins(values: Floats, bins: int) -> NDArray[np.intp]:
    """Bin of each score: edges ``linspace(0, 1, bins + 1)``, bins ``(lo, hi]``, 0 in the first."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.maximum(np.searchsorted(edges, values, side="left") - 1, 0)


@register("ece", kind="set", tasks=TASK, direction="lower", bounds=(0.0, 1.0),
          label=_("Expected calibration error"), params={"bins": int})
def ece(y_true: ArrayLike, scores: ArrayLike, weights: ArrayLike, *, bins: int = 15) -> Floats:
    """Σ_b (n_b / n)·|mean(y)_b - mean(p)_b| over equal-width bins of the positive-class score.

    Bins are ``(lo, hi]`` on ``linspace(0, 1, bins + 1)`` as in MetricsReloaded ``ece``, except
    that a score of exactly 0 falls in the first bin (MetricsReloaded drops it). Empty bins
    contribute nothing. Equals Σ_b |Σ_{i∈b} (y_i - p_i)| / n.
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError("bins must be a positive integer")
    labels, values, w = probabilities(y_true, scores, weights)
    residual_sums = group_sums(w * (labels - values), ece_bins(values, int(bins)), int(bins))
    return ratio(np.abs(residual_sums).sum(axis=1), w.sum(axis=1))
