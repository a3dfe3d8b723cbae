"""Writes for team registrations: a team asks to take part in a challenge, the society decides,
the team may withdraw. Every change is audited."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, TeamMembership, User
from accounts.permissions import AnyUser, can_manage_society, is_team_member
from audit.services import audit_record
from challenges.models import Challenge, Registration, RegistrationMode, RegistrationStatus
from config.errors import Conflict, DomainError, Forbidden

MAX_REGISTRATION_TEXT = 2000
_ACTIVE = (RegistrationStatus.PENDING, RegistrationStatus.APPROVED)


def _registration_audit(registration: Registration, actor: User | None, action: str) -> None:
    audit_record(actor=actor, action=action, target_type="registration",
                 target_id=registration.pk, detail={
                     "challenge": registration.challenge.slug, "team": registration.team.slug,
                     "status": registration.status})


def _checked_text(text: str, code: str) -> str:
    text = text.strip()
    if len(text) > MAX_REGISTRATION_TEXT:
        raise DomainError(code, _("Write at most %(n)d characters.") % {"n": MAX_REGISTRATION_TEXT})
    return text


@transaction.atomic
def registration_request(*, challenge: Challenge, team: Team, actor: User,
                         message: str = "") -> Registration:
    """A member asks for the team to take part in a published challenge. In open registration
    the team is approved at once; otherwise the request waits for the society. A team that was
    rejected or withdrew may ask again; a pending or approved team is told so (409)."""
    if not is_team_member(actor, team):
        raise Forbidden("not_a_team_member", _("You are not a member of this team."))
    if not challenge.is_published:
        raise Conflict("challenge_not_published", _("The challenge is not published."))
    message = _checked_text(message, "message_too_long")
    Team.objects.select_for_update().get(pk=team.pk)  # one request of a team at a time
    registration = Registration.objects.filter(challenge=challenge, team=team).first()
    if registration is not None and registration.status in _ACTIVE:
        raise Conflict("already_registered", _(
            "Team %(team)s is already registered for this challenge (%(status)s).") % {
            "team": team.slug, "status": registration.get_status_display()})
    if registration is None:
        registration = Registration(challenge=challenge, team=team)
    is_open = challenge.registration_mode == RegistrationMode.OPEN
    registration.status = RegistrationStatus.APPROVED if is_open else RegistrationStatus.PENDING
    registration.message = message
    registration.requested_by = actor
    registration.decided_by = None
    registration.decision_reason = ""
    registration.decided_at = timezone.now() if is_open else None
    registration.save()
    _registration_audit(registration, actor, "registration.request")
    return registration


@transaction.atomic
def registration_decide(*, registration: Registration, actor: User, approve: bool,
                        reason: str = "") -> Registration:
    """A society admin (or an operator) approves or rejects a team. A decision may be changed
    later (an approved team can be rejected and the other way round); a withdrawn registration
    cannot be decided until the team asks again. Nobody decides the registration of a team they
    are a member of (conflict of interest; see `teams_not_decidable_by`)."""
    if not can_manage_society(actor, registration.challenge.society):
        raise Forbidden("not_a_society_admin", _(
            "Only the society's admins and operators decide registrations."))
    if is_team_member(actor, registration.team):
        raise Forbidden("conflict_of_interest", _(
            "You are a member of team %(team)s: another admin of the society decides its "
            "registration.") % {"team": registration.team.slug})
    reason = _checked_text(reason, "reason_too_long")
    registration = Registration.objects.select_for_update().select_related(
        "challenge", "team").get(pk=registration.pk)
    if registration.status == RegistrationStatus.WITHDRAWN:
        raise Conflict("registration_withdrawn", _("The team has withdrawn this registration."))
    registration.status = RegistrationStatus.APPROVED if approve else RegistrationStatus.REJECTED
    registration.decided_by = actor
    registration.decision_reason = reason
    registration.decided_at = timezone.now()
    registration.save(update_fields=["status", "decided_by", "decision_reason", "decided_at"])
    _registration_audit(registration, actor, "registration.decide")
    return registration


def teams_not_decidable_by(actor: AnyUser) -> set[int]:
    """Ids of the teams whose registrations `actor` may not decide for a conflict of interest
    (their own teams), for lists that show who may decide what."""
    if not actor.is_authenticated:
        return set()
    return set(TeamMembership.objects.filter(user=actor).values_list("team_id", flat=True))


@transaction.atomic
def registration_withdraw(*, registration: Registration, actor: User) -> Registration:
    """A member takes the team out of a challenge (a pending or approved registration). Queued
    submissions still run; new ones are refused until the team is approved again."""
    if not is_team_member(actor, registration.team):
        raise Forbidden("not_a_team_member", _("You are not a member of this team."))
    registration = Registration.objects.select_for_update().select_related(
        "challenge", "team").get(pk=registration.pk)
    if registration.status not in _ACTIVE:
        raise Conflict("registration_not_active", _(
            "Only a pending or approved registration can be withdrawn."))
    registration.status = RegistrationStatus.WITHDRAWN
    registration.save(update_fields=["status"])
    _registration_audit(registration, actor, "registration.withdraw")
    return registration


@transaction.atomic
def registration_ensure_approved(*, challenge: Challenge, team: Team,
                                 actor: User | None = None) -> Registration:
    """Set-up scripts (the demo world): the team's registration, approved, whatever it was
    before. Idempotent; audited when it changes anything."""
    registration, created = Registration.objects.select_for_update().get_or_create(
        challenge=challenge, team=team, defaults={"status": RegistrationStatus.APPROVED,
                                                  "decided_by": actor,
                                                  "decided_at": timezone.now()})
    if not created and registration.status == RegistrationStatus.APPROVED:
        return registration
    if not created:
        registration.status = RegistrationStatus.APPROVED
        registration.decided_by = actor
        registration.decided_at = timezone.now()
        registration.save(update_fields=["status", "decided_by", "decided_at"])
    _registration_audit(registration, actor, "registration.approve_setup")
    return registration
