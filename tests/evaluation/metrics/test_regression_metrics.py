"""Weighted regression metrics against scikit-learn/scipy/numpy on expanded resamples, plus E.2."""

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from sklearn import metrics as sk

from evaluation.metrics import regression
from evaluation.metrics.bootstrap import resample_weights
from evaluation.metrics.weighted import average_ranks

pytestmark: list[pytest.MarkDecorator] = []

RTOL, ATOL = 1e-10, 1e-12


def expand(values, row):
    return np.repeat(values, row.astype(np.int64))


def per_row(reference, y, p, weights):
    """The reference on each expanded resample; nan below 3 cases (the E.2 rule)."""
    out = []
    for row in weights:
        ye, pe = expand(y, row), expand(p, row)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(reference(ye, pe) if ye.size >= 3 else np.nan)
    return np.array(out, dtype=np.float64)


def bland_altman(y, p):
    difference = p - y
    return difference.mean(), difference.std(ddof=1)


CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "mae": (regression.mae, sk.mean_absolute_error),
    "rmse": (regression.rmse, sk.root_mean_squared_error),
    "pearson": (regression.pearson, lambda y, p: stats.pearsonr(y, p).statistic),
    "spearman": (regression.spearman, lambda y, p: stats.spearmanr(y, p).statistic),
    "bland_altman_bias": (regression.bland_altman_bias, lambda y, p: bland_altman(y, p)[0]),
    "bland_altman_loa_low": (regression.bland_altman_loa_low,
                             lambda y, p: bland_altman(y, p)[0] - 1.96 * bland_altman(y, p)[1]),
    "bland_altman_loa_high": (regression.bland_altman_loa_high,
                              lambda y, p: bland_altman(y, p)[0] + 1.96 * bland_altman(y, p)[1]),
}

VALUE = st.integers(-20, 20).map(lambda k: k / 4) | st.floats(-100, 100, allow_subnormal=False)


@st.composite
def paired_sets(draw, max_n=15):
    n = draw(st.integers(0, max_n))
    truth = draw(arrays(np.float64, n, elements=VALUE))
    predicted = draw(arrays(np.float64, n, elements=VALUE))
    weights = draw(arrays(np.int64, (3, n), elements=st.integers(0, 3)))
    weights[0] = 1
    return truth, predicted, weights


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=100, deadline=None)
@given(data=paired_sets())
def test_matches_library_on_expanded_resamples(name, data):
    metric, reference = CASES[name]
    y, p, w = data
    np.testing.assert_allclose(metric(y, p, w), per_row(reference, y, p, w), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_library_on_bootstrap_resamples(name):
    metric, reference = CASES[name]
    rng = np.random.default_rng(0)
    y = np.round(rng.normal(50, 10, 70), 1)
    p = np.round(y + rng.normal(1, 5, 70), 0)
    weights = np.vstack(list(resample_weights(y.size, 100, seed=8, chunk=100)))
    np.testing.assert_allclose(metric(y, p, weights), per_row(reference, y, p, weights),
                               rtol=RTOL, atol=ATOL)


@settings(max_examples=100, deadline=None)
@given(data=paired_sets())
def test_average_ranks_are_exactly_scipy_ranks_of_the_expanded_resample(data):
    y, _p, w = data
    ranks = average_ranks(w.astype(np.float64), y)
    for row, row_ranks in zip(w, ranks, strict=True):
        np.testing.assert_array_equal(expand(row_ranks, row), stats.rankdata(expand(y, row)))


@pytest.mark.parametrize("name", list(CASES))
def test_fewer_than_three_cases_is_undefined(name):
    metric, _reference = CASES[name]
    y, p = np.array([1.0, 2.0, 4.0]), np.array([1.5, 2.0, 3.0])
    values = metric(y, p, np.array([[1, 1, 0], [0, 2, 0], [1, 1, 1], [0, 3, 0]]))
    assert np.isnan(values[:2]).all()
    assert not np.isnan(values[2])
    if name in ("pearson", "spearman"):
        assert np.isnan(values[3])  # one value drawn three times: constant


def test_constant_input_is_undefined_for_correlations():
    y, p, w = np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 0.1), np.ones((1, 4))
    assert np.isnan(regression.pearson(y, p, w)[0])
    assert np.isnan(regression.spearman(y, p, w)[0])
    assert regression.mae(y, p, w)[0] == pytest.approx(2.4)


def test_bland_altman_difference_is_prediction_minus_truth():
    y, p, w = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 5.0]), np.ones((1, 3))
    assert regression.bland_altman_bias(y, p, w)[0] == pytest.approx(4 / 3)


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [([1.0, np.inf, 2.0], [1.0, 2.0, 3.0], "finite"), ([1.0, 2.0], [1.0, 2.0, 3.0], "same length")],
)
def test_invalid_inputs_raise(y, p, message):
    with pytest.raises(ValueError, match=message):
        regression.mae(y, p, np.ones((1, len(y))))
