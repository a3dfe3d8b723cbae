"""Writes for people, societies and teams, second-factor devices and API tokens."""

import secrets
import time
from datetime import timedelta

import django_otp
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from accounts.errors import InvalidCredentials, TwoFactorCodeRejected, TwoFactorSetupRequired
from accounts.models import (
    ApiToken,
    Society,
    SocietyMembership,
    Team,
    TeamMembership,
    TeamRole,
    User,
)
from accounts.permissions import can_reset_two_factor, is_team_lead, needs_two_factor
from accounts.selectors import api_token_hash, confirmed_device_of
from audit.services import audit_record
from config.errors import Conflict, DomainError, Forbidden, NotFound


@transaction.atomic
def user_ensure(*, username: str, password: str, email: str = "", is_staff: bool = False) -> User:
    """Create the user, or reset the password and staff flag of an existing one."""
    user, _created = User.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.is_staff = is_staff
    user.is_superuser = is_staff
    user.save()
    return user


@transaction.atomic
def society_ensure(*, slug: str, name: str) -> Society:
    society, _created = Society.objects.update_or_create(slug=slug, defaults={"name": name})
    return society


@transaction.atomic
def team_ensure(*, slug: str, name: str, affiliation: str = "") -> Team:
    team, _created = Team.objects.update_or_create(
        slug=slug, defaults={"name": name, "affiliation": affiliation}
    )
    return team


@transaction.atomic
def society_member_add(*, society: Society, user: User, role: str) -> SocietyMembership:
    membership, _created = SocietyMembership.objects.get_or_create(society=society, user=user, role=role)
    return membership


@transaction.atomic
def team_member_add(*, team: Team, user: User, role: str = "member") -> TeamMembership:
    """Set-up scripts (demo, tests): make `user` a member with `role`. People use the services
    below, which check who asks."""
    membership, _created = TeamMembership.objects.update_or_create(
        team=team, user=user, defaults={"role": role}
    )
    return membership


# --- team members, managed by their leads (who invite: accounts.services_invitations) -------

def team_locked_for_lead(team: Team, actor: User) -> None:
    """Serialise membership changes of one team (the last-lead rule), for its leads only."""
    Team.objects.select_for_update().get(pk=team.pk)
    if not is_team_lead(actor, team):
        raise Forbidden("not_a_team_lead", _("Only the team's leads manage its members."))


def checked_role(role: str) -> str:
    if role not in TeamRole.values:
        raise DomainError("bad_role", _("A team role is one of: %(roles)s.")
                          % {"roles": ", ".join(TeamRole.values)})
    return role


def _membership(team: Team, username: str) -> TeamMembership:
    membership = TeamMembership.objects.select_related("user").filter(
        team=team, user__username=username).first()
    if membership is None:
        raise NotFound("not_a_member", _("%(user)s is not a member of team %(team)s.")
                       % {"user": username[:150], "team": team.slug})
    return membership


def _refuse_losing_last_lead(membership: TeamMembership) -> None:
    others = TeamMembership.objects.filter(team=membership.team_id, role=TeamRole.LEAD).exclude(
        pk=membership.pk)
    if membership.role == TeamRole.LEAD and not others.exists():
        raise Conflict("last_lead", _(
            "A team needs a lead: make another member a lead first."))


def member_audit(actor: User, action: str, membership: TeamMembership, **detail: str) -> None:
    audit_record(actor=actor, action=action, target_type="team", target_id=membership.team.slug,
                 detail={"user": membership.user.username, "role": membership.role, **detail})


@transaction.atomic
def team_membership_role_change(*, team: Team, actor: User, username: str,
                                role: str) -> TeamMembership:
    """A lead makes a member a lead or a lead a member; the team keeps at least one lead."""
    team_locked_for_lead(team, actor)
    role = checked_role(role)
    membership = _membership(team, username)
    if membership.role == role:
        return membership
    if role != TeamRole.LEAD:
        _refuse_losing_last_lead(membership)
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    member_audit(actor, "team.member_role", membership, previous=previous)
    return membership


@transaction.atomic
def team_membership_remove(*, team: Team, actor: User, username: str) -> None:
    """A lead removes a member (themselves included, while another lead remains)."""
    team_locked_for_lead(team, actor)
    membership = _membership(team, username)
    _refuse_losing_last_lead(membership)
    member_audit(actor, "team.member_remove", membership)
    membership.delete()


@transaction.atomic
def team_membership_leave(*, team: Team, actor: User) -> None:
    """A member leaves the team; the last lead cannot (they hand the lead on first)."""
    Team.objects.select_for_update().get(pk=team.pk)
    membership = _membership(team, actor.username)
    _refuse_losing_last_lead(membership)
    member_audit(actor, "team.member_leave", membership)
    membership.delete()


# --- two-factor authentication (TOTP) ---------------------------------------------------------

def otp_new_key() -> str:
    """A fresh hex-encoded TOTP secret (20 bytes), kept in the session until it is confirmed."""
    return random_hex(20)


def otp_pending_device(*, user: User, key: str) -> TOTPDevice:
    """An unsaved device for `key`: what the setup page shows (QR code, secret) before confirming."""
    return TOTPDevice(user=user, key=key, name="default", confirmed=False)


