"""Ranking and rank stability of a phase, recomputed after every scoring and re-evaluation.

Each team's best current result enters. Every team's primary metric is recomputed on the spec's
resamples (the same for all teams: a paired bootstrap), giving each team's rank distribution,
median rank and rank interval, Kendall's tau between bootstrap and full rankings, the share of
resamples the winner keeps first place, a significance map, and the plots the leaderboard shows.
"""

from typing import Any

import numpy as np
from django.db import transaction
from django.utils.translation import gettext as _

from challenges.models import Phase
from challenges.selectors import ground_truth_for_scoring
from evaluation.metrics import ranking as ranking_methods
from evaluation.metrics.engine import case_values, resampled
from evaluation.metrics.formats import CaseData
from evaluation.metrics.plots import blob_plot, significance_map_plot
from evaluation.metrics.spec import Spec
from evaluation.metrics.stability import RankStability, bootstrap_ranks, significance_map
from evaluation.models import CaseResult, PhaseRanking, Result
from evaluation.selectors import best_results, leaderboard_changed, results_state
from evaluation.services.scoring import MaskLoader, case_data
from evaluation.services.specs import spec_of


def _team_inputs(spec: Spec, result: Result, truth_values: dict[str, Any],
                 masks: MaskLoader) -> tuple[CaseData, CaseData]:
    rows = list(CaseResult.objects.filter(submission_id=result.submission_id)
                .select_related("case").order_by("case__case_id"))
    return case_data(spec, [row.case for row in rows], truth_values,
                     {row.case.case_id: row.prediction for row in rows}, masks)


def _bootstrap_significance(per_resample: dict[str, np.ndarray], direction: str,
                            alpha: float) -> tuple[list[str], np.ndarray, np.ndarray]:
    """For set metrics: one-sided bootstrap test of "row better than column", Holm-adjusted."""
    teams = list(per_resample)
    sign = 1.0 if direction == "higher" else -1.0
    p = np.full((len(teams), len(teams)), np.nan)
    for i, a in enumerate(teams):
        for j, b in enumerate(teams):
            if i != j:
                diff = sign * (per_resample[a] - per_resample[b])
                defined = diff[~np.isnan(diff)]
                p[i, j] = (np.sum(defined <= 0) + 1) / (defined.size + 1) if defined.size else np.nan
    adjusted = ranking_methods.holm(p)
    return teams, adjusted <= alpha, adjusted


def _ranks(spec: Spec, estimates: dict[str, float], cases: dict[str, np.ndarray]) -> dict[str, int]:
    direction = spec.primary.direction
    if spec.ranking_method == "rank-then-aggregate":
        return ranking_methods.rank_then_aggregate(cases, direction=direction)[1]  # type: ignore[arg-type]
    if spec.ranking_method == "test-then-rank":
        return ranking_methods.test_then_rank(cases, direction=direction,  # type: ignore[arg-type]
                                              alpha=spec.ranking_alpha)[1]
    return ranking_methods.aggregate_then_rank(estimates, direction=direction)  # type: ignore[arg-type]


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None so the data is valid JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def _as_rank(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 2)


def _stability_data(stability: RankStability, ids: dict[str, int]) -> dict[str, Any]:
    return {
        str(ids[team]): {
            "median_rank": _as_rank(stability.median_rank[team]),
            "rank_low": _as_rank(stability.rank_interval[team][0]),
            "rank_high": _as_rank(stability.rank_interval[team][1]),
            "distribution": stability.rank_counts[i].tolist(),
        }
        for i, team in enumerate(stability.teams)
    }


def phase_ranking_update(*, phase_id: int, unless_current: bool = False) -> PhaseRanking | None:
    """Recompute the ranking of the phase's current leaderboard entries. `unless_current`: keep
    the phase's ranking when it was computed from the results the phase has now (a queue of
    rankings after a burst of results does the work once)."""
    phase = Phase.objects.select_related("challenge").get(pk=phase_id)
    spec = spec_of(phase.challenge)
    primary = spec.primary
    inputs = results_state(phase)  # read before the results: a later one makes the next differ
    if unless_current:
        held = PhaseRanking.objects.filter(
            phase=phase, spec_version=phase.challenge.metric_version,
            truth_version=phase.truth_version).values_list("pk", "data__inputs").first()
        if held is not None and held[1] == inputs:
            return PhaseRanking.objects.only("pk", "phase", "computed").get(pk=held[0])
    results = best_results(phase, primary.direction)
    if not results:
        return None
    truth_values = ground_truth_for_scoring(phase)
    ids = {result.team.slug: result.submission_id for result in results}
    per_resample: dict[str, np.ndarray] = {}
    cases: dict[str, np.ndarray] = {}
    estimates: dict[str, float] = {}
    masks = MaskLoader()  # segmentation: each truth mask read once for every team
    for result in results:
        team = result.team.slug
        truth, predictions = _team_inputs(spec, result, truth_values, masks)
        per_resample[team] = resampled(spec, primary, truth, predictions)
        estimates[team] = np.nan if result.primary_value is None else result.primary_value
        if primary.kind == "case":
            cases[team] = case_values(primary, truth, predictions)
    stability = bootstrap_ranks(per_resample, direction=primary.direction,  # type: ignore[arg-type]
                                estimates=estimates, confidence=spec.confidence)
    ranks = _ranks(spec, estimates, cases)
    if primary.kind == "case" and len(results) > 1:
        tests = significance_map(cases, direction=primary.direction,  # type: ignore[arg-type]
                                 alpha=spec.ranking_alpha)
        teams, significant, adjusted = list(tests.teams), tests.significant, tests.p_adjusted
    else:
        teams, significant, adjusted = _bootstrap_significance(
            per_resample, primary.direction, spec.ranking_alpha)
    data = {
        "inputs": inputs,
        "submissions": sorted(ids.values()),
        "ranks": {str(ids[team]): rank for team, rank in ranks.items()},
        "stability": _stability_data(stability, ids),
        "summary": {
            "method": spec.ranking_method, "n_resamples": stability.n_resamples,
            "winner_stays": stability.winner_share, "kendall_tau_median": stability.tau_median,
            "kendall_tau_interval": list(stability.tau_interval),
        },
        "significance": {"teams": teams, "significant": np.asarray(significant).tolist(),
                         "p_adjusted": np.asarray(adjusted, dtype=float).tolist()},
    }
    blob = blob_plot(stability, title=_("Bootstrap ranks of %(metric)s") % {"metric": primary.key},
                     x_label=_("Team"), y_label=_("Rank"), median_label=_("Median rank"))
    significance = significance_map_plot(
        significant, teams, title=_("Significance map (one-sided, Holm)"),
        x_label=_("Compared with"), y_label=_("Team"), better_label=_("Significantly better"))
    with transaction.atomic():
        ranking, _created = PhaseRanking.objects.update_or_create(
            phase=phase, spec_version=phase.challenge.metric_version,
            truth_version=phase.truth_version,
            defaults={"data": _json_safe(data), "blob_svg": blob, "significance_svg": significance},
        )
        leaderboard_changed(phase_ids=[phase.pk])
    return ranking
