"""Web pages: two-factor setup and verification, device reset, API tokens, the user's teams and
their members. Thin: services decide."""

import base64
import functools
from binascii import unhexlify
from collections.abc import Callable
from urllib.parse import urlencode

import django_otp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.forms import (
    ApiTokenCreateForm,
    OtpCodeForm,
    OtpResetForm,
    TeamInviteForm,
    TeamRoleForm,
)
from accounts.models import TeamMembership, TeamRole, User
from accounts.permissions import may_reset_two_factor, needs_two_factor
from accounts.selectors import (
    access_api_token_by_user,
    access_team_by_member,
    api_tokens_of,
    confirmed_device_of,
    invitations_for_user,
    memberships_of_user,
    open_invitations_of_team,
    team_members,
)
from accounts.services import (
    api_token_create,
    api_token_revoke,
    otp_device_confirm,
    otp_device_reset,
    otp_new_key,
    otp_pending_device,
    otp_verify,
    team_membership_leave,
    team_membership_remove,
    team_membership_role_change,
)
from accounts.services_invitations import INVITATION_DAYS
from config.errors import DomainError

SETUP_KEY_SESSION = "accounts.otp_setup_key"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _qr_svg(text: str) -> str:
    """The QR code of `text` as an inline SVG element (no script, no external image)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=15)
    svg: str = image.to_string(encoding="unicode")
    return svg


def _is_verified(user: object) -> bool:
    return bool(getattr(user, "is_verified", lambda: False)())


def _to(view: str, request: HttpRequest) -> str:
    """The URL of `view`, passing the page to return to on."""
    return f"{resolve_url(view)}?{urlencode({'next': _next_url(request)})}"


def _grouped(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


@never_cache
@login_required
def otp_setup(request: HttpRequest) -> HttpResponse:
    """Show a new secret as QR code and text; store the device once a code from it is entered."""
    user = request.user
    assert isinstance(user, User)
    if confirmed_device_of(user) is not None:
        if _is_verified(user):
            messages.info(request, _("Two-factor authentication is already set up."))
            return redirect(_next_url(request))
        return redirect(_to("accounts:otp-verify", request))
    key = request.session.get(SETUP_KEY_SESSION) or otp_new_key()
    request.session[SETUP_KEY_SESSION] = key
    form = OtpCodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            device = otp_device_confirm(user=user, key=key, code=form.cleaned_data["code"])
        except DomainError as exc:
            error = exc.message
        else:
            del request.session[SETUP_KEY_SESSION]
            django_otp.login(request, device)
            messages.success(request, _("Two-factor authentication is set up. From now on, "
                                        "sign in with your password and a code."))
            return redirect(_next_url(request))
    pending = otp_pending_device(user=user, key=key)
    secret = base64.b32encode(unhexlify(key)).decode()
    return render(request, "accounts/otp_setup.html", {
        "form": form, "error": error, "next": _next_url(request),
        "qr_svg": mark_safe(_qr_svg(pending.config_url)),  # noqa: S308 - generated here, no input markup
        "secret": _grouped(secret), "required": needs_two_factor(user),
    })


@never_cache
@login_required
def otp_verify_view(request: HttpRequest) -> HttpResponse:
    """Ask for the current code after password sign-in."""
    user = request.user
    assert isinstance(user, User)
    if confirmed_device_of(user) is None:
        if needs_two_factor(user):
            return redirect(_to("accounts:otp-setup", request))
        return redirect(_next_url(request))
    if _is_verified(user):
        return redirect(_next_url(request))
    form = OtpCodeForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            device = otp_verify(user=user, code=form.cleaned_data["code"])
        except DomainError as exc:
            error = exc.message
        else:
            django_otp.login(request, device)
            return redirect(_next_url(request))
    return render(request, "accounts/otp_verify.html", {
        "form": form, "error": error, "next": _next_url(request)})


@login_required
def otp_reset_view(request: HttpRequest) -> HttpResponse:
    """Operators and society admins remove a user's device (lost phone); they set up a new one."""
    if not may_reset_two_factor(request.user):
        raise PermissionDenied(_("Only operators and society admins can reset devices."))
    form = OtpResetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        target = User.objects.filter(username=form.cleaned_data["username"]).first()
        actor = request.user
        assert isinstance(actor, User)
        try:
            if target is None:
                raise DomainError("no_such_user", _("There is no user with that name."))
            removed = otp_device_reset(actor=actor, user=target)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _(
                "%(user)s's two-factor device was reset (%(count)d removed). They set up a new "
                "one at their next sign-in.") % {"user": target.username, "count": removed})
            return redirect("accounts:otp-reset")
    return render(request, "accounts/otp_reset.html", {"form": form})


