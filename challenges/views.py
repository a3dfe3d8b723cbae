"""Web pages for challenges. Thin: selectors decide what the visitor may see."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import can_see_hidden_data, teams_of_user
from challenges.errors import ChallengeNotFound
from challenges.selectors import access_challenge_by_user, challenges_visible_to, phases_of
from challenges.views_registration import registration_panel


def challenge_list(request: HttpRequest) -> HttpResponse:
    challenges = challenges_visible_to(request.user)
    return render(request, "challenges/list.html", {"challenges": challenges})


def challenge_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        challenge = access_challenge_by_user(request.user, slug)
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc
    teams = teams_of_user(request.user)
    return render(request, "challenges/detail.html", {
        "challenge": challenge, "phases": phases_of(challenge), "teams": teams,
        "can_see_runs": can_see_hidden_data(request.user, challenge.society),
        **registration_panel(request.user, challenge),
    })
