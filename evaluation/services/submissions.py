"""A team submits an image to a phase: the checks (membership, an approved registration for the
challenge, an open phase with its cases), the quota, and the hand-off to the queue."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.permissions import is_team_member
from challenges.errors import PhaseNotReady
from challenges.models import Phase
from challenges.selectors import phase_case_count, phase_is_open, team_is_registered
from evaluation.errors import NotATeamMember, NotRegistered, QuotaExceeded, SubmissionRefused
from evaluation.models import FINAL_STATUSES, AlgorithmImage, Status, Submission
from evaluation.selectors.queue import counted_submissions


def submissions_counted(phase: Phase, team: Team) -> int:
    """Submissions in the current quota window; failures caused by the platform never count
    (`evaluation.selectors.queue.counted_submissions` says which count)."""
    return counted_submissions(phase).filter(team=team).count()


def submission_create(*, user: User, team: Team, phase: Phase,
                      image: AlgorithmImage) -> Submission:
    """Queue a run of `image` on `phase` for `team`, or refuse with a clear reason."""
    from evaluation.tasks import enqueue_run

    if not is_team_member(user, team):
        raise NotATeamMember("not_a_team_member", _("You are not a member of this team."))
    if image.team_id != team.pk:
        raise SubmissionRefused("image_not_of_team", _("This image does not belong to the team."))
    if not phase.challenge.is_published:
        raise SubmissionRefused("challenge_not_published", _("The challenge is not published."))
    if not team_is_registered(team, phase.challenge):
        raise NotRegistered("not_registered", _(
            "Team %(team)s is not registered for this challenge, or its registration is not "
            "approved yet. Register the team on the challenge's page first.")
            % {"team": team.slug})
    if not phase_is_open(phase):
        raise SubmissionRefused("phase_closed", _("The phase is not open for submissions."))
    n_cases, n_with_truth = phase_case_count(phase)
    if n_cases == 0 or n_with_truth < n_cases:
        raise PhaseNotReady("phase_not_ready", _("The phase has no complete case set yet."))
    with transaction.atomic():
        Team.objects.select_for_update().get(pk=team.pk)  # serialise quota checks per team
        if submissions_counted(phase, team) >= phase.submission_limit:
            raise QuotaExceeded(
                "quota_exceeded",
                _("Your team has used its %(n)d submissions for this %(h)d-hour window.")
                % {"n": phase.submission_limit, "h": phase.limit_window_hours},
            )
        submission = Submission.objects.create(
            phase=phase, team=team, image=image, submitted_by=user
        )
        transaction.on_commit(lambda: enqueue_run(submission.pk, phase.queue))
    return submission


def submission_cancel(*, user: User, submission: Submission) -> Submission:
    """Cancel a queued or running submission of the user's team. A running container finishes
    or times out on its worker, but its outputs are dropped; cancelled runs never count."""
    if not is_team_member(user, submission.team):
        raise NotATeamMember("not_a_team_member", _("You are not a member of this team."))
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if submission.status in FINAL_STATUSES or submission.status == Status.SCORING:
            raise SubmissionRefused("already_finished",
                                    _("The submission has already finished."), status=409)
        submission.status = Status.CANCELLED
        submission.finished_at = timezone.now()
        submission.save(update_fields=["status", "finished_at"])
    return submission
