"""Multiclass and multilabel set metrics, weighted by case multiplicities (pure numpy).

Contracts (see docs/metrics-engine.md):
- Multiclass: ``y_true`` (n,) class indices in ``[0, K)``, ``y_pred`` (n, K) finite
  probabilities whose rows sum to 1 ± 1e-6. The predicted class is the argmax, ties to the
  lowest index. Each row of ``weights`` (B, n) gives the metric of its expanded resample.
- Classes absent from a resample are excluded where a per-class value would be undefined:
  balanced accuracy averages recall over classes present in the truth; macro F1 averages F1
  over classes present in the truth or the predictions; one-vs-rest AUROC averages over
  classes with a defined AUROC (present, and not the only class present).
- MCC is Gorodkin's R_K; ``nan`` when all truths or all predictions fall in one class
  (sklearn says 0).
- Multilabel: ``y_true`` (n, L) in {0, 1}, ``y_pred`` (n, L) finite scores. Per-label values are
  (B, L); macro values average the defined labels (``nan`` when none), and the matching
  ``*_defined_count`` gives how many labels that was per row.
"""

from __future__ import annotations

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.binary import validate_binary
from evaluation.metrics.classification_binary import (
    PROBABILITY,
    weighted_auroc,
    weighted_average_precision,
)
from evaluation.metrics.registry import register
from evaluation.metrics.weighted import Floats, as_weights, group_sums, ratio

MULTICLASS = {"multiclass-classification"}
MULTILABEL = {"multilabel-classification"}
SUM_TOLERANCE = 1e-6


def class_indices(y_true: ArrayLike, n_classes: int) -> NDArray[np.intp]:
    """``y_true`` as (n,) integer indices in ``[0, n_classes)``, or ``ValueError``."""
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError("y_true must be one-dimensional")
    if labels.size and (not np.isin(labels, np.arange(n_classes)).all()):
        raise ValueError(f"y_true must hold integer class indices in [0, {n_classes})")
    return labels.astype(np.intp)


