"""Ranking methods: ties, missing values, hand-worked examples, Wilcoxon vs scipy, Holm by hand."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm, rankdata, wilcoxon

from evaluation.metrics import ranking
from evaluation.metrics.ranking import (
    aggregate_then_rank,
    holm,
    pairwise_wilcoxon,
    rank_multi,
    rank_then_aggregate,
)

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database


def test_aggregate_then_rank_ties_share_min_rank_and_nan_is_last():
    estimates = {"a": 0.9, "b": 0.8, "c": 0.9, "d": math.nan, "e": 0.7}
    assert aggregate_then_rank(estimates, direction="higher") == {
        "a": 1, "b": 3, "c": 1, "d": 5, "e": 4,
    }
    assert aggregate_then_rank(estimates, direction="lower") == {
        "a": 3, "b": 2, "c": 3, "d": 5, "e": 1,
    }
    assert aggregate_then_rank({"x": math.nan, "y": math.nan}, direction="lower") == {
        "x": 1, "y": 1,
    }


@settings(deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=9))
def test_competition_ranks_equal_scipy_min_ranks(values):
    estimates = {f"t{i}": float(v) for i, v in enumerate(values)}
    got = aggregate_then_rank(estimates, direction="lower")
    expected = rankdata(values, method="min")
    assert list(got.values()) == expected.tolist()
    got_higher = aggregate_then_rank(estimates, direction="higher")
    assert list(got_higher.values()) == rankdata(np.negative(values), method="min").tolist()


def test_direction_is_checked():
    with pytest.raises(ValueError, match="direction"):
        aggregate_then_rank({"a": 1.0}, direction="up")


HAND_TABLE = {
    "A": np.array([0.9, 0.5, 0.7]),
    "B": np.array([0.8, 0.5, np.nan]),
    "C": np.array([0.7, 0.6, 0.9]),
}


def test_rank_then_aggregate_hand_worked_mean():
    # case 1: A1 B2 C3; case 2: C1, A and B tie at 2; case 3: C1 A2, B missing -> 3.
    mean_ranks, final = rank_then_aggregate(HAND_TABLE, direction="higher")
    assert mean_ranks == pytest.approx({"A": 5 / 3, "B": 7 / 3, "C": 5 / 3})
    assert final == {"A": 1, "B": 3, "C": 1}


def test_rank_then_aggregate_hand_worked_median():
    median_ranks, final = rank_then_aggregate(HAND_TABLE, direction="higher", statistic="median")
    assert median_ranks == {"A": 2.0, "B": 2.0, "C": 1.0}
    assert final == {"A": 2, "B": 2, "C": 1}


def loop_rank_then_aggregate(values, higher):
    teams = list(values)
    n = len(values[teams[0]])
    ranks: dict[str, list[int]] = {team: [] for team in teams}
    for case in range(n):
        for team in teams:
            mine = values[team][case]
            better = 0
            for other in teams:
                theirs = values[other][case]
                if math.isnan(theirs):
                    continue
                if math.isnan(mine) or (theirs > mine if higher else theirs < mine):
                    better += 1
            ranks[team].append(1 + better)
    return {team: sum(r) / n for team, r in ranks.items()}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_rank_then_aggregate_matches_a_plain_loop(seed, direction):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 4, size=(5, 12)).astype(float)  # many ties
    table[rng.random(table.shape) < 0.15] = np.nan
    values = {f"team{i}": row for i, row in enumerate(table)}
    mean_ranks, final = rank_then_aggregate(values, direction=direction)
    expected = loop_rank_then_aggregate(values, direction == "higher")
    assert mean_ranks == pytest.approx(expected, rel=1e-15)
    assert final == aggregate_then_rank(expected, direction="lower")


def test_rank_then_aggregate_needs_equal_case_counts():
    with pytest.raises(ValueError, match="same cases"):
        rank_then_aggregate({"a": [1.0, 2.0], "b": [1.0]}, direction="higher")


def test_holm_hand_example():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06.
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02],
                               rtol=1e-12)
    np.testing.assert_allclose(holm([0.01, 0.011]), [0.02, 0.02], rtol=1e-12)
    np.testing.assert_allclose(holm([0.5, 0.4]), [0.8, 0.8], rtol=1e-12)
    np.testing.assert_allclose(holm([0.9, 0.6]), [1.0, 1.0])


def test_holm_leaves_nan_out_of_the_count():
    got = holm([[np.nan, 0.01], [0.04, np.nan]])
    assert np.isnan(got[0, 0]) and np.isnan(got[1, 1])
    np.testing.assert_allclose([got[0, 1], got[1, 0]], [0.02, 0.04], rtol=1e-12)


def separated_teams(n=25, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random(n)
    return {
        "best": base + 0.3 + rng.normal(0, 0.01, n),
        "twin1": base + rng.normal(0, 0.05, n),
        "twin2": base + rng.normal(0, 0.05, n),
        "worst": base - 0.3 + rng.normal(0, 0.01, n),
    }


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_pairwise_p_values_are_scipy_wilcoxon_called_directly(direction):
    values = separated_teams()
    values["twin2"][3] = np.nan  # dropped from the pairs that involve twin2
    tests = pairwise_wilcoxon(values, direction=direction)
    teams = list(values)
    for i, a in enumerate(teams):
        for j, b in enumerate(teams):
            if i == j:
                assert math.isnan(tests.p_values[i, j])
                continue
            keep = ~(np.isnan(values[a]) | np.isnan(values[b]))
            expected = wilcoxon(values[a][keep], values[b][keep], zero_method="wilcox",
                                correction=True, method="asymptotic",
                                alternative="greater" if direction == "higher" else "less")
            assert tests.p_values[i, j] == pytest.approx(expected.pvalue, rel=1e-12)
    np.testing.assert_array_equal(tests.p_adjusted, holm(tests.p_values))


def test_one_sided_p_value_is_the_normal_approximation_r_uses():
    # R: wilcox.test(x, y, paired=TRUE, exact=FALSE, alternative="greater"): zeros dropped,
    # tie-corrected variance, continuity correction 0.5.
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    y = np.array([1.0, 1.0, 1.5, 2.0, 4.0, 7.0, 3.0])
    d = (x - y)[x != y]  # 1, 1.5, 2, 1, -1, 4
    ranks = rankdata(np.abs(d))
    n = d.size
    r_plus = ranks[d > 0].sum()
    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    variance = n * (n + 1) * (2 * n + 1) / 24 - (tie_counts**3 - tie_counts).sum() / 48
    z = (r_plus - n * (n + 1) / 4 - 0.5) / math.sqrt(variance)
    got = ranking.one_sided_wilcoxon(x, y, "higher")
    assert got == pytest.approx(norm.sf(z), rel=1e-12)


def test_test_then_rank_counts_significant_wins():
    wins, ranks, p_adjusted = ranking.test_then_rank(separated_teams(), direction="higher")
    assert wins == {"best": 3, "twin1": 1, "twin2": 1, "worst": 0}
    assert ranks == {"best": 1, "twin1": 2, "twin2": 2, "worst": 4}
    assert p_adjusted.shape == (4, 4)
    wins_lower, ranks_lower, _ = ranking.test_then_rank(separated_teams(), direction="lower")
    assert wins_lower == {"best": 0, "twin1": 1, "twin2": 1, "worst": 3}
    assert ranks_lower["worst"] == 1


def test_identical_teams_have_no_p_value_and_no_win():
    values = {"a": np.array([0.1, 0.5, 0.9]), "b": np.array([0.1, 0.5, 0.9])}
    tests = pairwise_wilcoxon(values, direction="higher")
    assert np.isnan(tests.p_values).all()
    assert not tests.significant.any()
    wins, ranks, _ = ranking.test_then_rank(values, direction="higher")
    assert wins == {"a": 0, "b": 0} and ranks == {"a": 1, "b": 1}


def test_no_adjustment_uses_raw_p_values():
    tests = pairwise_wilcoxon(separated_teams(), direction="higher", adjust="none")
    np.testing.assert_array_equal(tests.p_adjusted, tests.p_values)
    with pytest.raises(ValueError, match="adjust"):
        pairwise_wilcoxon(separated_teams(), direction="higher", adjust="bh")


def test_rank_multi_is_mean_rank_then_ranked():
    metric_ranks = {
        "dice": {"A": 1, "B": 2, "C": 3},
        "hd95": {"A": 3, "B": 1, "C": 2},
        "nsd": {"A": 2, "B": 2, "C": 1},
    }
    # means: A 2, B 5/3, C 2
    assert ranking.mean_rank_multi(metric_ranks) == pytest.approx({"A": 2, "B": 5 / 3, "C": 2})
    assert rank_multi(metric_ranks) == {"A": 2, "B": 1, "C": 2}
    with pytest.raises(ValueError, match="same teams"):
        rank_multi({"dice": {"A": 1}, "hd95": {"B": 1}})
