"""The binary-classification catalogue: which metrics exist, and the result documents we store.

Contracts:
- ``score_binary_classification`` returns a JSON-safe dict (plain ``int``/``float``/``str``/
  ``None``; every ``nan`` becomes ``None``) with AUROC and its case-bootstrap interval, and
  sensitivity, specificity and accuracy at the pre-registered ``threshold``.
- ``per_case_binary`` describes one case the same way (positive when ``score >= threshold``).
- ``PRIMARY`` is the ranking metric; ``METRIC_DIRECTIONS`` says which way is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.utils.translation import gettext_lazy as _

from evaluation.metrics.binary import (
    accuracy,
    confusion_at,
    sensitivity,
    specificity,
    validate_binary,
)
from evaluation.metrics.bootstrap import auroc_bootstrap

ENGINE_VERSION = "1"
PRIMARY = "auroc"
METRIC_DIRECTIONS = {
    "auroc": "higher",
    "sensitivity": "higher",
    "specificity": "higher",
    "accuracy": "higher",
}
METRIC_LABELS = {
    "auroc": _("Area under the ROC curve"),
    "sensitivity": _("Sensitivity"),
    "specificity": _("Specificity"),
    "accuracy": _("Accuracy"),
}


def json_float(value: float) -> float | None:
    """``float(value)``, or ``None`` for nan/inf (JSON has neither)."""
    number = float(value)
    return number if math.isfinite(number) else None


def score_binary_classification(
    y_true: Sequence[int],
    scores: Sequence[float],
    *,
    threshold: float = 0.5,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Aggregate metrics for one submission over all cases of a phase."""
    labels, values = validate_binary(y_true, scores)
    boot = auroc_bootstrap(
        labels, values, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    tp, fp, tn, fn = confusion_at(labels, values, threshold)
    return {
        "metrics": {
            "auroc": {
                "value": json_float(boot.estimate),
                "ci_low": json_float(boot.low),
                "ci_high": json_float(boot.high),
                "confidence": confidence,
                "n_resamples": boot.n_resamples,
                "n_defined": boot.n_defined,
                "seed": boot.seed,
                "method": boot.method,
            },
            "sensitivity": {"value": json_float(sensitivity(tp, fn))},
            "specificity": {"value": json_float(specificity(tn, fp))},
            "accuracy": {"value": json_float(accuracy(tp, fp, tn, fn))},
        },
        "threshold": float(threshold),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        "n_cases": int(labels.size),
        "n_positive": int(np.count_nonzero(labels)),
        "versions": {"numpy": np.__version__, "engine": ENGINE_VERSION},
    }


def per_case_binary(y_true_i: int, score_i: float, threshold: float = 0.5) -> dict[str, Any]:
    """One case's row: its score, label, thresholded prediction and whether that was right."""
    labels, values = validate_binary([y_true_i], [score_i])
    label = int(labels[0])
    predicted = int(values[0] >= threshold)
    return {
        "score": float(values[0]),
        "label": label,
        "predicted": predicted,
        "correct": predicted == label,
    }
