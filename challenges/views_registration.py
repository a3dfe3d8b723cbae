"""Web pages for team registrations: the panel on a challenge's page (a team asks to take part,
sees its status, withdraws) and the society's list of requests (admins and operators decide).
Thin: the selectors decide who sees what, the services who may do what."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.permissions import AnyUser, can_manage_society, teams_of_user
from challenges.errors import ChallengeNotFound
from challenges.forms_registration import RegistrationDecisionForm, RegistrationRequestForm
from challenges.models import Challenge, Registration, RegistrationStatus
from challenges.selectors import (
    access_challenge_by_user,
    access_registration_by_user,
    can_view_registrations,
    registrations_for_challenge,
)
from challenges.services_registration import (
    registration_decide,
    registration_request,
    registration_withdraw,
    teams_not_decidable_by,
)
from config.errors import DomainError
from config.form_text import form_errors


def registration_panel(user: AnyUser, challenge: Challenge) -> dict[str, Any]:
    """What the challenge page shows about registration: the user's teams with their
    registrations, the request form for teams that may (re-)apply, and whether the user may
    open the society's list."""
    teams = teams_of_user(user)
    if not teams:
        return {"registration_rows": [], "registration_form": None,
                "can_view_registrations": can_view_registrations(user, challenge.society)}
    by_team = {r.team_id: r for r in Registration.objects.filter(
        challenge=challenge, team__in=teams).select_related("team")}
    rows = [(team, by_team.get(team.pk)) for team in teams]
    active = {RegistrationStatus.PENDING, RegistrationStatus.APPROVED}
    may_apply = [team for team, reg in rows if reg is None or reg.status not in active]
    form = (RegistrationRequestForm(teams=may_apply)
            if may_apply and challenge.is_published else None)
    return {"registration_rows": rows, "registration_form": form,
            "can_view_registrations": can_view_registrations(user, challenge.society)}


def _challenge_or_404(request: HttpRequest, slug: str) -> Challenge:
    try:
        return access_challenge_by_user(request.user, slug)
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc


def _registration_or_404(request: HttpRequest, slug: str, pk: int) -> Registration:
    try:
        registration = access_registration_by_user(request.user, pk)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    if registration.challenge.slug != slug:
        raise Http404(_("No such registration."))
    return registration


def _back_to_challenge(slug: str) -> HttpResponse:
    return redirect(reverse("challenges:detail", kwargs={"slug": slug}) + "#registration")


@login_required
@require_POST
def register(request: HttpRequest, slug: str) -> HttpResponse:
    """One of the user's teams asks to take part in the challenge."""
    challenge = _challenge_or_404(request, slug)
    user = request.user
    assert isinstance(user, User)
    teams = teams_of_user(user)
    form = RegistrationRequestForm(request.POST, teams=teams)
    if not form.is_valid():
        messages.error(request, form_errors(form))
        return _back_to_challenge(slug)
    team = next(t for t in teams if t.slug == form.cleaned_data["team"])
    try:
        registration = registration_request(challenge=challenge, team=team, actor=user,
                                            message=form.cleaned_data["message"])
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if registration.status == RegistrationStatus.APPROVED:
            messages.success(request, _("Team %(team)s is registered: you may submit now.")
                             % {"team": team.slug})
        else:
            messages.success(request, _(
                "Team %(team)s has asked to take part; the society will decide.")
                % {"team": team.slug})
    return _back_to_challenge(slug)


@login_required
@require_POST
def registration_withdraw_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    registration = _registration_or_404(request, slug, pk)
    try:
        registration_withdraw(registration=registration, actor=request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Team %(team)s has withdrawn from this challenge.")
                         % {"team": registration.team.slug})
    if request.POST.get("next") == "team":  # the form on the team's page
        return redirect("accounts:team-detail", slug=registration.team.slug)
    return _back_to_challenge(slug)


@login_required
def society_registrations(request: HttpRequest, slug: str) -> HttpResponse:
    """Every registration for the challenge, for the society's roles and operators (404 for
    everyone else); its admins and operators approve or reject here."""
    challenge = _challenge_or_404(request, slug)
    if not can_view_registrations(request.user, challenge.society):
        raise Http404(_("No such page."))
    status = request.GET.get("status", "")
    status = status if status in RegistrationStatus.values else ""
    return render(request, "challenges/registrations.html", {
        "challenge": challenge, "status": status, "statuses": RegistrationStatus.choices,
        "registrations": registrations_for_challenge(request.user, challenge, status=status),
        "can_decide": can_manage_society(request.user, challenge.society),
        "conflicted_teams": teams_not_decidable_by(request.user),
        "decision_form": RegistrationDecisionForm(),
    })


@login_required
@require_POST
def registration_decide_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    registration = _registration_or_404(request, slug, pk)
    form = RegistrationDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
    else:
        approve = form.cleaned_data["decision"] == "approve"
        try:
            registration_decide(registration=registration, actor=request.user,  # type: ignore[arg-type]
                                approve=approve, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, (
                _("Team %(team)s is approved.") if approve else _("Team %(team)s is rejected."))
                % {"team": registration.team.slug})
    return redirect("challenges:registrations", slug=slug)
