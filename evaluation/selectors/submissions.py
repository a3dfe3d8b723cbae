"""Reads of submissions and images, filtered by who asks.

Teams see their own submissions through `submission_team_view`: status, categorical failure
reason, aggregate scores when the phase shows them, and logs only for non-hidden (sanity) phases.
Per-case results and hidden-phase logs are for the owning society and operators only: they see
every run of a phase through `phase_runs_for_society` and `phase_run_for_society` (audited).
"""

from collections.abc import Sequence
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.permissions import AnyUser, can_see_hidden_data, is_team_member
from audit.services import audit_record
from challenges.models import LeaderboardVisibility, Phase
from evaluation.errors import SubmissionNotFound
from evaluation.models import (
    AlgorithmImage,
    CaseResult,
    FailureReason,
    Result,
    RunShard,
    Status,
    Submission,
)
from evaluation.selectors.queue import QueuePlace, queue_places


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


def submission_team_view(submission: Submission, *,
                         place: QueuePlace | None = None) -> dict[str, Any]:
    """Everything a team may know of its submission, and nothing more; `place` is its place in
    the queue while it waits (`queue_places`), shown as `queue_position` and `estimated_start`."""
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
        "queue_position": place.position if place else None,
        "estimated_start": place.estimated_start.isoformat()
        if place and place.estimated_start else None,
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


def submission_team_views(submissions: Sequence[Submission]) -> list[dict[str, Any]]:
    """`submission_team_view` of each, with the queued ones' places (one query for all)."""
    places = queue_places(submissions)
    return [submission_team_view(s, place=places.get(s.pk)) for s in submissions]


def sanity_outputs(submission: Submission) -> list[tuple[str, Any]] | None:
    """(case id, prediction) of the team's own run on a phase that is not hidden, in case
    order; None for a hidden phase, whose predictions are never the team's to see."""
    if submission.phase.is_hidden:
        return None
    return list(CaseResult.objects.filter(submission=submission).order_by("case__case_id")
                .values_list("case__case_id", "prediction"))


def images_of_user(user: AnyUser) -> QuerySet[AlgorithmImage]:
    if not isinstance(user, User):
        return AlgorithmImage.objects.none()
    return AlgorithmImage.objects.filter(team__memberships__user=user).select_related("team")


# --- the owning society's view of every run of a phase -------------------------------------------

RUNS_PER_PAGE = 50


def _society_may_see_runs(user: AnyUser, phase: Phase) -> None:
    """Raise SubmissionNotFound (a 404, never a 403) unless `user` may see hidden data of the
    phase's society: its admins, stewards and physicians, and operators."""
    if not can_see_hidden_data(user, phase.challenge.society):
        raise SubmissionNotFound("runs_not_found", _("No such page."))


def phase_runs_for_society(user: AnyUser, phase: Phase, *, status: str = "",
                           team: str = "") -> QuerySet[Submission]:
    """Every submission of `phase` (all teams but the user's own: a conflict of interest), newest
    first, optionally only those with `status` and of the team with slug `team`; for the owning
    society and operators only. Team, image, run
    (without its logs) and shards (without logs or predictions) come with the rows, so a page
    costs the same number of queries however many rows it holds. `phase` must come with its
    challenge and society (as `access_phase_by_user` returns it)."""
    _society_may_see_runs(user, phase)
    shards = RunShard.objects.defer("logs", "predictions").order_by("index")
    runs = Submission.objects.filter(phase=phase).exclude(
        team__memberships__user_id=user.pk or 0  # conflict of interest: not one's own team's
    ).select_related(
        "team", "image", "run"
    ).defer("run__logs").prefetch_related(
        Prefetch("shards", queryset=shards, to_attr="shard_list")
    ).order_by("-created", "-pk")
    if status:
        runs = runs.filter(status=status)
    if team:
        runs = runs.filter(team__slug=team)
    return runs


def phase_run_teams(phase: Phase) -> QuerySet[Team]:
    """The teams with at least one submission to `phase` (the team filter's choices)."""
    return Team.objects.filter(submissions__phase=phase).distinct().order_by("slug")


def phase_run_for_society(user: AnyUser, phase: Phase, submission_id: int) -> Submission:
    """One submission of `phase` with its run record (logs included) and its shards, for the
    owning society and operators; SubmissionNotFound for everyone else and for a submission of
    another phase. Reading a hidden phase's logs is audited here ("evaluation.run_logs_viewed"),
    so no caller can show them without the record."""
    _society_may_see_runs(user, phase)
    shards = RunShard.objects.defer("logs", "predictions").order_by("index")
    submission = Submission.objects.filter(phase=phase, pk=submission_id).select_related(
        "team", "image", "run", "submitted_by"
    ).prefetch_related(Prefetch("shards", queryset=shards, to_attr="shard_list")).first()
    if submission is None or submission.team.memberships.filter(user_id=user.pk or 0).exists():
        # a society member who is also on the submitting team has a conflict of interest: the
        # team's hidden-phase logs must not reach it through the society's pages
        raise SubmissionNotFound("submission_not_found", _("No such submission."))
    if phase.is_hidden and hasattr(submission, "run"):
        audit_record(actor=user if isinstance(user, User) else None,
                     action="evaluation.run_logs_viewed", target_type="submission",
                     target_id=submission.pk,
                     detail={"submission": submission.pk, "phase": phase.pk})
    return submission


def society_run_view(submission: Submission) -> dict[str, Any]:
    """A submission as one row of the society's run list: every field of the run but its logs.
    Uses the rows' prefetched `shard_list` and run record; queries nothing."""
    run = getattr(submission, "run", None)
    shards: list[RunShard] = getattr(submission, "shard_list", [])
    nodes = sorted({s.node for s in shards if s.node}) or sorted(
        {n for n in (submission.node, run.node if run else "") if n})
    duration = run.duration_s if run is not None else None
    if duration is None and submission.started_at and submission.finished_at:
        duration = (submission.finished_at - submission.started_at).total_seconds()
    return {
        "id": submission.pk,
        "team": submission.team.slug,
        "image": submission.image.image_id,
        "image_short": submission.image.image_id.removeprefix("sha256:")[:12],
        "status": submission.status,
        "status_label": submission.get_status_display(),
        "verdict": run.verdict if run is not None else "",
        "failure_reason": submission.get_failure_reason_display()
        if submission.failure_reason else "",
        "failure_detail": submission.failure_detail,
        "output_error": run.output_error if run is not None else "",
        "exit_code": run.exit_code if run is not None and run.exit_code is not None
        else submission.exit_code,
        "attempts": submission.attempts,
        "nodes": nodes,
        "duration_s": duration,
        "peak_memory_bytes": run.peak_memory_bytes if run is not None else None,
        "cpu_seconds": run.cpu_seconds if run is not None else None,
        "output_bytes": run.output_bytes if run is not None else None,
        "created": submission.created,
        "finished": submission.finished_at,
        "shards": shards,
    }
