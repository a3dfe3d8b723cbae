"""Paired bootstrap, rank stability (distribution, intervals, Kendall tau), significance map."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import kendalltau

from evaluation.metrics.aggregate import weighted_mean
from evaluation.metrics.bootstrap import resample_weights
from evaluation.metrics.ranking import competition_ranks, pairwise_wilcoxon
from evaluation.metrics.stability import (
    bootstrap_ranks,
    kendall_tau_b,
    paired_bootstrap,
    significance_map,
)

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database

B = 400


def case_values(n=40, seed=0):
    """One team far ahead, two indistinguishable twins, one far behind."""
    rng = np.random.default_rng(seed)
    base = rng.random(n)
    return {
        "twin1": base + rng.normal(0, 0.05, n),
        "leader": base + 1.0,
        "twin2": base + rng.normal(0, 0.05, n),
        "last": base - 1.0,
    }


def stability_of(values, direction="higher", n_resamples=B):
    n = len(next(iter(values.values())))
    per_team = {team: (lambda w, v=v: weighted_mean(v, w)) for team, v in values.items()}
    samples = paired_bootstrap(per_team, n, n_resamples=n_resamples, seed=3)
    estimates = {team: float(np.mean(v)) for team, v in values.items()}
    return samples, bootstrap_ranks(samples, direction=direction, estimates=estimates)


def test_paired_bootstrap_feeds_every_team_the_same_resamples():
    values = case_values(n=15)
    weights = np.vstack(list(resample_weights(15, 50, 7, 50)))
    got = paired_bootstrap({t: (lambda w, v=v: w @ v) for t, v in values.items()},
                           15, n_resamples=50, seed=7, chunk=6)
    for team, v in values.items():
        np.testing.assert_allclose(got[team], weights @ v, rtol=1e-12)


def test_paired_bootstrap_checks_the_shape_of_each_result():
    with pytest.raises(ValueError, match="bad"):
        paired_bootstrap({"bad": lambda w: np.zeros(3)}, 5, n_resamples=10, seed=0)


def test_dominant_team_has_interval_one_and_twins_overlap():
    _, stability = stability_of(case_values())
    assert stability.teams[0] == "leader" and stability.teams[-1] == "last"
    assert stability.rank_interval["leader"] == (1.0, 1.0)
    assert stability.rank_interval["last"] == (4.0, 4.0)
    low1, high1 = stability.rank_interval["twin1"]
    low2, high2 = stability.rank_interval["twin2"]
    assert max(low1, low2) <= min(high1, high2)  # the intervals overlap
    assert (low1, high1) == (2.0, 3.0) and (low2, high2) == (2.0, 3.0)
    assert stability.winner_share == 1.0
    assert stability.n_resamples == stability.n_resamples_used == B
    np.testing.assert_array_equal(stability.rank_counts.sum(axis=1), B)
    assert stability.rank_counts[0].tolist() == [B, 0, 0, 0]


def test_rank_summaries_match_numpy_on_the_rank_matrix():
    samples, stability = stability_of(case_values(n=12, seed=4))
    teams = list(samples)
    ranks = competition_ranks(np.column_stack([samples[t] for t in teams]), "higher")
    for i, team in enumerate(teams):
        assert stability.median_rank[team] == np.median(ranks[:, i])
        low, high = np.quantile(ranks[:, i], [0.025, 0.975])
        assert stability.rank_interval[team] == (low, high)
        row = stability.teams.index(team)
        assert stability.rank_counts[row].tolist() == np.bincount(ranks[:, i] - 1,
                                                                   minlength=4).tolist()
    full = competition_ranks([stability.full_ranks[t] for t in teams], "lower")
    expected_tau = [kendalltau(full, row).statistic for row in ranks]
    np.testing.assert_allclose(stability.kendall_tau, expected_tau, rtol=1e-12)
    assert stability.tau_median == np.median(expected_tau)


@st.composite
def ranking_pairs(draw):
    teams = draw(st.integers(min_value=2, max_value=8))
    full = draw(arrays(np.int64, teams, elements=st.integers(1, 4)))
    rows = draw(arrays(np.int64, (draw(st.integers(1, 5)), teams), elements=st.integers(1, 4)))
    return full, rows


@settings(deadline=None)
@given(ranking_pairs())
def test_vectorised_kendall_tau_b_equals_scipy(case):
    full, rows = case
    got = kendall_tau_b(full, rows)
    for tau, row in zip(got, rows, strict=True):
        expected = kendalltau(full, row).statistic
        if np.isnan(expected):
            assert np.isnan(tau)
        else:
            assert tau == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_kendall_tau_is_one_when_the_ranking_never_changes():
    rng = np.random.default_rng(1)
    values = {f"t{k}": k + rng.random(30) * 0.1 for k in range(5)}
    _, stability = stability_of(values)
    np.testing.assert_allclose(stability.kendall_tau, 1.0, rtol=1e-12)  # scipy's tau-b rounding
    assert stability.tau_median == pytest.approx(1.0, rel=1e-12)
    assert stability.tau_interval == pytest.approx((1.0, 1.0), rel=1e-12)
    assert all(low == high for low, high in stability.rank_interval.values())


def test_lower_is_better_reverses_the_ranking():
    _, stability = stability_of(case_values(), direction="lower")
    assert stability.teams[0] == "last"
    assert stability.full_ranks["leader"] == 4


def test_resamples_without_any_value_are_left_out_and_counted():
    samples = {"a": np.array([1.0, np.nan, 3.0, 1.0]), "b": np.array([2.0, np.nan, 1.0, np.nan])}
    stability = bootstrap_ranks(samples, direction="higher", estimates={"a": 2.0, "b": 1.0})
    assert (stability.n_resamples, stability.n_resamples_used) == (4, 3)
    # used rows: a<b, a>b, b missing -> a's ranks 2, 1, 1; b's 1, 2, 2.
    assert stability.rank_counts.tolist() == [[2, 1], [1, 2]]
    assert stability.winner_share == pytest.approx(2 / 3)


def test_all_resamples_undefined_gives_nan_summaries():
    samples = {"a": np.full(3, np.nan), "b": np.full(3, np.nan)}
    stability = bootstrap_ranks(samples, direction="higher", estimates={"a": 1.0, "b": 0.0})
    assert stability.n_resamples_used == 0
    assert math.isnan(stability.median_rank["a"]) and math.isnan(stability.tau_median)


def test_estimates_must_name_the_same_teams():
    with pytest.raises(ValueError, match="estimates"):
        bootstrap_ranks({"a": np.zeros(3)}, direction="higher", estimates={"b": 0.0})


def test_significance_map_rows_beat_columns():
    values = case_values(n=30)
    sig = significance_map(values, direction="higher", alpha=0.05)
    teams = list(sig.teams)
    leader, last = teams.index("leader"), teams.index("last")
    twin1, twin2 = teams.index("twin1"), teams.index("twin2")
    assert sig.significant[leader].sum() == 3 and not sig.significant[:, leader].any()
    assert sig.significant[:, last].sum() == 3 and not sig.significant[last].any()
    assert not sig.significant[twin1, twin2] and not sig.significant[twin2, twin1]
    reference = pairwise_wilcoxon(values, direction="higher", alpha=0.05)
    np.testing.assert_array_equal(sig.p_adjusted, reference.p_adjusted)
