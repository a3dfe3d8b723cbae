"""Reads for accounts: second-factor devices, API tokens and the caller's teams."""

import hashlib

from django.db.models import Case, CharField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.errors import ApiTokenNotFound, TeamNotFound
from accounts.models import ApiToken, Team, TeamMembership, User
from accounts.permissions import AnyUser


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
