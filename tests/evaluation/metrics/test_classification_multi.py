"""Weighted multiclass and multilabel set metrics against scikit-learn on expanded resamples."""

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as sk

from evaluation.metrics import classification as clf
from evaluation.metrics import classification_multi as multi
from evaluation.metrics.bootstrap import resample_weights

pytestmark: list[pytest.MarkDecorator] = []

RTOL, ATOL = 1e-12, 1e-12


def expand(values, row):
    return np.repeat(values, row.astype(np.int64), axis=0)


def per_row(reference, y, p, weights):
    out = []
    for row in weights:
        ye, pe = expand(y, row), expand(p, row)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(reference(ye, pe) if ye.shape[0] else np.nan)
    return np.array(out, dtype=np.float64)


def argmax(p):
    return p.argmax(axis=1)


def ref_mcc(y, p):
    if np.unique(y).size < 2 or np.unique(argmax(p)).size < 2:
        return np.nan
    return sk.matthews_corrcoef(y, argmax(p))


def ref_ovr_macro(y, p):
    n_classes = p.shape[1]
    if n_classes > 2 and np.unique(y).size == n_classes:
        return sk.roc_auc_score(y, p, multi_class="ovr", average="macro",
                                labels=range(n_classes))
    per_class = [sk.roc_auc_score(y == k, p[:, k]) if 0 < (y == k).sum() < y.size else np.nan
                 for k in range(n_classes)]
    return np.nan if np.isnan(per_class).all() else np.nanmean(per_class)


def ref_top_k(k):
    """sklearn where no row has tied probabilities; otherwise an explicit tie-aware sort."""

    def reference(y, p):
        tie_free = all(np.unique(row).size == row.size for row in p)
        if tie_free:
            scores = p[:, 1] if p.shape[1] == 2 else p  # sklearn wants 1-D binary scores
            return sk.top_k_accuracy_score(y, scores, k=k, labels=range(p.shape[1]))
        hits = [label in sorted(range(row.size), key=lambda j: (-row[j], j))[:k]
                for label, row in zip(y, p, strict=True)]
        return np.mean(hits)

    return reference


CASES: dict[str, tuple[Callable[..., Any], dict[str, Any], Callable[..., Any]]] = {
    "accuracy": (clf.accuracy, {}, lambda y, p: sk.accuracy_score(y, argmax(p))),
    "balanced_accuracy": (clf.balanced_accuracy, {},
                          lambda y, p: sk.balanced_accuracy_score(y, argmax(p))),
    "macro_f1": (multi.macro_f1, {}, lambda y, p: sk.f1_score(y, argmax(p), average="macro")),
    "micro_f1": (multi.micro_f1, {}, lambda y, p: sk.f1_score(y, argmax(p), average="micro")),
    "mcc": (clf.mcc, {}, ref_mcc),
    "auroc_ovr_macro": (multi.auroc_ovr_macro, {}, ref_ovr_macro),
    "top_1": (multi.top_k_accuracy, {"k": 1}, ref_top_k(1)),
    "top_2": (multi.top_k_accuracy, {"k": 2}, ref_top_k(2)),
}


@st.composite
def multiclass_sets(draw, max_n=16):
    """Labels, probability rows (small-integer ratios: many ties) and 3 weight rows."""
    n_classes = draw(st.integers(2, 4))
    n = draw(st.integers(0, max_n))
    labels = draw(arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))
    raw = draw(arrays(np.int64, (n, n_classes), elements=st.integers(0, 4)))
    raw[:, 0] += raw.sum(axis=1) == 0
    weights = draw(arrays(np.int64, (3, n), elements=st.integers(0, 3)))
    weights[0] = 1
    return labels, raw / raw.sum(axis=1, keepdims=True), weights


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=80, deadline=None)
@given(data=multiclass_sets())
def test_multiclass_matches_library_on_expanded_resamples(name, data):
    metric, params, reference = CASES[name]
    y, p, w = data
    np.testing.assert_allclose(metric(y, p, w, **params), per_row(reference, y, p, w),
                               rtol=RTOL, atol=ATOL)


def multiclass_case_set(n, n_classes, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes)) + 1.5 * np.eye(n_classes)[y]
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", list(CASES))
def test_multiclass_matches_library_on_bootstrap_resamples(name):
    metric, params, reference = CASES[name]
    y, p = multiclass_case_set(50, 4, seed=1)
    weights = np.vstack(list(resample_weights(y.size, 80, seed=4, chunk=80)))
    np.testing.assert_allclose(metric(y, p, weights, **params), per_row(reference, y, p, weights),
                               rtol=RTOL, atol=ATOL)


def test_confusion_matrix_matches_sklearn_on_each_resample():
    y, p = multiclass_case_set(30, 3, seed=2)
    predicted = argmax(p)
    weights = np.vstack(list(resample_weights(y.size, 20, seed=0, chunk=20)))
    matrices = multi.confusion_matrix(y, predicted, 3, weights)
    assert matrices.shape == (20, 3, 3)
    for row, matrix in zip(weights, matrices, strict=True):
        expected = sk.confusion_matrix(expand(y, row), expand(predicted, row), labels=range(3))
        np.testing.assert_array_equal(matrix, expected)