def multiclass_inputs(
    y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike
) -> tuple[NDArray[np.intp], Floats, Floats]:
    """Validated (class indices, (n, K) probabilities, weights), or ``ValueError``."""
    probs = np.asarray(y_pred, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError("y_pred must have shape (n, K) with K >= 2 classes")
    labels = class_indices(y_true, probs.shape[1])
    if labels.size != probs.shape[0]:
        raise ValueError(f"y_true has {labels.size} cases but y_pred has {probs.shape[0]}")
    if not np.isfinite(probs).all():
        raise ValueError("y_pred must be finite")
    if (np.abs(probs.sum(axis=1) - 1.0) > SUM_TOLERANCE).any():
        raise ValueError("each row of y_pred must sum to 1 (± 1e-6)")
    return labels, probs, as_weights(weights, labels.size)


def confusion_matrix(
    y_true: ArrayLike, y_pred_labels: ArrayLike, n_classes: int, weights: ArrayLike
) -> Floats:
    """(B, K, K) weighted confusion matrices: ``[b, i, j]`` = weight of truth i predicted j."""
    truth = class_indices(y_true, n_classes)
    predicted = class_indices(y_pred_labels, n_classes)
    if truth.shape != predicted.shape:
        raise ValueError("y_true and y_pred_labels must have the same length")
    w = as_weights(weights, truth.size)
    codes = truth * n_classes + predicted
    return group_sums(w, codes, n_classes**2).reshape(w.shape[0], n_classes, n_classes)


def predicted_confusion(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Confusion matrices of the argmax predictions (ties to the lowest class index)."""
    labels, probs, w = multiclass_inputs(y_true, y_pred, weights)
    return confusion_matrix(labels, probs.argmax(axis=1), probs.shape[1], w)


def multiclass_accuracy(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Share of cases whose argmax is the true class."""
    cm = predicted_confusion(y_true, y_pred, weights)
    return ratio(np.trace(cm, axis1=1, axis2=2), cm.sum(axis=(1, 2)))


def multiclass_balanced_accuracy(
    y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike
) -> Floats:
    """Mean recall over the classes present in the truth."""
    cm = predicted_confusion(y_true, y_pred, weights)
    recall = ratio(np.diagonal(cm, axis1=1, axis2=2), cm.sum(axis=2))
    return _mean_defined(recall)


def _mean_defined(values: Floats) -> Floats:
    """Row means over the non-nan entries of (B, K); ``nan`` where none."""
    defined = ~np.isnan(values)
    return ratio(np.where(defined, values, 0.0).sum(axis=1), defined.sum(axis=1))


@register("macro_f1", kind="set", tasks=MULTICLASS, direction="higher", bounds=PROBABILITY,
          label=_("Macro-averaged F1 score"))
def macro_f1(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean per-class F1 = 2·TP / (2·TP + FP + FN) over classes in the truth or predictions."""
    cm = predicted_confusion(y_true, y_pred, weights)
    diagonal = np.diagonal(cm, axis1=1, axis2=2)
    return _mean_defined(ratio(2 * diagonal, cm.sum(axis=2) + cm.sum(axis=1)))


@register("micro_f1", kind="set", tasks=MULTICLASS, direction="higher", bounds=PROBABILITY,
          label=_("Micro-averaged F1 score"))
def micro_f1(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Micro F1; with one predicted class per case it equals accuracy."""
    return multiclass_accuracy(y_true, y_pred, weights)


def gorodkin_mcc(cm: Floats) -> Floats:
    """R_K of (B, K, K) confusion matrices: (c·s - Σ p_k t_k) / √((s² - Σ p_k²)(s² - Σ t_k²))."""
    correct = np.trace(cm, axis1=1, axis2=2)
    total = cm.sum(axis=(1, 2))
    true_sums, pred_sums = cm.sum(axis=2), cm.sum(axis=1)
    covariance = correct * total - (true_sums * pred_sums).sum(axis=1)
    pred_spread = total**2 - (pred_sums**2).sum(axis=1)
    true_spread = total**2 - (true_sums**2).sum(axis=1)
    return ratio(covariance, np.sqrt(pred_spread * true_spread))


def multiclass_mcc(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Gorodkin's multiclass MCC of the argmax predictions."""
    return gorodkin_mcc(predicted_confusion(y_true, y_pred, weights))


def ovr_auroc(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """(B, K) one-vs-rest AUROC of each class's probability; ``nan`` where undefined."""
    labels, probs, w = multiclass_inputs(y_true, y_pred, weights)
    columns = [weighted_auroc((labels == k).astype(np.int8), probs[:, k], w)
               for k in range(probs.shape[1])]
    return np.stack(columns, axis=1)


def auroc_ovr_defined_count(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """How many classes had a defined one-vs-rest AUROC in each row."""
    return (~np.isnan(ovr_auroc(y_true, y_pred, weights))).sum(axis=1).astype(np.float64)


@register("auroc_ovr_macro", kind="set", tasks=MULTICLASS, direction="higher",
          bounds=PROBABILITY, label=_("One-vs-rest macro AUROC"),
          defined_count=auroc_ovr_defined_count)
def auroc_ovr_macro(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean one-vs-rest AUROC over classes with a defined value (sklearn's when all present)."""
    return _mean_defined(ovr_auroc(y_true, y_pred, weights))


@register("top_k_accuracy", kind="set", tasks=MULTICLASS, direction="higher",
          bounds=PROBABILITY, label=_("Top-k accuracy"), params={"k": int})
def top_k_accuracy(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                   k: int) -> Floats:
    """Share of cases whose true class is among the k highest probabilities.

    Ties rank the lower class index first (so k=1 equals accuracy); sklearn's
    ``top_k_accuracy_score`` ranks tied higher indices first, and agrees without ties.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError("k must be a positive integer")
    labels, probs, w = multiclass_inputs(y_true, y_pred, weights)
    true_score = probs[np.arange(labels.size), labels][:, None]
    lower_index = np.arange(probs.shape[1])[None, :] < labels[:, None]
    ahead = (probs > true_score) | ((probs == true_score) & lower_index)
    hits = (ahead.sum(axis=1) < k).astype(np.float64)
    return ratio(w @ hits, w.sum(axis=1))


def multilabel_inputs(
    y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike
) -> tuple[NDArray[np.int8], Floats, Floats]:
    """Validated ((n, L) labels, (n, L) scores, weights), or ``ValueError``."""
    labels, scores = np.asarray(y_true), np.asarray(y_pred, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != scores.shape:
        raise ValueError("y_true and y_pred must both have shape (n, L)")
    labels_1d, scores_1d = validate_binary(labels.ravel(), scores.ravel())
    return (labels_1d.reshape(labels.shape), scores_1d.reshape(scores.shape),
            as_weights(weights, labels.shape[0]))


def per_label_auroc(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """(B, L) AUROC of each label; ``nan`` where a label holds one class."""
    labels, scores, w = multilabel_inputs(y_true, y_pred, weights)
    return np.stack([weighted_auroc(labels[:, j], scores[:, j], w)
                     for j in range(labels.shape[1])], axis=1).reshape(w.shape[0], -1)


def per_label_average_precision(
    y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike
) -> Floats:
    """(B, L) average precision of each label; ``nan`` where a label has no positives."""
    labels, scores, w = multilabel_inputs(y_true, y_pred, weights)
    return np.stack([weighted_average_precision(labels[:, j], scores[:, j], w)
                     for j in range(labels.shape[1])], axis=1).reshape(w.shape[0], -1)


def _defined_count(values: Floats) -> Floats:
    return (~np.isnan(values)).sum(axis=1).astype(np.float64)


def macro_auroc_defined_count(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """How many labels had a defined AUROC in each row."""
    return _defined_count(per_label_auroc(y_true, y_pred, weights))


def macro_average_precision_defined_count(
    y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike
) -> Floats:
    """How many labels had a defined average precision in each row."""
    return _defined_count(per_label_average_precision(y_true, y_pred, weights))


@register("macro_auroc", kind="set", tasks=MULTILABEL, direction="higher", bounds=PROBABILITY,
          label=_("Macro AUROC over labels"), defined_count=macro_auroc_defined_count)
def macro_auroc(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean AUROC over the labels where it is defined; ``nan`` when none is."""
    return _mean_defined(per_label_auroc(y_true, y_pred, weights))


@register("macro_average_precision", kind="set", tasks=MULTILABEL, direction="higher",
          bounds=PROBABILITY, label=_("Macro average precision over labels"),
          defined_count=macro_average_precision_defined_count)
def macro_average_precision(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike) -> Floats:
    """Mean average precision over the labels with positives; ``nan`` when none has."""
    return _mean_defined(per_label_average_precision(y_true, y_pred, weights))
