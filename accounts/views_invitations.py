"""Web pages of team invitations: a lead invites and revokes (on the team's page), the invited
person answers on their Invitations page. Thin: `accounts.services_invitations` decides."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import TeamInviteForm
from accounts.models import TeamInvitation, User
from accounts.selectors import (
    access_invitation_by_invitee,
    access_team_invitation,
    invitations_for_user,
)
from accounts.services_invitations import (
    INVITATION_DAYS,
    team_invitation_accept,
    team_invitation_create,
    team_invitation_decline,
    team_invitation_revoke,
)
from accounts.views import membership_or_404, team_action
from config.errors import DomainError


def invitation_sent_message(invitee: str) -> str:
    """What a lead is told after inviting: the same whether or not `invitee` has an account."""
    return _("Invitation recorded for %(invitee)s. If they have an account here, they find it "
             "on their Invitations page and join only when they accept; it expires in %(days)d "
             "days.") % {"invitee": invitee.strip()[:254], "days": INVITATION_DAYS}


@require_POST
@login_required
def team_invite_view(request: HttpRequest, slug: str) -> HttpResponse:
    form = TeamInviteForm(request.POST)
    return team_action(request, slug, form, team_invitation_create,
                       invitation_sent_message(request.POST.get("invitee", "")))


@require_POST
@login_required
def team_invitation_revoke_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    membership = membership_or_404(request, slug)
    try:
        invitation = access_team_invitation(membership.team, pk)
        team_invitation_revoke(invitation=invitation, actor=request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The invitation for %(invitee)s is revoked.") % {
            "invitee": invitation.invitee})
    return redirect("accounts:team-detail", slug=slug)


@login_required
def invitations_view(request: HttpRequest) -> HttpResponse:
    """The user's open invitations, each to accept or decline."""
    return render(request, "accounts/invitations.html", {
        "invitations": invitations_for_user(request.user)})


def _invitation_or_404(request: HttpRequest, pk: int) -> TeamInvitation:
    try:
        return access_invitation_by_invitee(request.user, pk)
    except DomainError as exc:
        raise Http404(exc.message) from exc


def _answer(request: HttpRequest, pk: int, answer: Callable[..., Any]) -> Any:
    """Run `answer` (accept or decline) on one of the user's open invitations; None after a
    refusal, which is shown as a message."""
    invitation = _invitation_or_404(request, pk)
    user = request.user
    assert isinstance(user, User)
    try:
        return answer(invitation=invitation, actor=user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return None


@require_POST
@login_required
def invitation_accept_view(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _answer(request, pk, team_invitation_accept)
    if membership is None:
        return redirect("accounts:invitations")
    messages.success(request, _("You are now a member of team %(team)s.") % {
        "team": membership.team.slug})
    return redirect("accounts:team-detail", slug=membership.team.slug)


@require_POST
@login_required
def invitation_decline_view(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = _answer(request, pk, team_invitation_decline)
    if invitation is not None:
        messages.success(request, _("You declined the invitation to team %(team)s.") % {
            "team": invitation.team.slug})
    return redirect("accounts:invitations")
