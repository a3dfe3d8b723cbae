"""The metric registry: every metric the engine can compute, with what it needs to rank it.

Contracts:
- ``REGISTRY`` maps a unique metric name to its ``MetricDef``. Metric modules add themselves with
  the ``register`` decorator at import time; ``get`` and ``metrics_for`` first import every module
  in ``METRIC_MODULES``, so use them rather than reading ``REGISTRY`` before that.
- A set metric's ``fn(y_true, y_pred, weights, **params)`` takes (B, n) case multiplicities and
  returns (B,) float64, ``nan`` where its edge rule says undefined (docs/metrics-engine.md). A case
  metric's signature is defined by the module that registers it (segmentation, detection).
- ``bounds`` is ``(best, worst)``: the best and the worst value the metric can take, used to score
  undefined values as the worst (``"undefined": "worst"``); ``None`` where the worst is unbounded
  or depends on the data (MAE, log loss), so ``"worst"`` cannot be used.
- ``direction`` says which way is better; ``"none"`` marks descriptive metrics (Bland-Altman
  bias and limits of agreement) that must not be used for ranking.
- ``params`` lists the keyword parameters ``fn`` accepts and their types; defaults, when any, are
  those of ``fn``. ``defined_count``, when set, has ``fn``'s signature and returns (B,) float64:
  how many components (labels) were defined in each row of a macro average.

Adding a metric from another module (then append the module to ``METRIC_MODULES``)::

    from django.utils.translation import gettext_lazy as _
    from evaluation.metrics.registry import register

    @register("dice", kind="case", tasks={"segmentation"}, direction="higher",
              bounds=(1.0, 0.0), label=_("Dice similarity coefficient"),
              params={"label": int})
    def dice(reference, prediction, *, spacing, label): ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

Kind = Literal["set", "case"]
Direction = Literal["higher", "lower", "none"]
TASKS = frozenset(
    {
        "binary-classification",
        "multiclass-classification",
        "multilabel-classification",
        "ordinal-grading",
        "regression",
        "segmentation",
        "detection",
    }
)
METRIC_MODULES: tuple[str, ...] = (
    "evaluation.metrics.classification",
    "evaluation.metrics.regression",
    "evaluation.metrics.segmentation",
    "evaluation.metrics.detection",
    "evaluation.metrics.per_case",
)

MetricFn = TypeVar("MetricFn", bound=Callable[..., Any])


@dataclass(frozen=True)
class MetricDef:
    """One metric: how to compute it and how to read its values."""

    name: str
    kind: Kind
    tasks: frozenset[str]
    direction: Direction
    bounds: tuple[float, float] | None
    params: Mapping[str, type] = field(hash=False)
    label: Any  # a gettext_lazy string
    fn: Callable[..., Any]
    defined_count: Callable[..., Any] | None = None

    @property
    def worst(self) -> float | None:
        """The worst possible value, or ``None`` when unbounded."""
        return None if self.bounds is None else self.bounds[1]


REGISTRY: dict[str, MetricDef] = {}


def register(
    name: str,
    *,
    kind: Kind,
    tasks: Iterable[str],
    direction: Direction,
    bounds: tuple[float, float] | None,
    label: Any,
    params: Mapping[str, type] | None = None,
    defined_count: Callable[..., Any] | None = None,
) -> Callable[[MetricFn], MetricFn]:
    """Decorator adding ``fn`` to ``REGISTRY`` under ``name``; returns ``fn`` unchanged.

    Raises ``ValueError`` for an unknown task or a name already taken by another function.
    """
    task_set = frozenset(tasks)
    if not task_set or not task_set <= TASKS:
        unknown = sorted(task_set - TASKS)
        raise ValueError(f"{name}: unknown tasks {unknown}; known: {sorted(TASKS)}")

    def decorator(fn: MetricFn) -> MetricFn:
        existing = REGISTRY.get(name)
        if existing is not None and _qualified(existing.fn) != _qualified(fn):
            raise ValueError(f"metric {name!r} is already registered by {_qualified(existing.fn)}")
        REGISTRY[name] = MetricDef(
            name=name,
            kind=kind,
            tasks=task_set,
            direction=direction,
            bounds=bounds,
            params=MappingProxyType(dict(params or {})),
            label=label,
            fn=fn,
            defined_count=defined_count,
        )
        return fn

    return decorator


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def load_metric_modules() -> None:
    """Import every module in ``METRIC_MODULES`` (idempotent), filling ``REGISTRY``."""
    for module in METRIC_MODULES:
        importlib.import_module(module)


def get(name: str) -> MetricDef:
    """The metric called ``name``; ``KeyError`` listing the known names otherwise."""
    load_metric_modules()
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown metric {name!r}; known metrics: {known}") from None


def metrics_for(task: str) -> list[MetricDef]:
    """All metrics that apply to ``task``, sorted by name."""
    load_metric_modules()
    return [REGISTRY[name] for name in sorted(REGISTRY) if task in REGISTRY[name].tasks]
