"""Weighted ordinal-grading metrics against scikit-learn on expanded resamples, plus E.2 edges."""

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as sk

from evaluation.metrics import classification_ordinal as ordinal
from evaluation.metrics.bootstrap import resample_weights

pytestmark: list[pytest.MarkDecorator] = []

RTOL, ATOL = 1e-12, 1e-12
N_GRADES = 5
REFERABLE = 2


def expand(values, row):
    return np.repeat(values, row.astype(np.int64))


def per_row(reference, y, p, weights):
    out = []
    for row in weights:
        ye, pe = expand(y, row), expand(p, row)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(reference(ye, pe) if ye.size else np.nan)
    return np.array(out, dtype=np.float64)


def kappa(kind):
    return lambda y, p: sk.cohen_kappa_score(y, p, weights=kind, labels=range(N_GRADES))


def referable_auroc(y, p):
    truth = y >= REFERABLE
    return sk.roc_auc_score(truth, p) if np.unique(truth).size == 2 else np.nan


def referable_rate(pos_label):
    return lambda y, p: sk.recall_score(y >= REFERABLE, p >= REFERABLE, pos_label=pos_label,
                                        zero_division=np.nan)


CASES: dict[str, tuple[Callable[..., Any], dict[str, Any], Callable[..., Any]]] = {
    "quadratic_kappa": (ordinal.quadratic_kappa, {"n_grades": N_GRADES}, kappa("quadratic")),
    "linear_kappa": (ordinal.linear_kappa, {"n_grades": N_GRADES}, kappa("linear")),
    "mae_grade": (ordinal.mae_grade, {}, sk.mean_absolute_error),
    "referable_sensitivity": (ordinal.referable_sensitivity, {"referable_from": REFERABLE},
                              referable_rate(True)),
    "referable_specificity": (ordinal.referable_specificity, {"referable_from": REFERABLE},
                              referable_rate(False)),
    "referable_auroc": (ordinal.referable_auroc, {"referable_from": REFERABLE}, referable_auroc),
}


@st.composite
def graded_sets(draw, max_n=20):
    n = draw(st.integers(0, max_n))
    grade = st.integers(0, N_GRADES - 1)
    truth = draw(arrays(np.int64, n, elements=grade))
    predicted = draw(arrays(np.int64, n, elements=grade))
    weights = draw(arrays(np.int64, (3, n), elements=st.integers(0, 3)))
    weights[0] = 1
    return truth, predicted, weights


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=100, deadline=None)
@given(data=graded_sets())
def test_matches_library_on_expanded_resamples(name, data):
    metric, params, reference = CASES[name]
    y, p, w = data
    np.testing.assert_allclose(metric(y, p, w, **params), per_row(reference, y, p, w),
                               rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_library_on_bootstrap_resamples(name):
    metric, params, reference = CASES[name]
    rng = np.random.default_rng(7)
    y = rng.integers(0, N_GRADES, 80)
    p = np.clip(y + rng.integers(-1, 2, 80), 0, N_GRADES - 1)
    weights = np.vstack(list(resample_weights(y.size, 100, seed=3, chunk=100)))
    np.testing.assert_allclose(metric(y, p, weights, **params), per_row(reference, y, p, weights),
                               rtol=RTOL, atol=ATOL)


def test_kappa_with_one_category_in_both_is_undefined():
    y = np.array([2, 2, 2])
    w = np.ones((1, 3))
    assert np.isnan(ordinal.quadratic_kappa(y, y, w, n_grades=N_GRADES)[0])
    assert np.isnan(ordinal.linear_kappa(y, y, w, n_grades=N_GRADES)[0])
    assert ordinal.quadratic_kappa(y, np.array([2, 2, 3]), w, n_grades=N_GRADES)[0] == 0.0


def test_kappa_uses_every_grade_not_only_those_observed():
    y, p, w = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), np.ones((1, 4))
    full = ordinal.quadratic_kappa(y, p, w, n_grades=3)[0]
    assert full == pytest.approx(sk.cohen_kappa_score(y, p, weights="quadratic", labels=range(3)))


def test_integral_float_grades_are_accepted():
    y, p, w = np.array([0.0, 1.0, 2.0]), np.array([0, 1, 1]), np.ones((1, 3))
    assert ordinal.mae_grade(y, p, w)[0] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda w: ordinal.quadratic_kappa([0, 5], [0, 1], w, n_grades=5), r"\[0, 5\)"),
        (lambda w: ordinal.quadratic_kappa([0, 1], [0, 1], w, n_grades=1), "n_grades"),
        (lambda w: ordinal.mae_grade([0, 1.5], [0, 1], w), "integer grades"),
        (lambda w: ordinal.mae_grade([0, -1], [0, 1], w), "integer grades"),
        (lambda w: ordinal.referable_auroc([0, 1], [0, 1], w, referable_from=0), "referable"),
    ],
)
def test_invalid_inputs_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.ones((1, 2)))