def test_argmax_ties_go_to_the_lowest_class():
    y = np.array([0, 1])
    p = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    assert clf.accuracy(y, p, np.ones((1, 2)))[0] == 0.5
    assert multi.top_k_accuracy(y, p, np.array([[1, 0]]), k=1)[0] == 1.0
    assert multi.top_k_accuracy(y, p, np.array([[0, 1]]), k=1)[0] == 0.0


def test_multiclass_mcc_single_label_is_undefined():
    y = np.zeros(4, dtype=int)
    p = np.tile([0.8, 0.1, 0.1], (4, 1))
    assert np.isnan(clf.mcc(y, p, np.ones((1, 4)))[0])


def test_ovr_macro_averages_the_classes_with_a_defined_value():
    y = np.array([0, 0, 1, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    w = np.ones((1, 4))
    assert np.isnan(multi.ovr_auroc(y, p, w)[0, 2])  # class 2 never occurs
    assert multi.auroc_ovr_defined_count(y, p, w)[0] == 2
    expected = np.mean([sk.roc_auc_score(y == k, p[:, k]) for k in (0, 1)])
    assert multi.auroc_ovr_macro(y, p, w)[0] == pytest.approx(expected, abs=1e-15)


def test_threshold_is_refused_for_class_probabilities():
    y, p = multiclass_case_set(5, 3, seed=0)
    with pytest.raises(ValueError, match="threshold"):
        clf.accuracy(y, p, np.ones((1, 5)), threshold=0.5)


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 3], [[0.5, 0.5], [0.5, 0.5]], "class indices"),
        ([0, 1], [[0.5, 0.6], [0.5, 0.5]], "sum to 1"),
        ([0, 1], [0.5, 0.5], "shape"),
        ([0], [[0.5, 0.5], [0.5, 0.5]], "cases"),
    ],
)
def test_invalid_multiclass_inputs_raise(y, p, message):
    with pytest.raises(ValueError, match=message):
        multi.macro_f1(y, p, np.ones((1, len(y))))


ML_CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "per_label_auroc": (multi.per_label_auroc,
                        lambda y, s: sk.roc_auc_score(y, s, average=None)),
    "per_label_average_precision": (
        multi.per_label_average_precision,
        lambda y, s: np.where(y.sum(axis=0) > 0, sk.average_precision_score(y, s, average=None),
                              np.nan)),
}


def per_row_labels(reference, y, s, weights):
    out = []
    for row in weights:
        ye, se = expand(y, row), expand(s, row)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = reference(ye, se) if ye.shape[0] else np.nan
        out.append(np.broadcast_to(value, y.shape[1]))  # sklearn gives a scalar for one label
    return np.array(out, dtype=np.float64)


@st.composite
def multilabel_sets(draw, max_n=14):
    n_labels = draw(st.integers(1, 4))
    n = draw(st.integers(0, max_n))
    labels = draw(arrays(np.int8, (n, n_labels), elements=st.integers(0, 1)))
    scores = draw(arrays(np.float64, (n, n_labels),
                         elements=st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]) | st.floats(0, 1)))
    weights = draw(arrays(np.int64, (3, n), elements=st.integers(0, 3)))
    weights[0] = 1
    return labels, scores, weights


@pytest.mark.parametrize("name", list(ML_CASES))
@settings(max_examples=80, deadline=None)
@given(data=multilabel_sets())
def test_multilabel_per_label_matches_library(name, data):
    metric, reference = ML_CASES[name]
    y, s, w = data
    expected = per_row_labels(reference, y, s, w)
    values = metric(y, s, w)
    assert values.shape == (3, y.shape[1])
    np.testing.assert_allclose(values, expected, rtol=RTOL, atol=ATOL)
    macro = multi.macro_auroc if name == "per_label_auroc" else multi.macro_average_precision
    count = macro.__name__ + "_defined_count"
    defined = (~np.isnan(expected)).sum(axis=1)
    np.testing.assert_array_equal(getattr(multi, count)(y, s, w), defined)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_macro = np.nanmean(expected, axis=1)
    np.testing.assert_allclose(macro(y, s, w), expected_macro, rtol=RTOL, atol=ATOL)


def test_single_class_label_is_excluded_and_counted():
    y = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 1], [0, 0, 0]])
    s = np.array([[0.9, 0.1, 0.2], [0.2, 0.3, 0.8], [0.6, 0.2, 0.4], [0.1, 0.4, 0.5]])
    w = np.ones((1, 4))
    assert np.isnan(multi.per_label_auroc(y, s, w)[0, 1])
    assert multi.macro_auroc_defined_count(y, s, w)[0] == 2
    expected = np.mean([sk.roc_auc_score(y[:, j], s[:, j]) for j in (0, 2)])
    assert multi.macro_auroc(y, s, w)[0] == pytest.approx(expected, abs=1e-15)
    assert np.isnan(multi.macro_auroc(y[:, 1:2], s[:, 1:2], w)[0])
