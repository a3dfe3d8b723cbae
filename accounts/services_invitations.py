"""Team invitations: a lead invites by user name or e-mail address, the invited person accepts
or declines, and only acceptance makes them a member. Every step is audited.

Nobody can be put on a team without their consent (a physician cannot be made a team member to
manufacture a conflict of interest), and inviting tells the lead nothing about whether an
account exists: the same answer, the same stored row and the same audit event, whatever the
name or address names. An invitation that names no account (or names a member, by e-mail) simply
lapses after `INVITATION_DAYS`.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import InvitationStatus, Team, TeamInvitation, TeamMembership, User
from accounts.permissions import is_team_member
from accounts.selectors import open_invitations_of_team
from accounts.services import checked_role, member_audit, team_locked_for_lead
from audit.services import audit_record
from config.errors import Conflict, DomainError

INVITATION_DAYS = 14
MAX_OPEN_INVITATIONS = 50  # per team: enough for any team, too few to probe addresses in bulk


def _invitee_text(invitee: str) -> str:
    text = invitee.strip()
    if not text or len(text) > 254:
        raise DomainError("bad_invitee", _("Enter a user name or an e-mail address (at most 254 "
                                           "characters)."))
    return text


def _invited_user(text: str) -> User | None:
    """The one active account `text` names: its user name or, when it has an @, its e-mail
    address. No account, or several sharing the address: None."""
    match = Q(username=text) | Q(email__iexact=text) if "@" in text else Q(username=text)
    users = list(User.objects.filter(match, is_active=True)[:2])
    return users[0] if len(users) == 1 else None


def _audit(actor: User, action: str, invitation: TeamInvitation, **detail: object) -> None:
    audit_record(actor=actor, action=action, target_type="team", target_id=invitation.team.slug,
                 detail={"invitation": invitation.pk, "invitee": invitation.invitee,
                         "role": invitation.role, **detail})


@transaction.atomic
def team_invitation_create(*, team: Team, actor: User, invitee: str,
                           role: str = "member") -> TeamInvitation:
    """A lead invites someone by user name or e-mail address; see the module docstring.

    Refused only for reasons the lead can see for themselves: not a lead, a bad role, a user
    name that is already on the member list, an open invitation to the same name or address,
    too many open invitations."""
    team_locked_for_lead(team, actor)
    role = checked_role(role)
    text = _invitee_text(invitee)
    if "@" not in text and TeamMembership.objects.filter(team=team, user__username=text).exists():
        raise Conflict("already_a_member", _("%(user)s is already a member of team %(team)s.")
                       % {"user": text, "team": team.slug})
    open_ones = open_invitations_of_team(team)
    if open_ones.filter(invitee__iexact=text).exists():
        raise Conflict("already_invited", _("%(invitee)s has an open invitation already; revoke "
                                            "it first to invite again.") % {"invitee": text})
    if open_ones.count() >= MAX_OPEN_INVITATIONS:
        raise Conflict("too_many_invitations", _(
            "The team has %(n)d open invitations: revoke some before inviting more.")
            % {"n": MAX_OPEN_INVITATIONS})
    user = _invited_user(text)
    if user is not None and is_team_member(user, team):
        user = None  # named by e-mail: nothing to accept, and the lead is not told
    invitation = TeamInvitation.objects.create(
        team=team, invitee=text, user=user, role=role, invited_by=actor,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS))
    _audit(actor, "team.invitation_create", invitation)
    return invitation


@transaction.atomic
def team_invitation_revoke(*, invitation: TeamInvitation, actor: User) -> TeamInvitation:
    """A lead withdraws an open invitation of their team (callers find it with
    `access_team_invitation`)."""
    team_locked_for_lead(invitation.team, actor)
    invitation = TeamInvitation.objects.select_for_update().select_related("team").get(
        pk=invitation.pk)
    if invitation.status not in (InvitationStatus.PENDING, InvitationStatus.DECLINED):
        raise Conflict("invitation_closed", _("This invitation is no longer open."))
    invitation.status = InvitationStatus.REVOKED
    invitation.decided_at = timezone.now()
    invitation.save(update_fields=["status", "decided_at"])
    _audit(actor, "team.invitation_revoke", invitation)
    return invitation


def _answerable(invitation: TeamInvitation, actor: User) -> TeamInvitation:
    """The invitation, locked, when `actor` may still answer it (callers find it with
    `access_invitation_by_invitee`, which already hides everyone else's)."""
    Team.objects.select_for_update().get(pk=invitation.team_id)
    invitation = TeamInvitation.objects.select_for_update().select_related("team").get(
        pk=invitation.pk)
    if (invitation.user_id != actor.pk or invitation.status != InvitationStatus.PENDING
            or invitation.expires_at <= timezone.now()):
        raise Conflict("invitation_closed", _(
            "This invitation is no longer open: it was revoked, answered or has expired."))
    return invitation


@transaction.atomic
def team_invitation_accept(*, invitation: TeamInvitation, actor: User) -> TeamMembership:
    """The invited person joins the team with the invitation's role."""
    invitation = _answerable(invitation, actor)
    if is_team_member(actor, invitation.team):
        raise Conflict("already_a_member", _("You are already a member of team %(team)s.")
                       % {"team": invitation.team.slug})
    invitation.status = InvitationStatus.ACCEPTED
    invitation.decided_at = timezone.now()
    invitation.save(update_fields=["status", "decided_at"])
    membership = TeamMembership.objects.create(team=invitation.team, user=actor,
                                               role=invitation.role)
    _audit(actor, "team.invitation_accept", invitation)
    member_audit(actor, "team.member_add", membership, invitation=str(invitation.pk))
    return membership


@transaction.atomic
def team_invitation_decline(*, invitation: TeamInvitation, actor: User) -> TeamInvitation:
    """The invited person says no. The team's leads are not told (see
    `accounts.selectors.open_invitations_of_team`)."""
    invitation = _answerable(invitation, actor)
    invitation.status = InvitationStatus.DECLINED
    invitation.decided_at = timezone.now()
    invitation.save(update_fields=["status", "decided_at"])
    _audit(actor, "team.invitation_decline", invitation)
    return invitation
