"""The engine: a spec, the truth and one algorithm's predictions in; per-case values and
aggregates with bootstrap confidence intervals out.

- Case metrics (segmentation) give one value per case; the aggregate is their mean or median with
  a case-bootstrap CI. Undefined values are never dropped silently: `n_defined` reports them and
  the spec's `undefined` rule ("exclude" or "worst") decides.
- Set metrics (classification, regression, detection) are computed on all cases; their CI comes
  from the same case resamples (`bootstrap.resample_weights`, seeded by the spec), so every
  algorithm of a phase is judged on identical resamples and rank stability is a paired bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.metrics import aggregate, registry
from evaluation.metrics.bootstrap import chunk_rows, resample_weights
from evaluation.metrics.formats import CaseData, FormatError
from evaluation.metrics.spec import MetricEntry, Spec

ENGINE_VERSION = "2"


@dataclass(frozen=True)
class MetricResult:
    key: str
    name: str
    kind: str
    direction: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_cases: int
    n_defined: int
    statistic: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Evaluation:
    primary: str
    metrics: dict[str, MetricResult]
    per_case: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": ENGINE_VERSION, "primary": self.primary,
            "metrics": {k: m.as_dict() for k, m in self.metrics.items()},
        }


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _check_aligned(truth: CaseData, prediction: CaseData) -> None:
    if truth.case_ids != prediction.case_ids:
        raise FormatError("truth and predictions cover different cases")


def _segmentation_values(entry: MetricEntry, truth: CaseData, prediction: CaseData) -> np.ndarray:
    from evaluation.metrics.segmentation import SPEC_PARAMS, segmentation_case_metrics

    kwargs = {SPEC_PARAMS[k]: v for k, v in entry.params.items() if k in SPEC_PARAMS}
    values = []
    for i, (ref, pred) in enumerate(zip(truth.values, prediction.values, strict=True)):
        if ref.shape != pred.shape:
            raise FormatError("a predicted mask's shape differs from the reference")
        spacing = truth.spacing[i] if truth.spacing else None
        if spacing is None:
            raise FormatError("a case has no pixel spacing; the spec or manifest must give it")
        classes = entry.classes or tuple(int(c) for c in np.unique(ref) if c > 0) or (1,)
        per_class = segmentation_case_metrics(ref, pred, spacing=tuple(spacing), classes=classes,
                                              metrics=[entry.name], **kwargs)
        values.append(float(np.mean([per_class[c][entry.name] for c in classes])))
    return np.array(values, dtype=np.float64)


def case_values(entry: MetricEntry, truth: CaseData, prediction: CaseData) -> np.ndarray:
    """Per-case values of a case metric (nan where undefined)."""
    definition = registry.get(entry.name)
    if "segmentation" in definition.tasks:
        return _segmentation_values(entry, truth, prediction)
    return np.asarray(definition.fn(truth.values, prediction.values, **entry.params), dtype=float)


def _set_inputs(spec: Spec, entry: MetricEntry, truth: CaseData,
                prediction: CaseData) -> tuple[Any, Any, dict[str, Any]]:
    if spec.task == "detection":
        from evaluation.metrics.detection import match_cases

        spacing = truth.spacing or tuple(spec.spacing_mm for _ in truth.case_ids)
        matches, params = match_cases(truth.values, prediction.values, spacing=spacing,
                                      params=entry.params)
        return matches, None, params
    return truth.values, prediction.values, entry.params


def _set_metric_fn(spec: Spec, entry: MetricEntry, truth: CaseData,
                   prediction: CaseData) -> Callable[[np.ndarray], np.ndarray]:
    definition = registry.get(entry.name)
    y_true, y_pred, params = _set_inputs(spec, entry, truth, prediction)
    if spec.task == "detection":
        return lambda weights: np.asarray(definition.fn(y_true, weights, **params), dtype=float)
    return lambda weights: np.asarray(definition.fn(y_true, y_pred, weights, **params), dtype=float)


def _weight_blocks(spec: Spec, n: int) -> Iterator[np.ndarray]:
    return resample_weights(n, spec.resamples, spec.seed, chunk_rows(n, n))


def _worst(entry: MetricEntry) -> float | None:
    bounds = registry.get(entry.name).bounds
    return None if bounds is None else float(bounds[1])


def resampled(spec: Spec, entry: MetricEntry, truth: CaseData, prediction: CaseData) -> np.ndarray:
    """The metric on each of the spec's resamples, (B,): the same resamples for every algorithm."""
    n = len(truth.case_ids)
    if entry.kind == "case":
        values = case_values(entry, truth, prediction)
        worst = _worst(entry)
        if entry.undefined == "worst" and worst is not None:  # the spec guarantees a worst value
            values = np.where(np.isnan(values), worst, values)
        reducer = aggregate.weighted_mean if entry.statistic == "mean" else aggregate.weighted_median
        defined = ~np.isnan(values)
        return np.concatenate([reducer(values[defined], w[:, defined])
                               for w in _weight_blocks(spec, n)])
    fn = _set_metric_fn(spec, entry, truth, prediction)
    return np.concatenate([fn(w) for w in _weight_blocks(spec, n)])


def _evaluate_metric(spec: Spec, entry: MetricEntry, truth: CaseData, prediction: CaseData,
                     per_case: dict[str, dict[str, float | None]]) -> MetricResult:
    n = len(truth.case_ids)
    if entry.kind == "case":
        values = case_values(entry, truth, prediction)
        for case_id, value in zip(truth.case_ids, values, strict=True):
            per_case.setdefault(case_id, {})[entry.key] = _json_float(value)
        result = aggregate.aggregate_case_values(
            values, statistic=entry.statistic, undefined=entry.undefined,  # type: ignore[arg-type]
            worst=_worst(entry) if entry.undefined == "worst" else None,
            n_resamples=spec.resamples, confidence=spec.confidence, seed=spec.seed)
        n_defined = result.n_defined
    else:
        fn = _set_metric_fn(spec, entry, truth, prediction)
        result = aggregate.bootstrap_set_metric(
            lambda _y, _p, weights: fn(weights), np.zeros(n), np.zeros(n),
            n_resamples=spec.resamples, confidence=spec.confidence, seed=spec.seed)
        n_defined = n
    return MetricResult(
        key=entry.key, name=entry.name, kind=entry.kind, direction=entry.direction,
        value=_json_float(result.estimate), ci_low=_json_float(result.ci_low),
        ci_high=_json_float(result.ci_high), n_cases=n, n_defined=n_defined,
        statistic=entry.statistic if entry.kind == "case" else None,
    )


def evaluate(spec: Spec, truth: CaseData, prediction: CaseData) -> Evaluation:
    """Every metric of the spec with its CI, and the per-case values of case metrics."""
    _check_aligned(truth, prediction)
    per_case: dict[str, dict[str, float | None]] = {}
    metrics = {entry.key: _evaluate_metric(spec, entry, truth, prediction, per_case)
               for entry in spec.metrics}
    return Evaluation(primary=spec.primary.key, metrics=metrics, per_case=per_case)
