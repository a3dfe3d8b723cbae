"""Reads for evaluation, filtered by who asks.

Teams see their own submissions through `submission_team_view`: status, categorical failure
reason, aggregate scores when the phase shows them, and logs only for non-hidden (sanity) phases.
Per-case results and hidden-phase logs are for the owning society and operators only.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import AnyUser, can_see_hidden_data, is_team_member
from challenges.models import LeaderboardVisibility, Phase
from config.errors import Forbidden
from evaluation.errors import SubmissionNotFound
from evaluation.models import (
    AlgorithmImage,
    FailureReason,
    PhaseRanking,
    Result,
    Status,
    Submission,
)


def submissions_of_user(user: AnyUser) -> QuerySet[Submission]:
    if not isinstance(user, User):
        return Submission.objects.none()
    current = Result.objects.filter(is_current=True)
    return Submission.objects.filter(team__memberships__user=user).select_related(
        "phase__challenge", "team", "image", "run"
    ).prefetch_related(Prefetch("results", queryset=current, to_attr="current_results")
                       ).order_by("-created")


def access_submission_by_user(user: AnyUser, submission_id: int) -> Submission:
    """A submission its team or its society may see; 404 for everyone else."""
    submission = Submission.objects.select_related(
        "phase__challenge__society", "team", "image"
    ).filter(pk=submission_id).first()
    if submission is None or not (
        is_team_member(user, submission.team)
        or can_see_hidden_data(user, submission.phase.challenge.society)
    ):
        raise SubmissionNotFound("submission_not_found", _("No such submission."))
    return submission


def scores_are_public(phase: Phase) -> bool:
    return phase.leaderboard_visibility == LeaderboardVisibility.LIVE or phase.results_published


def submission_team_view(submission: Submission) -> dict[str, Any]:
    """Everything a team may know of its submission, and nothing more."""
    phase = submission.phase
    view: dict[str, Any] = {
        "id": submission.pk,
        "challenge": phase.challenge.slug,
        "phase": phase.slug,
        "team": submission.team.slug,
        "image": submission.image.image_id,
        "status": submission.status,
        "failure_reason": submission.failure_reason or None,
        "failure_detail": submission.failure_detail or None,
        "exit_code": submission.exit_code
        if submission.failure_reason == FailureReason.EXIT_CODE else None,
        "created": submission.created.isoformat(),
        "finished": submission.finished_at.isoformat() if submission.finished_at else None,
        "scores": None,
        "scores_withheld": False,
        "logs": None,
    }
    if submission.status == Status.SUCCEEDED:
        if scores_are_public(phase):
            results = getattr(submission, "current_results", None)  # prefetched by lists
            if results is None:
                results = list(Result.objects.filter(submission=submission, is_current=True))
            current = results[0] if results else None
            view["scores"] = current.metrics["metrics"] if current else None
        else:
            view["scores_withheld"] = True
    if not phase.is_hidden and hasattr(submission, "run"):
        view["logs"] = submission.run.logs
    return view


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    team: str
    team_name: str
    submission_id: int
    image: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_cases: int
    metrics: dict[str, dict[str, Any]]
    created: str
    rank_low: int | None = None
    rank_high: int | None = None
    median_rank: float | None = None


@dataclass(frozen=True)
class Leaderboard:
    phase: Phase
    primary: str
    columns: list[tuple[str, str]]  # (metric key, direction)
    ranking_method: str
    entries: list[LeaderboardEntry]
    spec_version: int
    truth_version: int
    stability: dict[str, Any] = field(default_factory=dict)
    ranking: PhaseRanking | None = None


def leaderboard_visible(user: AnyUser, phase: Phase) -> bool:
    return scores_are_public(phase) or can_see_hidden_data(user, phase.challenge.society)


def _better(direction: str, a: float | None, b: float | None) -> bool:
    if a is None:
        return False
    if b is None:
        return True
    return a > b if direction == "higher" else a < b


def best_results(phase: Phase, direction: str) -> list[Result]:
    """Each team's best current result under the current spec and truth versions."""
    results = (
        Result.objects.filter(phase=phase, is_current=True,
                              spec_version=phase.challenge.metric_version,
                              truth_version=phase.truth_version)
        .select_related("team", "submission__image").order_by("created")
    )
    best: dict[int, Result] = {}
    for result in results:
        held = best.get(result.team_id)
        if held is None or _better(direction, result.primary_value, held.primary_value):
            best[result.team_id] = result
    return list(best.values())


