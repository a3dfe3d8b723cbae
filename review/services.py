"""Writes for review: verdicts, flags, their resolution by the society, ground-truth corrections,
blinding, declared conflicts of interest. Every write is audited; bad input raises a DomainError
with a translated message and stores nothing.

A correction of the ground truth never edits a stored row: `challenges.services.truth_correct`
makes a new truth version (audited), every open flag on the case is resolved naming that version,
and the leaderboard shows results of the new version once the phase is re-evaluated (offered
here, `reevaluate=True`, through `evaluation.services.publication.phase_reevaluate_request`).
"""

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.permissions import can_manage_society, can_see_hidden_data
from audit.services import audit_record
from challenges.models import Case, Phase, TaskType
from challenges.services import truth_correct
from config.errors import Conflict, DomainError, Forbidden
from evaluation.models import CaseResult, Submission
from evaluation.selectors import leaderboard_changed
from evaluation.services.publication import phase_reevaluate_request
from review.errors import ReviewNotFound
from review.models import (
    CaseFlag,
    CaseVerdict,
    ConflictOfInterest,
    FlagStatus,
    ReviewSettings,
    Verdict,
)
from review.selectors.access import conflicted_team_slugs

MAX_TEXT = 2000
LABEL_TASKS = (TaskType.BINARY_CLASSIFICATION, TaskType.MULTICLASS_CLASSIFICATION)


def _require_reviewer(actor: User, phase: Phase) -> None:
    if not can_see_hidden_data(actor, phase.challenge.society):
        raise ReviewNotFound("review_not_found", _("There is nothing to review here."))


def _require_admin(actor: User, phase: Phase) -> None:
    if not can_manage_society(actor, phase.challenge.society):
        raise Forbidden("not_society_admin", _("Only the society's admins may do this."))


