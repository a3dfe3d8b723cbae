"""Reads for accounts: second-factor devices, API tokens, the caller's teams and team
invitations."""

import hashlib

from django.db.models import Case, CharField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.errors import ApiTokenNotFound, InvitationNotFound, TeamNotFound
from accounts.models import (
    ApiToken,
    InvitationStatus,
    Team,
    TeamInvitation,
    TeamMembership,
    User,
)
from accounts.permissions import AnyUser, is_team_lead
from config.errors import Forbidden

OPEN_FOR_LEADS = (InvitationStatus.PENDING, InvitationStatus.DECLINED)


def api_token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def confirmed_device_of(user: AnyUser) -> TOTPDevice | None:
    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def api_tokens_of(user: AnyUser) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first; revoked and expired ones included, each with `state`
    ("active", "expired" or "revoked")."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    now = timezone.now()
    return ApiToken.objects.filter(user=user).annotate(state=Case(
        When(revoked_at__isnull=False, then=Value("revoked")),
        When(expires_at__lte=now, then=Value("expired")),
        default=Value("active"), output_field=CharField(),
    )).order_by("-created", "-id")


def access_api_token_by_user(user: AnyUser, token_id: int) -> ApiToken:
    """One of the user's own tokens; anyone else's is reported as not found."""
    token = api_tokens_of(user).filter(pk=token_id).first()
    if token is None:
        raise ApiTokenNotFound("token_not_found", _("No such API token."))
    return token


def api_token_by_key(key: str) -> ApiToken | None:
    """The token with this raw key, whatever its state, with its user."""
    return ApiToken.objects.select_related("user").filter(key_hash=api_token_hash(key)).first()


def user_by_username(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def memberships_of_user(user: AnyUser) -> QuerySet[TeamMembership]:
    """The user's own team memberships (each with its team), by team slug."""
    if not user.is_authenticated:
        return TeamMembership.objects.none()
    return TeamMembership.objects.select_related("team").filter(user=user).order_by("team__slug")


def access_team_by_member(user: AnyUser, slug: str) -> TeamMembership:
    """The user's membership of team `slug`; a team they are not in reads as not found."""
    membership = memberships_of_user(user).filter(team__slug=slug).first()
    if membership is None:
        raise TeamNotFound("team_not_found", _("You have no team named “%(slug)s”.")
                           % {"slug": slug[:80]})
    return membership


def team_members(team: Team) -> QuerySet[TeamMembership]:
    """A team's members, leads first (for the team's own members to see)."""
    return TeamMembership.objects.select_related("user").filter(team=team).order_by(
        "role", "user__username")


# --- team invitations -------------------------------------------------------------------------

def invitations_for_user(user: AnyUser) -> QuerySet[TeamInvitation]:
    """The invitations the user may still accept or decline (pending, not expired), newest
    first, each with its team and who invited."""
    if not user.is_authenticated:
        return TeamInvitation.objects.none()
    return TeamInvitation.objects.select_related("team", "invited_by").filter(
        user=user, status=InvitationStatus.PENDING, expires_at__gt=timezone.now())


def access_invitation_by_invitee(user: AnyUser, pk: int) -> TeamInvitation:
    """One of the user's open invitations; any other (someone else's, expired, decided) reads as
    not found."""
    invitation = invitations_for_user(user).filter(pk=pk).first()
    if invitation is None:
        raise InvitationNotFound("invitation_not_found", _("No such invitation."))
    return invitation


def open_invitations_of_team(team: Team) -> QuerySet[TeamInvitation]:
    """The team's invitations that have not been accepted, revoked or expired, for its leads.

    A declined invitation stays listed (as open) until it expires: the leads learn nothing
    about whether the invitee has an account, or what they answered, until they join."""
    return TeamInvitation.objects.select_related("invited_by").filter(
        team=team, status__in=OPEN_FOR_LEADS, expires_at__gt=timezone.now())


def access_team_invitation(team: Team, pk: int) -> TeamInvitation:
    """One of the team's open invitations (see `open_invitations_of_team`)."""
    invitation = open_invitations_of_team(team).filter(pk=pk).first()
    if invitation is None:
        raise InvitationNotFound("invitation_not_found", _("No such invitation."))
    return invitation


def open_invitations_for_lead(user: AnyUser, team: Team) -> QuerySet[TeamInvitation]:
    """`open_invitations_of_team` for one of the team's leads; anyone else is refused."""
    if not is_team_lead(user, team):
        raise Forbidden("not_a_team_lead", _("Only the team's leads manage its members."))
    return open_invitations_of_team(team)
