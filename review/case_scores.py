"""How wrong one prediction is on one case, and how much predictions disagree: the numbers the
review queues sort by. Pure functions of stored per-case rows (`CaseResult.values`/`prediction`).

`case_loss` is 0 for a right answer and 1 for the most wrong one, per task:
- a case metric of the spec with known bounds (the primary one if it is a case metric, else the
  first): its value mapped from (best, worst) onto (0, 1); an undefined value counts as 1;
- binary classification: |score − truth| (1 for a confident miss);
- multi-class: 1 − the probability given to the true label (0/1 by `correct` without them);
- detection: 1 − hits / (lesions + detections − hits), a Jaccard-style overlap of the matches;
- otherwise None (nothing to sort by).

`predicted_label` is what a label task predicted (for "do the algorithms disagree"); None for
tasks without labels, where the spread of the losses stands in.
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any

from evaluation.metrics import registry
from evaluation.metrics.spec import MetricEntry, Spec

LABEL_TASKS = frozenset({"binary-classification", "multiclass-classification"})
WRONG = 0.5  # a loss at or above this counts as disagreeing with the ground truth


def loss_metric(spec: Spec) -> MetricEntry | None:
    """The case metric whose value is the loss, if the spec has one with known bounds."""
    entries = [spec.primary, *spec.metrics]
    for entry in entries:
        if entry.kind == "case" and entry.direction in ("higher", "lower") \
                and registry.get(entry.name).bounds is not None:
            return entry
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _clip(value: float) -> float:
    """Into [0, 1], rounded so that equal losses compare equal (1 - 0.8 == 0.2)."""
    return round(min(max(value, 0.0), 1.0), 9)


def case_loss(spec: Spec, values: dict[str, Any], prediction: Any = None,
              *, metric: MetricEntry | None = None) -> float | None:
    """See the module docstring. `metric` is `loss_metric(spec)`, computed once by callers that
    score many cases."""
    metric = metric if metric is not None else loss_metric(spec)
    if metric is not None:
        bounds = registry.get(metric.name).bounds
        assert bounds is not None
        best, worst = bounds
        value = _number(values.get(metric.key))
        if value is None or best == worst:
            return 1.0
        return _clip((value - best) / (worst - best))
    if spec.task == "binary-classification":
        score, label = _number(values.get("score")), _number(values.get("label"))
        return None if score is None or label is None else _clip(abs(score - label))
    if spec.task == "multiclass-classification":
        probabilities = prediction.get("probabilities") if isinstance(prediction, dict) else None
        truth = values.get("label")
        if isinstance(probabilities, dict) and _number(probabilities.get(truth)) is not None:
            return _clip(1.0 - float(probabilities[truth]))
        correct = values.get("correct")
        return None if correct is None else (0.0 if correct else 1.0)
    if spec.task == "detection":
        lesions, detections, hits = (_number(values.get(k)) for k in ("lesions", "detections",
                                                                       "hits"))
        if lesions is None or detections is None or hits is None:
            return None
        union = lesions + detections - hits
        return 0.0 if union <= 0 else _clip(1.0 - hits / union)
    return None


def predicted_label(spec: Spec, values: dict[str, Any]) -> str | None:
    """The label a label task's prediction amounts to (binary: thresholded as scored)."""
    if spec.task not in LABEL_TASKS or "predicted" not in values:
        return None
    predicted = values["predicted"]
    if spec.task == "binary-classification":
        negative = next((label for label in spec.labels if label != spec.positive_label), "")
        return spec.positive_label if predicted else negative
    return str(predicted)


def truth_label(spec: Spec, values: dict[str, Any]) -> str | None:
    """The ground-truth label a label task's per-case row was scored against."""
    if spec.task == "binary-classification" and values.get("label") in (0, 1):
        return predicted_label(spec, {"predicted": values["label"]})
    if spec.task == "multiclass-classification" and isinstance(values.get("label"), str):
        return str(values["label"])
    return None


def disagreement(labels: Sequence[str | None], losses: Sequence[float | None]) -> float:
    """0 when the algorithms agree, up to 1: for labels, the share outside the largest group
    (scaled so that an even split of two is 1); without labels, the spread of the losses."""
    known = [label for label in labels if label is not None]
    if len(known) >= 2:
        top = Counter(known).most_common(1)[0][1]
        return min((len(known) - top) / (len(known) / 2), 1.0)
    scored = [loss for loss in losses if loss is not None]
    return max(scored) - min(scored) if len(scored) >= 2 else 0.0


def disagrees_with_truth(loss: float | None) -> bool | None:
    return None if loss is None else loss >= WRONG
