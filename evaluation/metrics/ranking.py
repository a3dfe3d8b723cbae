"""Leaderboard ranking methods after challengeR (Wiesenfarth et al., Sci Rep 2021), numpy/scipy.

Contracts:
- ``direction`` is ``"higher"`` or ``"lower"`` (which values are better). Ranks are competition
  ranks: rank = 1 + the number of teams strictly better, so ties share the smallest rank
  (challengeR ``ties.method="min"``). ``nan`` is worse than every number and ``nan``s tie with
  each other, so a team without a value ranks after every team with one. (challengeR gives a
  missing value the largest defined rank + 1 instead; the two differ only when the defined teams
  tie for last place.)
- ``aggregate_then_rank`` ranks per-team estimates. ``rank_then_aggregate`` ranks the teams on
  every case, aggregates each team's case ranks by mean or median, then ranks those (lower is
  better). ``rank_multi`` does the same across metrics (Medical Segmentation Decathlon style).
- ``test_then_rank`` / ``pairwise_wilcoxon``: for every ordered pair (i, j) a paired one-sided
  Wilcoxon signed-rank test that i is better than j (``scipy.stats.wilcoxon``,
  ``zero_method="wilcox"``: zero differences are dropped; normal approximation with continuity
  correction, which is R's ``wilcox.test(paired=TRUE, exact=FALSE)`` that challengeR calls).
  Cases where either team has ``nan`` are dropped from that pair (R's complete cases); a pair with
  no non-zero difference has no p-value (``nan``, never significant). P-values are adjusted across
  all T(T-1) ordered pairs (Holm by default; ``nan`` is left out of the count, as R's
  ``p.adjust``), and i beats j when the adjusted p-value is <= ``alpha``. Teams are ranked by their
  number of wins (more is better; equal counts share a rank).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import wilcoxon

Direction = Literal["higher", "lower"]
Adjustment = Literal["holm", "none"]


@dataclass(frozen=True)
class PairwiseTests:
    """One-sided paired tests: entry [i, j] is about "team i is better than team j"."""

    teams: tuple[str, ...]
    p_values: NDArray[np.float64]  # raw, nan on the diagonal and where undefined
    p_adjusted: NDArray[np.float64]
    significant: NDArray[np.bool_]
    alpha: float
    adjust: str


def check_direction(direction: str) -> None:
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")


def competition_ranks(scores: ArrayLike, direction: Direction) -> NDArray[np.int64]:
    """Competition ranks of the teams along the last axis (any leading shape, e.g. cases).

    Memory stays at the size of ``scores``: one pass per team adds "is that team better".
    """
    check_direction(direction)
    values = np.asarray(scores, dtype=np.float64)
    loss = -values if direction == "higher" else values
    missing = np.isnan(loss)
    ranks = np.ones(loss.shape, dtype=np.int64)
    for team in range(loss.shape[-1]):
        other = loss[..., team : team + 1]
        ranks += (other < loss) | (~missing[..., team : team + 1] & missing)
    return ranks


def aggregate_then_rank(estimates: Mapping[str, float], *, direction: Direction) -> dict[str, int]:
    """Rank teams by one value each (ties share the smallest rank, ``nan`` last)."""
    teams = list(estimates)
    ranks = competition_ranks([estimates[team] for team in teams], direction)
    return {team: int(rank) for team, rank in zip(teams, ranks, strict=True)}


def case_table(values: Mapping[str, ArrayLike]) -> tuple[list[str], NDArray[np.float64]]:
    """Teams and a (teams, cases) float table; every team must have the same cases."""
    teams = list(values)
    if not teams:
        raise ValueError("need at least one team")
    rows = [np.asarray(values[team], dtype=np.float64) for team in teams]
    if any(row.ndim != 1 for row in rows) or len({row.size for row in rows}) != 1:
        raise ValueError("every team needs a one-dimensional array over the same cases")
    return teams, np.vstack(rows)


def rank_then_aggregate(
    values: Mapping[str, ArrayLike],
    *,
    direction: Direction,
    statistic: Literal["mean", "median"] = "mean",
) -> tuple[dict[str, float], dict[str, int]]:
    """(aggregated case rank per team, final rank per team).

    Teams are ranked on each case (``nan`` = missing gets the worst rank of that case), each
    team's case ranks are aggregated by ``statistic`` and the aggregates ranked, lower first.
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    teams, table = case_table(values)
    per_case = competition_ranks(table.T, direction)  # (cases, teams)
    reduce = np.mean if statistic == "mean" else np.median
    aggregated = {
        team: float(reduce(per_case[:, i])) for i, team in enumerate(teams)
    }
    return aggregated, aggregate_then_rank(aggregated, direction="lower")


