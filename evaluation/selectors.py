"""Reads for evaluation, filtered by who asks.

Teams see their own submissions through `submission_team_view`: status, categorical failure
reason, aggregate scores when the phase shows them, and logs only for non-hidden (sanity) phases.
Per-case results and hidden-phase logs are for the owning society and operators only.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import AnyUser, can_see_hidden_data, is_team_member
from challenges.models import LeaderboardVisibility, Phase
from config.errors import Forbidden
from evaluation.errors import SubmissionNotFound
from evaluation.models import AlgorithmImage, FailureReason, Result, Status, Submission


def submissions_of_user(user: AnyUser) -> QuerySet[Submission]:
    if not isinstance(user, User):
        return Submission.objects.none()
    return Submission.objects.filter(team__memberships__user=user).select_related(
        "phase__challenge", "team", "image", "result"
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
            view["scores"] = Result.objects.get(submission=submission).metrics["metrics"]
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
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_cases: int
    metrics: dict[str, Any]
    created: str


def leaderboard_visible(user: AnyUser, phase: Phase) -> bool:
    return scores_are_public(phase) or can_see_hidden_data(user, phase.challenge.society)


def leaderboard_for(user: AnyUser, phase: Phase) -> list[LeaderboardEntry]:
    """Each team's best result, ranked by the primary metric; equal values share a rank."""
    if not leaderboard_visible(user, phase):
        raise Forbidden("leaderboard_hidden",
                        _("The society has not published this phase's results yet."))
    results = (
        Result.objects.filter(phase=phase).select_related("team")
        .order_by("team_id", "-primary_value", "created")
    )
    best: dict[int, Result] = {}
    for result in results:
        best.setdefault(result.team_id, result)
    ordered = sorted(best.values(), key=lambda r: (r.primary_value is None,
                                                    -(r.primary_value or 0.0), r.created))
    entries: list[LeaderboardEntry] = []
    for position, result in enumerate(ordered, start=1):
        tied = entries and entries[-1].value == result.primary_value
        entries.append(LeaderboardEntry(
            rank=entries[-1].rank if tied else position, team=result.team.slug,
            team_name=result.team.name, submission_id=result.submission_id,
            value=result.primary_value, ci_low=result.primary_ci_low,
            ci_high=result.primary_ci_high, n_cases=result.n_cases,
            metrics={k: v.get("value") for k, v in result.metrics["metrics"].items()},
            created=result.created.isoformat(),
        ))
    return entries


def images_of_user(user: AnyUser) -> QuerySet[AlgorithmImage]:
    if not isinstance(user, User):
        return AlgorithmImage.objects.none()
    return AlgorithmImage.objects.filter(team__memberships__user=user).select_related("team")
