"""Reads of submissions and images, filtered by who asks.

Teams see their own submissions through `submission_team_view`: status, categorical failure
reason, aggregate scores when the phase shows them, and logs only for non-hidden (sanity) phases.
Per-case results and hidden-phase logs are for the owning society and operators only.
"""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import AnyUser, can_see_hidden_data, is_team_member
from challenges.models import LeaderboardVisibility, Phase
from evaluation.errors import SubmissionNotFound
from evaluation.models import (
    AlgorithmImage,
    FailureReason,
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



def images_of_user(user: AnyUser) -> QuerySet[AlgorithmImage]:
    if not isinstance(user, User):
        return AlgorithmImage.objects.none()
    return AlgorithmImage.objects.filter(team__memberships__user=user).select_related("team")
