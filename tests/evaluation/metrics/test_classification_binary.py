"""Weighted binary set metrics against scikit-learn on expanded resamples, and E.1 edge rules."""

import itertools
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
from evaluation.metrics import classification_binary as binary
from evaluation.metrics.bootstrap import resample_weights

pytestmark: list[pytest.MarkDecorator] = []

RTOL, ATOL = 1e-12, 1e-12
GRID = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]


def expand(values, row):
    return np.repeat(values, row.astype(np.int64), axis=0)


def per_row(reference, y, s, weights):
    """The reference on each row's expanded resample; nan for an empty resample."""
    out = []
    for row in weights:
        ye, se = expand(y, row), expand(s, row)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(reference(ye, se) if ye.size else np.nan)
    return np.array(out, dtype=np.float64)


def two_classes(y):
    return np.unique(y).size == 2


def ref_auroc(y, s):
    return sk.roc_auc_score(y, s) if two_classes(y) else np.nan


def ref_ap(y, s):
    return sk.average_precision_score(y, s) if y.sum() else np.nan


def at(threshold, reference, **kwargs):
    return lambda y, s: reference(y, (s >= threshold).astype(int), **kwargs)


def ref_mcc(y, predicted):
    if not (two_classes(y) and two_classes(predicted)):
        return np.nan
    return sk.matthews_corrcoef(y, predicted)


def ref_sens_at_spec(target):
    """Brute force over every roc_curve threshold: the best TPR whose TN/N reaches ``target``."""

    def reference(y, s):
        if not two_classes(y):
            return np.nan
        fpr, tpr, _thresholds = sk.roc_curve(y, s, drop_intermediate=False)
        negatives = np.count_nonzero(y == 0)
        spec = (negatives - np.round(fpr * negatives)) / negatives
        return max(t for t, sp in zip(tpr, spec, strict=True) if sp >= target)

    return reference


def ref_ece(bins):
    """Straightforward loop over (lo, hi] bins, a score of 0 counted in the first bin."""

    def reference(y, s):
        edges = np.linspace(0.0, 1.0, bins + 1)
        total = 0.0
        for index, (lo, hi) in enumerate(itertools.pairwise(edges)):
            inside = (s > lo) & (s <= hi) | ((s == 0) & (index == 0))
            if inside.any():
                total += inside.sum() * abs(y[inside].mean() - s[inside].mean())
        return total / y.size

    return reference


THRESHOLD = 0.5
CASES: dict[str, tuple[Callable[..., Any], dict[str, Any], Callable[..., Any]]] = {
    "auroc": (clf.binary.auroc, {}, ref_auroc),
    "average_precision": (binary.average_precision, {}, ref_ap),
    "sensitivity": (binary.sensitivity, {"threshold": THRESHOLD},
                    at(THRESHOLD, sk.recall_score, zero_division=np.nan)),
    "specificity": (binary.specificity, {"threshold": THRESHOLD},
                    at(THRESHOLD, sk.recall_score, pos_label=0, zero_division=np.nan)),
    "precision": (binary.precision, {"threshold": THRESHOLD},
                  at(THRESHOLD, sk.precision_score, zero_division=np.nan)),
    "f1": (binary.f1, {"threshold": THRESHOLD}, at(THRESHOLD, sk.f1_score, zero_division=np.nan)),
    "accuracy": (clf.accuracy, {"threshold": THRESHOLD}, at(THRESHOLD, sk.accuracy_score)),
    "balanced_accuracy": (clf.balanced_accuracy, {"threshold": THRESHOLD},
                          at(THRESHOLD, sk.balanced_accuracy_score)),
    "mcc": (clf.mcc, {"threshold": THRESHOLD}, at(THRESHOLD, ref_mcc)),
    "sens@spec0.9": (binary.sensitivity_at_specificity, {"specificity": 0.9},
                     ref_sens_at_spec(0.9)),
    "sens@spec0.5": (binary.sensitivity_at_specificity, {"specificity": 0.5},
                     ref_sens_at_spec(0.5)),
    "sens@spec1": (binary.sensitivity_at_specificity, {"specificity": 1.0},
                   ref_sens_at_spec(1.0)),
    "brier": (binary.brier, {}, lambda y, s: sk.brier_score_loss(y, s, labels=[0, 1])),
    "log_loss": (binary.log_loss, {}, lambda y, s: sk.log_loss(y, s, labels=[0, 1])),
    "ece15": (binary.ece, {}, ref_ece(15)),
    "ece4": (binary.ece, {"bins": 4}, ref_ece(4)),
}


@st.composite
def binary_sets(draw, max_n=20):
    """Labels, scores (often tied or 0/1) and 3 weight rows, the first all ones."""
    n = draw(st.integers(0, max_n))
    labels = draw(arrays(np.int8, n, elements=st.integers(0, 1)))
    score = st.sampled_from(GRID) | st.floats(0.0, 1.0)
    scores = draw(arrays(np.float64, n, elements=score))
    weights = draw(arrays(np.int64, (3, n), elements=st.integers(0, 3)))
    weights[0] = 1
    return labels, scores, weights


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=80, deadline=None)
@given(data=binary_sets())
def test_matches_library_on_expanded_resamples(name, data):
    metric, params, reference = CASES[name]
    y, s, w = data
    np.testing.assert_allclose(metric(y, s, w, **params), per_row(reference, y, s, w),
                               rtol=RTOL, atol=ATOL)


