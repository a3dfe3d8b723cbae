"""The JSON-safe result documents of the binary catalogue."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from evaluation.metrics.catalogue import (
    METRIC_DIRECTIONS,
    METRIC_LABELS,
    PRIMARY,
    per_case_binary,
    score_binary_classification,
)


LABELS = [0, 0, 1, 1, 0, 1, 0, 1]
SCORES = [0.1, 0.6, 0.5, 0.9, 0.3, 0.2, 0.5, 0.7]


def test_document_shape_and_values():
    result = score_binary_classification(LABELS, SCORES, n_resamples=300, seed=1)
    metrics = result["metrics"]
    assert set(metrics) == {"auroc", "sensitivity", "specificity", "accuracy"}
    assert set(metrics["auroc"]) >= {
        "value",
        "ci_low",
        "ci_high",
        "n_resamples",
        "n_defined",
        "method",
    }
    assert metrics["auroc"]["value"] == pytest.approx(roc_auc_score(LABELS, SCORES), abs=1e-12)
    assert metrics["auroc"]["ci_low"] <= metrics["auroc"]["value"] <= metrics["auroc"]["ci_high"]
    assert metrics["auroc"]["n_resamples"] == 300
    assert 0 < metrics["auroc"]["n_defined"] <= 300
    # threshold 0.5 inclusive: tp=3 (0.5, 0.9, 0.7), fn=1 (0.2), fp=2 (0.6, 0.5), tn=2
    assert metrics["sensitivity"]["value"] == 0.75
    assert metrics["specificity"]["value"] == 0.5
    assert metrics["accuracy"]["value"] == 0.625
    assert result["confusion"] == {"tp": 3, "fp": 2, "tn": 2, "fn": 1}
    assert (result["n_cases"], result["n_positive"]) == (8, 4)
    assert result["versions"] == {"numpy": np.__version__, "engine": "1"}


def test_document_is_strict_json():
    result = score_binary_classification(LABELS, SCORES, n_resamples=50)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_nan_becomes_none():
    result = score_binary_classification([1, 1, 1], [0.2, 0.7, 0.9], n_resamples=50)
    json.dumps(result, allow_nan=False)
    auroc = result["metrics"]["auroc"]
    assert auroc["value"] is None and auroc["ci_low"] is None and auroc["ci_high"] is None
    assert auroc["n_defined"] == 0
    assert result["metrics"]["specificity"]["value"] is None
    assert result["metrics"]["sensitivity"]["value"] == pytest.approx(2 / 3)


def test_numpy_inputs_give_plain_types():
    labels = np.array(LABELS, dtype=np.int64)
    scores = np.array(SCORES, dtype=np.float32)
    result = score_binary_classification(labels, scores, n_resamples=20)
    json.dumps(result, allow_nan=False)
    assert type(result["n_cases"]) is int and type(result["n_positive"]) is int


def test_per_case():
    assert per_case_binary(1, 0.5) == {"score": 0.5, "label": 1, "predicted": 1, "correct": True}
    assert per_case_binary(1, 0.49) == {"score": 0.49, "label": 1, "predicted": 0, "correct": False}
    row = per_case_binary(np.int64(0), np.float64(0.8), threshold=0.9)
    assert row == {"score": 0.8, "label": 0, "predicted": 0, "correct": True}
    assert json.loads(json.dumps(row)) == row
    with pytest.raises(ValueError):
        per_case_binary(2, 0.5)
    with pytest.raises(ValueError):
        per_case_binary(1, float("nan"))


def test_catalogue_constants():
    assert PRIMARY in METRIC_DIRECTIONS
    assert set(METRIC_LABELS) == set(METRIC_DIRECTIONS)
    assert set(METRIC_DIRECTIONS.values()) <= {"higher", "lower"}