def _text(value: str, code: str, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise DomainError(code, _("Please give a reason."))
    if len(value) > MAX_TEXT:
        raise DomainError(code, _("Write at most %(n)d characters.") % {"n": MAX_TEXT})
    return value


@transaction.atomic
def verdict_record(*, actor: User, case: Case, submission: Submission, verdict: str,
                   comment: str = "") -> CaseVerdict:
    """Record (or change) the actor's verdict on a submission's prediction for a case. Refused
    for a submission of a team the actor has a conflict of interest with, as if it did not
    exist (404)."""
    phase = case.phase
    _require_reviewer(actor, phase)
    if (submission.phase_id != phase.pk or submission.team.slug in conflicted_team_slugs(actor)
            or not CaseResult.objects.filter(submission=submission, case=case).exists()):
        raise ReviewNotFound("prediction_not_found", _("There is no such prediction to judge."))
    if verdict not in Verdict.values:
        raise DomainError("bad_verdict", _("Choose correct, incorrect or uncertain."))
    comment = _text(comment, "comment_too_long")
    record, created = CaseVerdict.objects.update_or_create(
        case=case, submission=submission, reviewer=actor,
        defaults={"verdict": verdict, "comment": comment})
    audit_record(actor=actor, action="review.verdict_recorded", target_type="case",
                 target_id=case.pk, detail={"submission": submission.pk, "verdict": verdict,
                                            "created": created})
    return record


@transaction.atomic
def flag_raise(*, actor: User, case: Case, reason: str) -> CaseFlag:
    """Flag the case's ground truth as questionable; it goes to the society's admins."""
    phase = case.phase
    _require_reviewer(actor, phase)
    reason = _text(reason, "reason_required", required=True)
    if CaseFlag.objects.filter(case=case, raised_by=actor, status=FlagStatus.OPEN).exists():
        raise Conflict("already_flagged", _("You have flagged this case already; the society's "
                                            "admins have not decided on it yet."))
    flag = CaseFlag.objects.create(case=case, raised_by=actor, reason=reason,
                                   truth_version=phase.truth_version)
    audit_record(actor=actor, action="review.flag_raised", target_type="case", target_id=case.pk,
                 detail={"flag": flag.pk, "truth_version": phase.truth_version})
    return flag


def _locked_open_flag(flag: CaseFlag) -> CaseFlag:
    flag = CaseFlag.objects.select_for_update().select_related(
        "case__phase__challenge__society").get(pk=flag.pk)
    if flag.status != FlagStatus.OPEN:
        raise Conflict("flag_closed", _("This flag has been decided already."))
    return flag


@transaction.atomic
def flag_dismiss(*, actor: User, flag: CaseFlag, note: str = "") -> CaseFlag:
    """A society admin keeps the ground truth as it is."""
    _require_admin(actor, flag.case.phase)
    flag = _locked_open_flag(flag)
    flag.status = FlagStatus.DISMISSED
    flag.resolved_by = actor
    flag.resolution_note = _text(note, "note_too_long")
    flag.resolved_at = timezone.now()
    flag.save(update_fields=["status", "resolved_by", "resolution_note", "resolved_at"])
    audit_record(actor=actor, action="review.flag_dismissed", target_type="case",
                 target_id=flag.case_id, detail={"flag": flag.pk})
    return flag


def _checked_label(phase: Phase, value: Any) -> str:
    challenge = phase.challenge
    if challenge.task_type not in LABEL_TASKS:
        raise DomainError("truth_not_a_label", _(
            "Masks and lesions are corrected by importing them again on the data page."))
    if value not in challenge.labels:
        raise DomainError("bad_label", _("Choose one of the labels: %(labels)s.") % {
            "labels": ", ".join(challenge.labels)})
    return str(value)


@transaction.atomic
def truth_correct_from_flag(*, actor: User, flag: CaseFlag, value: Any, note: str = "",
                            reevaluate: bool = False) -> int:
    """A society admin corrects the flagged case's ground truth (label tasks): a new truth
    version; every open flag on the case is resolved with it. With `reevaluate`, every
    submission is re-scored against it after the commit. Returns the new truth version."""
    phase = flag.case.phase
    _require_admin(actor, phase)
    flag = _locked_open_flag(flag)
    label = _checked_label(phase, value)
    note = _text(note, "note_too_long")
    before = phase.truth_version
    version = truth_correct(phase=phase, case_id=flag.case.case_id, value=label, actor=actor,
                            reason=note or flag.reason, context={"flag": flag.pk})
    if version == before:
        raise DomainError("truth_unchanged", _(
            "That is the current ground truth already; dismiss the flag to keep it."))
    phase.truth_version = version
    resolved = CaseFlag.objects.filter(case=flag.case, status=FlagStatus.OPEN)
    flag_ids = sorted(resolved.values_list("pk", flat=True))
    resolved.update(status=FlagStatus.RESOLVED, resolved_by=actor, resolution_note=note,
                    truth_version_created=version, resolved_at=timezone.now())
    audit_record(actor=actor, action="review.flag_resolved", target_type="case",
                 target_id=flag.case_id, detail={"flags": flag_ids, "truth_version": version})
    leaderboard_changed(phase_ids=[phase.pk])
    if reevaluate:
        phase_reevaluate_request(phase=phase, actor=actor)
    return version


@transaction.atomic
def review_settings_update(*, actor: User, phase: Phase, blinded: bool) -> ReviewSettings:
    """A society admin shows submissions blinded (Algorithm A, B, …) or by team."""
    _require_admin(actor, phase)
    settings, _created = ReviewSettings.objects.update_or_create(
        phase=phase, defaults={"blinded": blinded, "updated_by": actor})
    audit_record(actor=actor, action="review.settings_changed", target_type="phase",
                 target_id=phase.pk, detail={"blinded": blinded})
    return settings


@transaction.atomic
def conflict_declare(*, actor: User, team_slug: str, note: str = "") -> ConflictOfInterest:
    """Declare a conflict of interest with a team: its submissions leave the actor's review.
    A declaration is kept (withdrawing one is for operators, in the admin site)."""
    if not actor.is_authenticated:
        raise Forbidden("not_signed_in", _("Please sign in."))
    team = Team.objects.filter(slug=(team_slug or "").strip()).first()
    if team is None:
        raise DomainError("team_not_found", _("There is no team “%(team)s”.") % {
            "team": (team_slug or "")[:64]})
    note = (note or "").strip()
    if len(note) > 200:
        raise DomainError("note_too_long", _("Write at most %(n)d characters.") % {"n": 200})
    conflict, created = ConflictOfInterest.objects.get_or_create(
        user=actor, team=team, defaults={"note": note})
    if created:
        audit_record(actor=actor, action="review.conflict_declared", target_type="team",
                     target_id=team.pk, detail={})
    return conflict