@transaction.atomic
def otp_device_confirm(*, user: User, key: str, code: str) -> TOTPDevice:
    """Store `key` as the user's confirmed device if `code` is its current code.

    The accepted time step is remembered, so the same code cannot be used again to sign in.
    """
    if confirmed_device_of(user) is not None:
        raise TwoFactorCodeRejected("otp_already_set_up", _(
            "Two-factor authentication is already set up for this account."))
    device = otp_pending_device(user=user, key=key)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not _is_code(code) or not totp.verify(int(code), device.tolerance):
        raise TwoFactorCodeRejected("otp_invalid", _(
            "That code is not correct. Enter the 6-digit code your authenticator app shows now "
            "(check that the clock of your phone is right)."))
    TOTPDevice.objects.filter(user=user).delete()
    device.confirmed = True
    device.last_t = totp.t()
    device.save()
    audit_record(actor=user, action="accounts.otp_device_confirmed", target_type="user",
                 target_id=user.pk)
    return device


def otp_verify(*, user: User, code: str, channel: str = "web") -> TOTPDevice:
    """The user's device if `code` is its current, unused code; otherwise TwoFactorCodeRejected.

    Wrong codes are throttled by the device (exponential back-off) and recorded in the audit log.
    """
    device = confirmed_device_of(user)
    if device is None:
        raise TwoFactorSetupRequired("otp_setup_required", _(
            "Set up two-factor authentication first."))
    allowed, why = device.verify_is_allowed()
    if not allowed:
        _otp_failure(user, channel, "throttled")
        wait = max(1, int(((why or {}).get("locked_until", timezone.now())
                           - timezone.now()).total_seconds()) + 1)
        raise TwoFactorCodeRejected("otp_throttled", _(
            "Too many wrong codes. Wait %(seconds)d seconds, then enter the current code.")
            % {"seconds": wait})
    verified = _is_code(code) and django_otp.verify_token(user, device.persistent_id, code)
    if not verified:
        _otp_failure(user, channel, "wrong code")
        raise TwoFactorCodeRejected("otp_invalid", _(
            "That code is not correct or was already used. Enter the 6-digit code your "
            "authenticator app shows now."))
    return device


def _is_code(code: str) -> bool:
    return code.isdigit() and 6 <= len(code) <= 8


def _otp_failure(user: User, channel: str, reason: str) -> None:
    audit_record(actor=user, action="accounts.otp_verify_failed", target_type="user",
                 target_id=user.pk, detail={"channel": channel, "reason": reason})


@transaction.atomic
def otp_device_reset(*, actor: User, user: User) -> int:
    """Remove the user's devices: they set up a new one at their next sign-in. Returns how many."""
    if not can_reset_two_factor(actor, user):
        raise Forbidden("otp_reset_forbidden", _(
            "Only operators and the admins of the user's society can reset their device."))
    removed, _by_model = TOTPDevice.objects.filter(user=user).delete()
    audit_record(actor=actor, action="accounts.otp_device_reset", target_type="user",
                 target_id=user.pk, detail={"devices": removed})
    return removed


# --- API tokens -------------------------------------------------------------------------------

API_TOKEN_TOUCH_SECONDS = 60


@transaction.atomic
def api_token_create(*, user: User, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token and its raw key. Only the key's SHA-256 is stored: show the key now, once."""
    days = settings.ENCLAVE_API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= settings.ENCLAVE_API_TOKEN_MAX_DAYS:
        raise DomainError("token_days", _("A token lives from 1 to %(max)d days.")
                          % {"max": settings.ENCLAVE_API_TOKEN_MAX_DAYS})
    name = name.strip() or _("API token")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=key[:8], key_hash=api_token_hash(key),
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(actor=user, action="accounts.api_token_created", target_type="api_token",
                 target_id=token.pk, detail={"name": token.name, "prefix": token.prefix,
                                             "expires_at": token.expires_at.isoformat()})
    return token, key


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke the token from now on (idempotent). Callers find it with access_api_token_by_user."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="accounts.api_token_revoked", target_type="api_token",
                     target_id=token.pk, detail={"prefix": token.prefix})
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record use, at most once a minute per token so that busy clients do not write every call."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= (
            API_TOKEN_TOUCH_SECONDS):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def api_token_obtain(*, request: HttpRequest | None, username: str, password: str, code: str,
                     name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Sign in with password (and one-time code where the user has or needs one) for a new token.

    Every failure reads the same, whether the user exists or not, the password or the code was
    wrong. Only a user with the right password who must set up two-factor authentication first
    is told so.
    """
    refused = InvalidCredentials("invalid_credentials", _(
        "The user name, password or one-time code is not correct."))
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, User):
        raise refused
    if confirmed_device_of(user) is not None:
        try:
            otp_verify(user=user, code=code.strip(), channel="api")
        except TwoFactorCodeRejected as exc:
            raise refused from exc
    elif needs_two_factor(user):
        raise TwoFactorSetupRequired("otp_setup_required", _(
            "Set up two-factor authentication first: sign in once on the web site, then ask "
            "for a token again."))
    return api_token_create(user=user, name=name, days=days)
