"""The society's data page of a challenge (`challenges.selectors_data`). Thin: the selector
decides who may see it (everyone else gets a 404) and audits the read."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import can_upload_cases
from challenges.errors import ChallengeNotFound
from challenges.selectors import access_challenge_by_user
from challenges.selectors_data import challenge_data_report


def challenge_data(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        challenge = access_challenge_by_user(request.user, slug)
        phases = challenge_data_report(request.user, challenge, via="web")
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "challenges/data.html", {
        "challenge": challenge, "phases": phases,
        "can_review_held": can_upload_cases(request.user, challenge.society)})