@never_cache
@login_required
def api_tokens_view(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; create one (its key is shown on this response only)."""
    user = request.user
    assert isinstance(user, User)
    form = ApiTokenCreateForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, key = api_token_create(user=user, name=form.cleaned_data["name"],
                                          days=form.cleaned_data["days"])
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            created = {"token": token, "key": key}
            form = ApiTokenCreateForm()
    return render(request, "accounts/api_tokens.html", {
        "form": form, "created": created, "tokens": api_tokens_of(user),
        "has_device": confirmed_device_of(user) is not None,
        "required": needs_two_factor(user),
    })


@require_POST
@login_required
def api_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    try:
        token = api_token_revoke(actor=user, token=access_api_token_by_user(user, pk))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The token %(prefix)s… is revoked.") % {
            "prefix": token.prefix})
    return redirect("accounts:api-tokens")


# --- the user's teams -------------------------------------------------------------------------

def membership_or_404(request: HttpRequest, slug: str) -> TeamMembership:
    try:
        return access_team_by_member(request.user, slug)
    except DomainError as exc:
        raise Http404(exc.message) from exc


def form_errors(form: Form) -> str:
    """Every problem of an invalid form, each with the label of its field."""
    return " ".join(f"{form.fields[name].label}: {error}" if name in form.fields else str(error)
                    for name, errors in form.errors.items() for error in errors)


@login_required
def teams_view(request: HttpRequest) -> HttpResponse:
    """The user's teams and their role in each."""
    return render(request, "accounts/teams.html", {
        "memberships": memberships_of_user(request.user),
        "n_invitations": invitations_for_user(request.user).count()})


@login_required
def team_detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    """A team's members (leads manage them here) and its registrations, for its members only."""
    membership = membership_or_404(request, slug)
    is_lead = membership.role == TeamRole.LEAD
    return render(request, "accounts/team_detail.html", {
        "team": membership.team, "membership": membership, "is_lead": is_lead,
        "members": team_members(membership.team),
        "invite_form": TeamInviteForm(), "roles": TeamRole.choices,
        "invitations": open_invitations_of_team(membership.team) if is_lead else [],
        "invitation_days": INVITATION_DAYS,
    })


def team_action(request: HttpRequest, slug: str, form: Form | None,
                 action: Callable[..., object], done: str) -> HttpResponse:
    """Run a membership change on the user's team, then show the team's page with a message."""
    membership = membership_or_404(request, slug)
    if form is not None and not form.is_valid():
        messages.error(request, form_errors(form))
        return redirect("accounts:team-detail", slug=slug)
    try:
        action(team=membership.team, actor=request.user,
               **(form.cleaned_data if form is not None else {}))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("accounts:team-detail", slug=slug)


@require_POST
@login_required
def team_member_role_view(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    form = TeamRoleForm(request.POST)
    return team_action(request, slug, form, functools.partial(
        team_membership_role_change, username=username), _(
        "The role of %(user)s is changed.") % {"user": username[:150]})


@require_POST
@login_required
def team_member_remove_view(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    return team_action(request, slug, None, functools.partial(
        team_membership_remove, username=username), _(
        "%(user)s is no longer a member of the team.") % {"user": username[:150]})


@require_POST
@login_required
def team_leave_view(request: HttpRequest, slug: str) -> HttpResponse:
    membership = membership_or_404(request, slug)
    try:
        team_membership_leave(team=membership.team, actor=request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:team-detail", slug=slug)
    messages.success(request, _("You have left team %(team)s.") % {"team": membership.team.slug})
    return redirect("accounts:teams")
