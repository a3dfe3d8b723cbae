"""Weighted mean/median against numpy on expanded samples; bootstrap aggregates against loops."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import accuracy_score

from evaluation.metrics.aggregate import (
    aggregate_case_values,
    bootstrap_set_metric,
    weighted_mean,
    weighted_median,
)
from evaluation.metrics.bootstrap import resample_indices

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database

B = 300

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def values_and_weights(draw):
    n = draw(st.integers(min_value=1, max_value=12))
    rows = draw(st.integers(min_value=1, max_value=4))
    values = draw(arrays(np.float64, n, elements=finite))
    weights = draw(arrays(np.int64, (rows, n), elements=st.integers(0, 4)))
    return values, weights


def index_matrix(n, n_resamples, seed):
    return np.vstack(list(resample_indices(n, n_resamples, seed, chunk=n_resamples)))


@settings(deadline=None)
@given(values_and_weights())
def test_weighted_median_equals_numpy_median_of_expanded_sample(case):
    values, weights = case
    got = weighted_median(values, weights)
    for row, w in enumerate(weights):
        if w.sum() == 0:
            assert math.isnan(got[row])
        else:
            assert got[row] == np.median(np.repeat(values, w))


@settings(deadline=None)
@given(values_and_weights())
def test_weighted_mean_equals_numpy_mean_of_expanded_sample(case):
    values, weights = case
    got = weighted_mean(values, weights)
    for row, w in enumerate(weights):
        if w.sum() == 0:
            assert math.isnan(got[row])
        else:
            assert got[row] == pytest.approx(np.mean(np.repeat(values, w)), rel=1e-12, abs=1e-9)


def test_weighted_median_hand_examples():
    values = np.array([3.0, 1.0, 2.0, 10.0])
    weights = np.array([[1, 1, 1, 0], [0, 2, 2, 0], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 5]])
    got = weighted_median(values, weights)
    np.testing.assert_array_equal(got[:3], [2.0, 1.5, 2.5])
    assert math.isnan(got[3])
    assert got[4] == 10.0


def test_weighted_median_rejects_fractional_weights_and_nan_values():
    with pytest.raises(ValueError, match="whole-number"):
        weighted_median([1.0, 2.0], [[0.5, 1.5]])
    with pytest.raises(ValueError, match="finite"):
        weighted_mean([1.0, np.nan], [[1, 1]])
    with pytest.raises(ValueError, match="shape"):
        weighted_mean([1.0, 2.0], [[1, 1, 1]])


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_aggregate_matches_a_loop_over_the_same_resamples(statistic):
    values = np.random.default_rng(3).random(40)
    result = aggregate_case_values(values, statistic=statistic, undefined="exclude",
                                   n_resamples=B, seed=11)
    reduce = np.mean if statistic == "mean" else np.median
    oracle = np.array([reduce(values[idx]) for idx in index_matrix(40, B, 11)])
    low, high = np.quantile(oracle, [0.025, 0.975])
    assert result.estimate == pytest.approx(reduce(values), rel=1e-12)
    assert result.ci_low == pytest.approx(low, rel=1e-12)
    assert result.ci_high == pytest.approx(high, rel=1e-12)
    assert result.ci_low <= result.estimate <= result.ci_high
    assert (result.n_cases, result.n_defined, result.n_resamples_defined) == (40, 40, B)
    assert result.statistic == statistic
    assert result.method == "case-bootstrap-percentile"


def test_aggregate_is_deterministic_by_seed():
    values = np.random.default_rng(5).random(30)
    first = aggregate_case_values(values, statistic="mean", undefined="exclude",
                                  n_resamples=B, seed=1)
    again = aggregate_case_values(values, statistic="mean", undefined="exclude",
                                  n_resamples=B, seed=1)
    other = aggregate_case_values(values, statistic="mean", undefined="exclude",
                                  n_resamples=B, seed=2)
    assert first == again
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.estimate == other.estimate


def test_exclude_keeps_the_defined_cases_each_resample_drew():
    values = np.array([np.nan, 0.2, 0.4, np.nan, 0.9])
    result = aggregate_case_values(values, statistic="median", undefined="exclude",
                                   n_resamples=B, seed=4)
    medians = []
    for idx in index_matrix(5, B, 4):
        drawn = values[idx]
        drawn = drawn[~np.isnan(drawn)]
        medians.append(np.median(drawn) if drawn.size else np.nan)
    oracle = np.array(medians)
    defined = oracle[~np.isnan(oracle)]
    assert 0 < defined.size < B  # some resamples drew only undefined cases
    assert result.estimate == np.nanmedian(values)
    assert (result.n_cases, result.n_defined) == (5, 3)
    assert result.n_resamples_defined == defined.size
    assert result.ci_low == pytest.approx(np.quantile(defined, 0.025), rel=1e-12)
    assert result.ci_high == pytest.approx(np.quantile(defined, 0.975), rel=1e-12)


def test_worst_scores_undefined_cases_with_the_bound():
    values = np.array([0.8, np.nan, 0.6, 0.7])
    result = aggregate_case_values(values, statistic="mean", undefined="worst", worst=0.0,
                                   n_resamples=B, seed=0)
    assert result.estimate == pytest.approx(np.mean([0.8, 0.0, 0.6, 0.7]), rel=1e-12)
    assert result.n_defined == 3
    assert result.n_resamples_defined == B
    assert result.undefined == "worst"


def test_undefined_rules_are_enforced():
    values = [0.5, np.nan]
    with pytest.raises(ValueError, match="worst"):
        aggregate_case_values(values, statistic="mean", undefined="worst")
    with pytest.raises(ValueError, match="worst"):
        aggregate_case_values(values, statistic="mean", undefined="exclude", worst=0.0)
    with pytest.raises(ValueError, match="undefined"):
        aggregate_case_values(values, statistic="mean", undefined="drop")
    with pytest.raises(ValueError, match="statistic"):
        aggregate_case_values(values, statistic="mode", undefined="exclude")
    with pytest.raises(ValueError, match="finite"):
        aggregate_case_values([0.5, np.inf], statistic="mean", undefined="exclude")


def test_all_undefined_gives_nan_with_honest_counts():
    result = aggregate_case_values([np.nan, np.nan], statistic="mean", undefined="exclude",
                                   n_resamples=50)
    assert math.isnan(result.estimate) and math.isnan(result.ci_low)
    assert (result.n_cases, result.n_defined, result.n_resamples_defined) == (2, 0, 0)


def weighted_accuracy(y_true, y_pred, weights, threshold=0.5):
    hits = (np.asarray(y_pred) >= threshold) == np.asarray(y_true).astype(bool)
    return weights @ hits / weights.sum(axis=1)


def test_set_metric_bootstrap_matches_sklearn_on_expanded_resamples():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 60)
    p = rng.random(60)
    result = bootstrap_set_metric(weighted_accuracy, y, p, n_resamples=B, seed=9, threshold=0.3)
    oracle = [accuracy_score(y[idx], p[idx] >= 0.3) for idx in index_matrix(60, B, 9)]
    low, high = np.quantile(oracle, [0.025, 0.975])
    assert result.estimate == pytest.approx(accuracy_score(y, p >= 0.3), rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-12)
    assert result.statistic == "set"
    assert result.n_resamples_defined == B


def test_set_metric_counts_undefined_resamples_and_checks_shape():
    def positives_share_of_first_case(y_true, y_pred, weights):
        return np.where(weights[:, 0] > 0, 1.0, np.nan)

    result = bootstrap_set_metric(positives_share_of_first_case, [0, 1, 1], [0.1, 0.2, 0.3],
                                  n_resamples=B, seed=0)
    drew_first = sum(0 in idx for idx in index_matrix(3, B, 0))
    assert result.n_resamples_defined == drew_first < B
    with pytest.raises(ValueError, match="shape"):
        bootstrap_set_metric(lambda t, p, w: np.zeros(2), [0, 1], [0.1, 0.2], n_resamples=5)
