"""The metric specification a challenge freezes: task, metrics with parameters, bootstrap, ranking.

A spec is plain JSON (documented in docs/metrics-spec.md). `parse_spec` validates it completely and
returns a `Spec`, or raises `SpecError` listing every problem, so organisers see all mistakes at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evaluation.metrics import registry

TASKS = (
    "binary-classification", "multiclass-classification", "multilabel-classification",
    "ordinal-grading", "regression", "segmentation", "detection",
)
RANKING_METHODS = ("aggregate-then-rank", "rank-then-aggregate", "test-then-rank")
STATISTICS = ("mean", "median")
UNDEFINED_RULES = ("exclude", "worst")
_METRIC_KEYS = {"name", "primary", "statistic", "undefined", "label", "classes"}


class SpecError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class MetricEntry:
    """One configured metric. `key` names its column (e.g. `dice` or `nsd@2mm`)."""

    key: str
    name: str
    kind: str
    direction: str
    params: dict[str, Any] = field(default_factory=dict)
    primary: bool = False
    statistic: str = "mean"
    undefined: str = "exclude"
    classes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Spec:
    task: str
    labels: tuple[str, ...]
    positive_label: str | None
    metrics: tuple[MetricEntry, ...]
    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0
    ranking_method: str = "aggregate-then-rank"
    ranking_alpha: float = 0.05
    spacing_mm: tuple[float, ...] | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def primary(self) -> MetricEntry:
        return next(m for m in self.metrics if m.primary)


def _is_a(value: Any, expected: type) -> bool:
    """JSON types: an integer is a valid float; a boolean is never a number."""
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def _metric_entry(item: Any, task: str, problems: list[str]) -> MetricEntry | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        problems.append("each metric must be an object with a \"name\"")
        return None
    name = item["name"]
    try:
        definition = registry.get(name)
    except KeyError:
        problems.append(f"unknown metric {name!r}")
        return None
    if task not in definition.tasks:
        problems.append(f"metric {name!r} does not apply to task {task!r}")
    params = {k: v for k, v in item.items() if k not in _METRIC_KEYS}
    for key, value in params.items():
        expected = definition.params.get(key)
        if expected is None:
            problems.append(f"metric {name!r} has no parameter {key!r}")
        elif not _is_a(value, expected):
            problems.append(f"metric {name!r}: {key!r} must be {expected.__name__}")
        elif expected is float:
            params[key] = float(value)
    statistic = item.get("statistic", "mean")
    undefined = item.get("undefined", "exclude")
    if statistic not in STATISTICS:
        problems.append(f"metric {name!r}: statistic must be one of {', '.join(STATISTICS)}")
    if undefined not in UNDEFINED_RULES:
        problems.append(f"metric {name!r}: undefined must be one of {', '.join(UNDEFINED_RULES)}")
    if undefined == "worst" and definition.bounds is None:
        problems.append(f"metric {name!r} has no worst value; use \"undefined\": \"exclude\"")
    classes = item.get("classes", [])
    if not isinstance(classes, list) or not all(isinstance(c, int) and c > 0 for c in classes):
        problems.append(f"metric {name!r}: classes must be a list of positive label values")
        classes = []
    suffix = "".join(f"@{v}" for k, v in sorted(params.items()))
    return MetricEntry(
        key=item.get("label") or f"{name}{suffix}", name=name, kind=definition.kind,
        direction=definition.direction, params=params, primary=bool(item.get("primary")),
        statistic=statistic, undefined=undefined, classes=tuple(classes),
    )


SPEC_KEYS = frozenset({"task", "labels", "positive_label", "metrics", "bootstrap", "ranking",
                       "spacing_mm"})


def parse_spec(data: Any) -> Spec:
    """Validate a spec (parsed JSON); raise SpecError with every problem found."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise SpecError(["the spec must be a JSON object"])
    unknown = sorted(str(key)[:40] for key in data.keys() - SPEC_KEYS)
    if unknown:
        problems.append(f"unknown keys: {', '.join(unknown[:5])} (allowed: {', '.join(sorted(SPEC_KEYS))})")
    for section in ("bootstrap", "ranking"):
        if not isinstance(data.get(section, {}), dict):
            raise SpecError([f"{section} must be a JSON object"])
    task = data.get("task")
    if task not in TASKS:
        raise SpecError([f"task must be one of {', '.join(TASKS)}"])
    labels = data.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        problems.append("labels must be a list of strings")
        labels = []
    positive = data.get("positive_label")
    if task == "binary-classification" and (len(labels) != 2 or positive not in labels):
        problems.append("a binary task needs two labels and a positive_label among them")
    if task in ("multiclass-classification", "multilabel-classification") and len(labels) < 2:
        problems.append("a classification task needs at least two labels")
    raw_metrics = data.get("metrics")
    if not isinstance(raw_metrics, list) or not raw_metrics:
        problems.append("metrics must be a non-empty list")
        raw_metrics = []
    entries = [e for e in (_metric_entry(m, task, problems) for m in raw_metrics) if e]
    if sum(e.primary for e in entries) != 1:
        problems.append("exactly one metric must be \"primary\": true")
    if any(e.primary and e.direction == "none" for e in entries):
        problems.append("the primary metric must have a direction (Bland-Altman values rank nothing)")
    if len({e.key for e in entries}) != len(entries):
        problems.append("two metrics share a column name; give one a \"label\"")
    bootstrap = data.get("bootstrap", {})
    resamples = bootstrap.get("resamples", 10_000)
    confidence = bootstrap.get("confidence", 0.95)
    seed = bootstrap.get("seed", 0)
    if not isinstance(resamples, int) or not 100 <= resamples <= 100_000:
        problems.append("bootstrap.resamples must be an integer from 100 to 100000")
    if not _is_a(confidence, float) or not 0.5 <= confidence < 1:
        problems.append("bootstrap.confidence must be a number in [0.5, 1)")
    if not isinstance(seed, int) or seed < 0:
        problems.append("bootstrap.seed must be a non-negative integer")
    ranking = data.get("ranking", {})
    method = ranking.get("method", "aggregate-then-rank")
    alpha = ranking.get("alpha", 0.05)
    if method not in RANKING_METHODS:
        problems.append(f"ranking.method must be one of {', '.join(RANKING_METHODS)}")
    primary = next((e for e in entries if e.primary), None)
    if method != "aggregate-then-rank" and primary is not None and primary.kind != "case":
        problems.append(f"ranking {method!r} needs a per-case primary metric")
    if not _is_a(alpha, float) or not 0 < alpha < 0.5:
        problems.append("ranking.alpha must be a number in (0, 0.5)")
    spacing = data.get("spacing_mm")
    if spacing is not None and (not isinstance(spacing, list) or not all(
            isinstance(s, int | float) and s > 0 for s in spacing)):
        problems.append("spacing_mm must be a list of positive numbers")
    if problems:
        raise SpecError(problems)
    return Spec(
        task=task, labels=tuple(labels), positive_label=positive, metrics=tuple(entries),
        resamples=resamples, confidence=confidence, seed=seed, ranking_method=method,
        ranking_alpha=alpha, spacing_mm=tuple(spacing) if spacing else None, raw=data,
    )


def default_binary_spec(labels: list[str], positive_label: str) -> dict[str, Any]:
    """The skeleton's binary spec: AUROC (primary) and sensitivity/specificity/accuracy at 0.5."""
    return {
        "task": "binary-classification", "labels": labels, "positive_label": positive_label,
        "metrics": [
            {"name": "auroc", "primary": True},
            {"name": "sensitivity", "threshold": 0.5, "label": "sensitivity"},
            {"name": "specificity", "threshold": 0.5, "label": "specificity"},
            {"name": "accuracy", "threshold": 0.5, "label": "accuracy"},
        ],
        "bootstrap": {"resamples": 10_000, "confidence": 0.95, "seed": 0},
        "ranking": {"method": "aggregate-then-rank"},
    }
