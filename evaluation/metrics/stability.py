"""Rank stability under the case bootstrap, and significance maps (numpy/scipy only).

Contracts:
- ``paired_bootstrap`` draws the resamples once (``bootstrap.resample_weights``, same seed ->
  same resamples) and feeds every block of weights to every team's function, so all teams are
  compared on identical resamples. Each function maps a ``(rows, n)`` weights block to ``(rows,)``
  values (``nan`` where undefined), e.g. ``lambda w: weighted_mean(dice_of_team, w)``.
- ``bootstrap_ranks`` ranks the teams within every resample with the rules of
  ``ranking.competition_ranks`` (ties share the smallest rank, ``nan`` ranks last) and compares
  each resample's ranking with the ranking of ``estimates`` (the full data). A resample in which
  no team has a value carries no ranking and is left out (``n_resamples_used`` counts the rest).
- Per team it reports the rank distribution (counts of ranks 1..T), the median rank and the
  equal-tailed rank interval (``numpy.quantile``, linear, like R's default ``quantile``).
  Kendall's tau-b between each resample's ranking and the full one (vectorised; equal to
  ``scipy.stats.kendalltau``) is ``nan`` when either ranking is constant; its summary leaves
  those out. ``winner_share`` is the
  share of used resamples in which every full-data winner still holds rank 1.
- ``significance_map`` is ``ranking.pairwise_wilcoxon``: one-sided paired Wilcoxon, Holm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evaluation.metrics.bootstrap import CHUNK_BYTES, percentile_interval, resample_weights
from evaluation.metrics.ranking import (
    Adjustment,
    Direction,
    PairwiseTests,
    competition_ranks,
    pairwise_wilcoxon,
)

TeamStatistic = Callable[[NDArray[np.float64]], ArrayLike]


@dataclass(frozen=True)
class RankStability:
    """How the ranking moves over bootstrap resamples; ``teams`` is in full-data rank order."""

    teams: tuple[str, ...]
    full_ranks: dict[str, int]
    rank_counts: NDArray[np.int64]  # [i, r - 1]: resamples in which teams[i] held rank r
    median_rank: dict[str, float]
    rank_interval: dict[str, tuple[float, float]]
    kendall_tau: NDArray[np.float64]  # one per used resample
    tau_median: float
    tau_interval: tuple[float, float]
    winner_share: float
    n_resamples: int
    n_resamples_used: int
    confidence: float


def paired_bootstrap(
    fn_per_team: Mapping[str, TeamStatistic],
    n: int,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    chunk: int | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Every team's statistic on the same ``n_resamples`` case resamples of ``n`` cases."""
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    rows = chunk if chunk is not None else max(1, CHUNK_BYTES // (64 * max(n, 1)))
    out = {team: np.empty(n_resamples) for team in fn_per_team}
    start = 0
    for block in resample_weights(n, n_resamples, seed, rows):
        stop = start + len(block)
        for team, fn in fn_per_team.items():
            values = np.asarray(fn(block), dtype=np.float64)
            if values.shape != (len(block),):
                raise ValueError(f"{team}: statistic returned {values.shape}, need ({len(block)},)")
            out[team][start:stop] = values
        start = stop
    return out


def _resample_table(
    per_resample_values: Mapping[str, ArrayLike], estimates: Mapping[str, float]
) -> tuple[list[str], NDArray[np.float64]]:
    teams = list(per_resample_values)
    if not teams:
        raise ValueError("need at least one team")
    if set(estimates) != set(teams):
        raise ValueError("estimates must name exactly the teams of per_resample_values")
    columns = [np.asarray(per_resample_values[team], dtype=np.float64) for team in teams]
    if any(col.ndim != 1 for col in columns) or len({col.size for col in columns}) != 1:
        raise ValueError("every team needs one value per resample, over the same resamples")
    return teams, np.column_stack(columns)


def kendall_tau_b(full: ArrayLike, rankings: ArrayLike) -> NDArray[np.float64]:
    """Kendall's tau-b of each row of ``rankings`` against ``full``, vectorised over rows.

    tau-b = (concordant - discordant) / sqrt(pairs untied in ``full`` * pairs untied in the row),
    the statistic of ``scipy.stats.kendalltau`` (its tests compare the two); ``nan`` when either
    ranking is constant.
    """
    reference = np.asarray(full, dtype=np.float64)
    rows = np.atleast_2d(np.asarray(rankings, dtype=np.float64))
    first, second = np.triu_indices(reference.size, k=1)
    full_sign = np.sign(reference[first] - reference[second])
    full_untied = np.count_nonzero(full_sign)
    taus = np.empty(rows.shape[0])
    step = max(1, 2**22 // max(first.size, 1))
    for start in range(0, rows.shape[0], step):
        block = rows[start : start + step]
        row_sign = np.sign(block[:, first] - block[:, second])
        score = row_sign @ full_sign
        untied = np.count_nonzero(row_sign, axis=1) * full_untied
        with np.errstate(invalid="ignore", divide="ignore"):
            taus[start : start + step] = np.where(untied > 0, score / np.sqrt(untied), np.nan)
    return taus


def _rank_summary(
    ranks: NDArray[np.int64], confidence: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(median, low, high) rank per team; ``nan`` when no resample was used."""
    size = ranks.shape[1]
    if ranks.shape[0] == 0:
        empty = np.full(size, np.nan)
        return empty, empty, empty
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ranks, [tail, 1.0 - tail], axis=0)
    return np.median(ranks, axis=0), low, high


def bootstrap_ranks(
    per_resample_values: Mapping[str, ArrayLike],
    *,
    direction: Direction,
    estimates: Mapping[str, float],
    confidence: float = 0.95,
) -> RankStability:
    """Rank distribution, rank intervals, Kendall's tau and winner share over paired resamples."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")
    teams, table = _resample_table(per_resample_values, estimates)
    full = competition_ranks([estimates[team] for team in teams], direction)
    used = ~np.isnan(table).all(axis=1)
    ranks = competition_ranks(table[used], direction)
    size = len(teams)
    counts = np.stack([np.bincount(ranks[:, i] - 1, minlength=size) for i in range(size)])
    median, low, high = _rank_summary(ranks, confidence)
    taus = kendall_tau_b(full, ranks)
    tau_low, tau_high = percentile_interval(taus, confidence)
    defined_taus = taus[~np.isnan(taus)]
    winners = full == 1
    kept = (ranks[:, winners] == 1).all(axis=1)
    order = sorted(range(size), key=lambda i: (full[i], i))
    return RankStability(
        teams=tuple(teams[i] for i in order),
        full_ranks={team: int(full[i]) for i, team in enumerate(teams)},
        rank_counts=counts[order].astype(np.int64),
        median_rank={team: float(median[i]) for i, team in enumerate(teams)},
        rank_interval={team: (float(low[i]), float(high[i])) for i, team in enumerate(teams)},
        kendall_tau=taus,
        tau_median=float(np.median(defined_taus)) if defined_taus.size else float("nan"),
        tau_interval=(tau_low, tau_high),
        winner_share=float(kept.mean()) if kept.size else float("nan"),
        n_resamples=int(table.shape[0]),
        n_resamples_used=int(used.sum()),
        confidence=confidence,
    )


def significance_map(
    values: Mapping[str, ArrayLike],
    *,
    direction: Direction,
    alpha: float = 0.05,
    adjust: Adjustment = "holm",
) -> PairwiseTests:
    """``significant[i, j]``: team i is significantly better than team j (plus p-values)."""
    return pairwise_wilcoxon(values, direction=direction, alpha=alpha, adjust=adjust)