def case_set(n, seed, positive_rate=0.3):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_rate).astype(np.int8)
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return y, np.round(scores, 2)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_library_on_bootstrap_resamples(name):
    metric, params, reference = CASES[name]
    y, s = case_set(60, seed=3)
    weights = np.vstack(list(resample_weights(y.size, 120, seed=11, chunk=50)))
    np.testing.assert_allclose(metric(y, s, weights, **params), per_row(reference, y, s, weights),
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", list(CASES))
def test_blocks_of_rows_give_the_same_values(name):
    metric, params, _reference = CASES[name]
    y, s = case_set(40, seed=5)
    weights = np.vstack(list(resample_weights(y.size, 30, seed=2, chunk=30)))
    whole = metric(y, s, weights, **params)
    blocks = np.concatenate([metric(y, s, weights[i : i + 7], **params) for i in range(0, 30, 7)])
    np.testing.assert_array_equal(whole, blocks)


def test_estimate_on_all_cases_is_the_library_value():
    y, s = case_set(200, seed=9)
    ones = np.ones((1, y.size))
    assert binary.auroc(y, s, ones)[0] == pytest.approx(sk.roc_auc_score(y, s), abs=1e-15)
    assert binary.average_precision(y, s, ones)[0] == pytest.approx(
        sk.average_precision_score(y, s), abs=1e-12)


ONE_CLASS_POS = (np.array([1, 1, 1]), np.array([0.2, 0.6, 0.9]))
ONE_CLASS_NEG = (np.array([0, 0, 0]), np.array([0.2, 0.6, 0.9]))
ONES = np.ones((1, 3))


def test_auroc_single_class_is_undefined():
    assert np.isnan(binary.auroc(*ONE_CLASS_POS, ONES)[0])
    assert np.isnan(binary.auroc(*ONE_CLASS_NEG, ONES)[0])


def test_ap_without_positives_is_undefined_where_sklearn_says_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sk.average_precision_score(*ONE_CLASS_NEG) == 0.0
    assert np.isnan(binary.average_precision(*ONE_CLASS_NEG, ONES)[0])
    assert binary.average_precision(*ONE_CLASS_POS, ONES)[0] == 1.0


def test_mcc_single_label_is_undefined_even_when_all_correct():
    y = np.array([1, 1, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sk.matthews_corrcoef(y, y) == 0.0
    assert np.isnan(clf.mcc(y, np.full(4, 0.9), np.ones((1, 4)))[0])


def test_zero_denominators_are_undefined():
    y, s = ONE_CLASS_NEG
    assert np.isnan(binary.sensitivity(y, s, ONES)[0])
    assert binary.specificity(y, s, ONES)[0] == pytest.approx(1 / 3)
    assert np.isnan(binary.precision(y, np.zeros(3), ONES)[0])
    assert np.isnan(binary.f1(y, np.zeros(3), ONES)[0])
    assert np.isnan(binary.specificity(*ONE_CLASS_POS, ONES)[0])
    assert np.isnan(binary.sensitivity_at_specificity(*ONE_CLASS_POS, ONES, specificity=0.9)[0])
    assert np.isnan(binary.sensitivity_at_specificity(*ONE_CLASS_NEG, ONES, specificity=0.9)[0])


def test_balanced_accuracy_excludes_the_absent_class():
    y, s = ONE_CLASS_POS
    assert clf.balanced_accuracy(y, s, ONES)[0] == pytest.approx(2 / 3)


def test_empty_resample_is_undefined_everywhere():
    y, s = case_set(10, seed=1)
    zero = np.zeros((1, 10))
    for name, (metric, params, _reference) in CASES.items():
        assert np.isnan(metric(y, s, zero, **params)[0]), name


def test_sensitivity_at_specificity_picks_the_lowest_eligible_threshold():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.25, 0.5, 0.7, 0.9])
    w = np.ones((1, 8))
    # spec >= 0.75 allows t = 0.5 (TN = 3 of 4), where 3 of 4 positives are found.
    assert binary.sensitivity_at_specificity(y, s, w, specificity=0.75)[0] == 0.75
    assert binary.sensitivity_at_specificity(y, s, w, specificity=1.0)[0] == 0.25
    assert binary.sensitivity_at_specificity(y, s, w, specificity=0.0)[0] == 1.0


def test_log_loss_clips_certain_mistakes_like_sklearn():
    y, s, w = np.array([1, 0]), np.array([0.0, 1.0]), np.ones((1, 2))
    assert binary.log_loss(y, s, w)[0] == pytest.approx(sk.log_loss(y, s, labels=[0, 1]),
                                                        rel=1e-15)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: binary.auroc([0, 2], [0.1, 0.2], np.ones((1, 2))), "labels 0 and 1"),
        (lambda: binary.auroc([0, 1], [0.1, np.nan], np.ones((1, 2))), "finite"),
        (lambda: binary.auroc([0, 1], [0.1, 0.2], np.ones(2)), "shape"),
        (lambda: binary.auroc([0, 1], [0.1, 0.2], -np.ones((1, 2))), "non-negative"),
        (lambda: binary.brier([0, 1], [0.1, 1.2], np.ones((1, 2))), r"\[0, 1\]"),
        (lambda: binary.ece([0, 1], [0.1, 0.2], np.ones((1, 2)), bins=0), "bins"),
        (lambda: binary.sensitivity_at_specificity([0, 1], [0.1, 0.2], np.ones((1, 2)),
                                                   specificity=1.5), "specificity"),
        (lambda: binary.sensitivity([0, 1], [0.1, 0.2], np.ones((1, 2)), threshold=np.nan),
         "threshold"),
    ],
)
def test_invalid_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()
