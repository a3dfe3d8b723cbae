"""The metric registry: lookup, registration rules, and the set-metric shape contract."""

import numpy as np
import pytest

from evaluation.metrics import registry
from evaluation.metrics.registry import MetricDef, get, metrics_for, register

pytestmark: list[pytest.MarkDecorator] = []

N = 12
RNG = np.random.default_rng(0)
SAMPLE_PARAMS = {"threshold": 0.5, "specificity": 0.9, "bins": 10, "k": 2, "n_grades": 4,
                 "referable_from": 2}


def _probabilities(n, k):
    raw = RNG.random((n, k))
    return raw / raw.sum(axis=1, keepdims=True)


SAMPLES = {
    "binary-classification": (RNG.integers(0, 2, N), RNG.random(N)),
    "multiclass-classification": (RNG.integers(0, 3, N), _probabilities(N, 3)),
    "multilabel-classification": (RNG.integers(0, 2, (N, 3)), RNG.random((N, 3))),
    "ordinal-grading": (RNG.integers(0, 4, N), RNG.integers(0, 4, N)),
    "regression": (RNG.normal(size=N), RNG.normal(size=N)),
}
OWN_NAMES = {
    "binary-classification": {
        "auroc", "average_precision", "sensitivity", "specificity", "precision", "f1",
        "accuracy", "balanced_accuracy", "mcc", "sensitivity_at_specificity", "brier",
        "log_loss", "ece"},
    "multiclass-classification": {
        "accuracy", "balanced_accuracy", "macro_f1", "micro_f1", "mcc", "auroc_ovr_macro",
        "top_k_accuracy"},
    "multilabel-classification": {"macro_auroc", "macro_average_precision"},
    "ordinal-grading": {
        "quadratic_kappa", "linear_kappa", "mae_grade", "referable_sensitivity",
        "referable_specificity", "referable_auroc"},
    "regression": {
        "mae", "rmse", "pearson", "spearman", "bland_altman_bias", "bland_altman_loa_low",
        "bland_altman_loa_high"},
}


@pytest.mark.parametrize("task", list(OWN_NAMES))
def test_every_task_has_its_metrics(task):
    assert {metric.name for metric in metrics_for(task)} >= OWN_NAMES[task]


@pytest.mark.parametrize(("task", "name"),
                         [(task, name) for task, names in OWN_NAMES.items() for name in names])
def test_set_metrics_return_one_float_per_row(task, name):
    metric = get(name)
    y, p = SAMPLES[task]
    params = {key: SAMPLE_PARAMS[key] for key in metric.params}
    if task == "multiclass-classification":
        params.pop("threshold", None)
    weights = np.vstack([np.ones(N), RNG.multinomial(N, np.full(N, 1 / N), size=4)])
    values = metric.fn(y, p, weights, **params)
    assert values.shape == (5,) and values.dtype == np.float64
    assert not np.isinf(values).any()
    assert metric.kind == "set" and task in metric.tasks
    assert str(metric.label)
    if metric.defined_count is not None:
        counts = metric.defined_count(y, p, weights)
        assert counts.shape == (5,) and (counts >= 0).all()


@pytest.mark.parametrize("name", sorted(set().union(*OWN_NAMES.values())))
def test_bounds_agree_with_direction(name):
    metric = get(name)
    if metric.bounds is None:
        return
    best, worst = metric.bounds
    assert (best > worst) == (metric.direction == "higher")
    assert metric.worst == worst


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="auroc") as excinfo:
        get("no-such-metric")
    assert "quadratic_kappa" in str(excinfo.value)


def test_register_adds_a_metric_and_refuses_a_second_owner(monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", {})

    @register("toy", kind="case", tasks={"segmentation"}, direction="higher",
              bounds=(1.0, 0.0), label="Toy", params={"label": int})
    def toy(reference, prediction):
        return 1.0

    assert registry.REGISTRY["toy"] == MetricDef(
        name="toy", kind="case", tasks=frozenset({"segmentation"}), direction="higher",
        bounds=(1.0, 0.0), params={"label": int}, label="Toy", fn=toy)
    with pytest.raises(TypeError):
        registry.REGISTRY["toy"].params["extra"] = float  # type: ignore[index]

    with pytest.raises(ValueError, match="already registered"):
        register("toy", kind="case", tasks={"segmentation"}, direction="higher",
                 bounds=None, label="Other")(lambda reference, prediction: 0.0)


def test_register_refuses_unknown_tasks():
    with pytest.raises(ValueError, match="unknown tasks"):
        register("x", kind="set", tasks={"captioning"}, direction="higher", bounds=None,
                 label="X")
