"""Classification set metrics: one import registers them all, and the shared-name metrics.

Contracts:
- Importing this module registers every binary, multiclass, multilabel and ordinal metric
  (``classification_binary``, ``classification_multi``, ``classification_ordinal``).
- ``accuracy``, ``balanced_accuracy`` and ``mcc`` serve binary and multiclass tasks under one
  name: a (n,) ``y_pred`` is a binary score (positive when ``>= threshold``, default 0.5), a
  (n, K) ``y_pred`` holds class probabilities (argmax, ties to the lowest index), for which
  passing a ``threshold`` is a ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.utils.translation import gettext_lazy as _
from numpy.typing import ArrayLike

from evaluation.metrics import classification_binary as binary
from evaluation.metrics import classification_multi as multi
from evaluation.metrics import classification_ordinal as ordinal
from evaluation.metrics.registry import register
from evaluation.metrics.weighted import Floats

__all__ = ["accuracy", "balanced_accuracy", "binary", "mcc", "multi", "ordinal"]

TASKS = {"binary-classification", "multiclass-classification"}
PARAMS = {"threshold": float}

Metric = Callable[..., Floats]


def _dispatch(binary_fn: Metric, multiclass_fn: Metric, y_true: ArrayLike, y_pred: ArrayLike,
              weights: ArrayLike, threshold: float | None) -> Floats:
    if np.ndim(y_pred) == 2:
        if threshold is not None:
            raise ValueError("threshold applies to binary scores, not to class probabilities")
        return multiclass_fn(y_true, y_pred, weights)
    return binary_fn(y_true, y_pred, weights, threshold=0.5 if threshold is None else threshold)


@register("accuracy", kind="set", tasks=TASKS, direction="higher", bounds=(1.0, 0.0),
          label=_("Accuracy"), params=PARAMS)
def accuracy(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
             threshold: float | None = None) -> Floats:
    """Share of correctly classified cases."""
    return _dispatch(binary.binary_accuracy, multi.multiclass_accuracy,
                     y_true, y_pred, weights, threshold)


@register("balanced_accuracy", kind="set", tasks=TASKS, direction="higher", bounds=(1.0, 0.0),
          label=_("Balanced accuracy"), params=PARAMS)
def balanced_accuracy(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
                      threshold: float | None = None) -> Floats:
    """Mean recall over the classes present in the truth; ``nan`` with none."""
    return _dispatch(binary.binary_balanced_accuracy, multi.multiclass_balanced_accuracy,
                     y_true, y_pred, weights, threshold)


@register("mcc", kind="set", tasks=TASKS, direction="higher", bounds=(1.0, -1.0),
          label=_("Matthews correlation coefficient"), params=PARAMS)
def mcc(y_true: ArrayLike, y_pred: ArrayLike, weights: ArrayLike, *,
        threshold: float | None = None) -> Floats:
    """Matthews correlation (Gorodkin's R_K for K classes); ``nan`` when undefined."""
    return _dispatch(binary.binary_mcc, multi.multiclass_mcc, y_true, y_pred, weights, threshold)