def _value_ranks(results: list[Result], direction: str) -> dict[int, int]:
    sign = -1.0 if direction == "higher" else 1.0
    ordered = sorted(results, key=lambda r: (r.primary_value is None,
                                             sign * (r.primary_value or 0.0), r.created))
    ranks: dict[int, int] = {}
    previous: Result | None = None
    for position, result in enumerate(ordered, start=1):
        tied = previous is not None and previous.primary_value == result.primary_value
        ranks[result.submission_id] = ranks[previous.submission_id] if tied and previous else position
        previous = result
    return ranks


def leaderboard_for(user: AnyUser, phase: Phase) -> Leaderboard:
    """Each team's best result with every metric's CI, ranked by the spec's method; the rank
    interval comes from the phase's paired bootstrap when it covers exactly these entries."""
    from evaluation.services.specs import spec_of

    if not leaderboard_visible(user, phase):
        raise Forbidden("leaderboard_hidden",
                        _("The society has not published this phase's results yet."))
    spec = spec_of(phase.challenge)
    direction = spec.primary.direction
    results = best_results(phase, direction)
    ranking = PhaseRanking.objects.filter(
        phase=phase, spec_version=phase.challenge.metric_version,
        truth_version=phase.truth_version).first()
    covers = ranking is not None and ranking.data.get("submissions") == sorted(
        r.submission_id for r in results)
    data = ranking.data if ranking is not None and covers else {}
    ranks = {int(k): v for k, v in data.get("ranks", {}).items()} or _value_ranks(results, direction)
    stability = data.get("stability", {})
    entries = []
    for result in results:
        team_stability = stability.get(str(result.submission_id), {})
        entries.append(LeaderboardEntry(
            rank=ranks[result.submission_id], team=result.team.slug, team_name=result.team.name,
            submission_id=result.submission_id, image=result.submission.image.image_id,
            value=result.primary_value, ci_low=result.primary_ci_low,
            ci_high=result.primary_ci_high, n_cases=result.n_cases,
            metrics=result.metrics["metrics"], created=result.created.isoformat(),
            rank_low=team_stability.get("rank_low"), rank_high=team_stability.get("rank_high"),
            median_rank=team_stability.get("median_rank"),
        ))
    entries.sort(key=lambda e: (e.rank, e.created))
    return Leaderboard(
        phase=phase, primary=spec.primary.key,
        columns=[(m.key, m.direction) for m in spec.metrics],
        ranking_method=spec.ranking_method, entries=entries,
        spec_version=phase.challenge.metric_version, truth_version=phase.truth_version,
        stability=data.get("summary", {}), ranking=ranking if covers else None,
    )


def leaderboard_rows(board: Leaderboard) -> list[dict[str, Any]]:
    """Flat rows for CSV/JSON export: rank, rank interval, team, image, date, every metric."""
    rows = []
    for e in board.entries:
        row: dict[str, Any] = {
            "rank": e.rank, "rank_low": e.rank_low, "rank_high": e.rank_high, "team": e.team,
            "submission_id": e.submission_id, "image": e.image, "date": e.created,
            "n_cases": e.n_cases,
        }
        for key, _direction in board.columns:
            metric = e.metrics.get(key, {})
            row[key] = metric.get("value")
            row[f"{key}_ci_low"] = metric.get("ci_low")
            row[f"{key}_ci_high"] = metric.get("ci_high")
        rows.append(row)
    return rows


def images_of_user(user: AnyUser) -> QuerySet[AlgorithmImage]:
    if not isinstance(user, User):
        return AlgorithmImage.objects.none()
    return AlgorithmImage.objects.filter(team__memberships__user=user).select_related("team")
