"""The society re-runs a failed submission: the same image on the same phase, as a new attempt.

The simplest honest design: the submission itself goes back to the queue (no new row), and the
worker's claim counts the attempt (`Submission.attempts`) as it counts a platform retry. As no
submission is added, the re-run takes nothing from the team's quota: the submission counts as it
would have, had its first run not failed (failures caused by the platform never count; a
submission that now succeeds or fails for the image's reason counts once, as one submission).
What the failed run was (reason, detail, exit code, attempts) stays in the audit record
`submission.rerun`; its run record and logs are replaced when the new run is recorded.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from config.errors import Forbidden
from evaluation.errors import SubmissionRefused
from evaluation.models import CaseResult, RunShard, Status, Submission


@transaction.atomic
def submission_rerun(*, submission: Submission, actor: User) -> Submission:
    """Queue a failed submission again (society admins and operators only); 409 for any other
    status. The run message is sent after commit."""
    from evaluation.tasks import enqueue_run

    if not can_manage_society(actor, submission.phase.challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))
    submission = Submission.objects.select_for_update().select_related("phase").get(
        pk=submission.pk)
    if submission.status != Status.FAILED:
        raise SubmissionRefused("not_failed", _("Only a failed submission can be run again."),
                                status=409)
    before = {"failure_reason": submission.failure_reason,
              "failure_detail": submission.failure_detail, "exit_code": submission.exit_code,
              "attempts": submission.attempts}
    RunShard.objects.filter(submission=submission).delete()
    CaseResult.objects.filter(submission=submission).delete()
    submission.status = Status.QUEUED
    submission.failure_reason = submission.failure_detail = submission.node = ""
    submission.exit_code = submission.started_at = submission.finished_at = None
    submission.heartbeat_at = None
    submission.save(update_fields=["status", "failure_reason", "failure_detail", "node",
                                   "exit_code", "started_at", "finished_at", "heartbeat_at"])
    audit_record(actor=actor, action="submission.rerun", target_type="submission",
                 target_id=submission.pk, detail={"phase": submission.phase_id, **before})
    phase = submission.phase
    transaction.on_commit(lambda: enqueue_run(submission.pk, phase.queue))
    return submission