def mean_rank_multi(metric_ranks: Mapping[str, Mapping[str, int]]) -> dict[str, float]:
    """Each team's mean rank over the metrics; every metric must rank the same teams."""
    if not metric_ranks:
        raise ValueError("need at least one metric")
    tables = list(metric_ranks.values())
    teams = list(tables[0])
    if any(set(table) != set(teams) for table in tables):
        raise ValueError("every metric must rank the same teams")
    return {team: float(np.mean([table[team] for table in tables])) for team in teams}


def rank_multi(metric_ranks: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Final ranks from per-metric ranks: mean rank over metrics, then ranked (lower first)."""
    return aggregate_then_rank(mean_rank_multi(metric_ranks), direction="lower")


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    """Holm step-down adjusted p-values (any shape); ``nan`` stays ``nan`` and is not counted."""
    p = np.asarray(p_values, dtype=np.float64)
    flat = p.ravel()
    adjusted = np.full(flat.shape, np.nan)
    present = np.flatnonzero(~np.isnan(flat))
    order = present[np.argsort(flat[present], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * flat[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.reshape(p.shape)


def one_sided_wilcoxon(better: NDArray, worse: NDArray, direction: Direction) -> float:
    """P-value for "``better`` beats ``worse``" on paired cases; ``nan`` when untestable."""
    complete = ~(np.isnan(better) | np.isnan(worse))
    x, y = better[complete], worse[complete]
    if np.count_nonzero(x - y) == 0:
        return float("nan")
    result = wilcoxon(
        x,
        y,
        zero_method="wilcox",
        correction=True,
        alternative="greater" if direction == "higher" else "less",
        method="asymptotic",
    )
    return float(result.pvalue)


def pairwise_wilcoxon(
    values: Mapping[str, ArrayLike],
    *,
    direction: Direction,
    alpha: float = 0.05,
    adjust: Adjustment = "holm",
) -> PairwiseTests:
    """One-sided paired Wilcoxon tests for every ordered pair of teams, adjusted together."""
    check_direction(direction)
    if adjust not in ("holm", "none"):
        raise ValueError(f"adjust must be 'holm' or 'none', got {adjust!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie strictly between 0 and 1")
    teams, table = case_table(values)
    size = len(teams)
    raw = np.full((size, size), np.nan)
    for i in range(size):
        for j in range(size):
            if i != j:
                raw[i, j] = one_sided_wilcoxon(table[i], table[j], direction)
    adjusted = holm(raw) if adjust == "holm" else raw.copy()
    significant = np.zeros((size, size), dtype=bool)
    np.less_equal(adjusted, alpha, out=significant, where=~np.isnan(adjusted))
    return PairwiseTests(tuple(teams), raw, adjusted, significant, alpha, adjust)


def test_then_rank(
    values: Mapping[str, ArrayLike],
    *,
    direction: Direction,
    alpha: float = 0.05,
    adjust: Adjustment = "holm",
) -> tuple[dict[str, int], dict[str, int], NDArray[np.float64]]:
    """(significant wins per team, rank by wins, adjusted p-value matrix in ``values`` order)."""
    tests = pairwise_wilcoxon(values, direction=direction, alpha=alpha, adjust=adjust)
    wins = {team: int(tests.significant[i].sum()) for i, team in enumerate(tests.teams)}
    ranks = aggregate_then_rank({t: float(w) for t, w in wins.items()}, direction="higher")
    return wins, ranks, tests.p_adjusted


test_then_rank.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
