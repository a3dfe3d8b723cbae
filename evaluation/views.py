"""Web pages for images, submissions and leaderboards. Thin: services and selectors decide."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.models import Team
from accounts.permissions import teams_of_user
from challenges.errors import ChallengeNotFound
from challenges.selectors import access_phase_by_user
from config.errors import DomainError, Forbidden
from evaluation.selectors import (
    access_submission_by_user,
    images_of_user,
    leaderboard_for,
    submission_team_view,
    submissions_of_user,
)
from evaluation.services import image_upload, submission_create


def leaderboard(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    try:
        phase_obj = access_phase_by_user(request.user, slug, phase)
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc
    try:
        entries, hidden_reason = leaderboard_for(request.user, phase_obj), ""
    except Forbidden as exc:
        entries, hidden_reason = [], exc.message
    return render(request, "evaluation/leaderboard.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge, "entries": entries,
        "hidden_reason": hidden_reason,
    })


@login_required
def my_submissions(request: HttpRequest) -> HttpResponse:
    views = [submission_team_view(s) for s in submissions_of_user(request.user)[:200]]
    return render(request, "evaluation/my_submissions.html", {"submissions": views})


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        submission = access_submission_by_user(request.user, pk)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    return render(request, "evaluation/submission_detail.html",
                  {"s": submission_team_view(submission)})


def _team_of_request(request: HttpRequest) -> Team | None:
    slug = request.POST.get("team", "")
    return next((t for t in teams_of_user(request.user) if t.slug == slug), None)


@login_required
def image_upload_view(request: HttpRequest) -> HttpResponse:
    teams = teams_of_user(request.user)
    if request.method == "POST":
        team, upload = _team_of_request(request), request.FILES.get("file")
        if team is None or upload is None:
            messages.error(request, _("Choose one of your teams and a docker save tarball."))
        else:
            try:
                image = image_upload(team=team, user=request.user,  # type: ignore[arg-type]
                                     source=upload)  # type: ignore[arg-type]
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Image %(id)s is ready.") % {"id": image.image_id[:19]})
                return redirect("evaluation:image-upload")
    return render(request, "evaluation/image_upload.html",
                  {"teams": teams, "images": images_of_user(request.user)})


@login_required
def submit(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    try:
        phase_obj = access_phase_by_user(request.user, slug, phase)
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc
    images = images_of_user(request.user)
    if request.method == "POST":
        team = _team_of_request(request)
        image = images.filter(pk=request.POST.get("image") or 0).first()
        if team is None or image is None:
            messages.error(request, _("Choose one of your teams and one of its images."))
        else:
            try:
                submission = submission_create(user=request.user,  # type: ignore[arg-type]
                                               team=team, phase=phase_obj, image=image)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("Submission %(id)d is queued.") % {"id": submission.pk})
                return redirect("evaluation:my-submissions")
    return render(request, "evaluation/submit.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge,
        "teams": teams_of_user(request.user), "images": images,
    })
