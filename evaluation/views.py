"""Web pages for images, submissions and leaderboards. Thin: services and selectors decide."""

import csv
import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Team
from accounts.permissions import can_manage_society, teams_of_user
from challenges.errors import ChallengeNotFound
from challenges.models import Phase
from challenges.selectors import access_phase_by_user, team_is_registered
from config.errors import DomainError, Forbidden
from config.microcache import anonymous_cacheable
from config.throttling import throttled_message, web_wait_seconds
from evaluation.errors import SubmissionNotFound
from evaluation.models import FINAL_STATUSES, Status, Submission
from evaluation.selectors import (
    RUNS_PER_PAGE,
    Leaderboard,
    access_submission_by_user,
    images_of_user,
    leaderboard_cached,
    leaderboard_for,
    leaderboard_rows,
    leaderboard_snapshots,
    leaderboard_version,
    phase_run_for_society,
    phase_run_teams,
    phase_runs_for_society,
    sanity_outputs,
    society_run_view,
    submission_team_view,
    submission_team_views,
    submissions_of_user,
)
from evaluation.selectors.queue import queue_places, quota_of, quotas_of
from evaluation.services import image_upload, submission_cancel, submission_create
from evaluation.services.publication import (
    phase_publish,
    phase_reevaluate_request,
    phase_results_hide,
)
from evaluation.services.rerun import submission_rerun


def _phase_or_404(request: HttpRequest, slug: str, phase: str) -> Phase:
    try:
        return access_phase_by_user(request.user, slug, phase)
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc


@anonymous_cacheable("page")
def leaderboard(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    """The board's HTML and the snapshot list are made once per leaderboard version (and
    language) and cached; they are the same for everyone who may see the board, and hold
    nothing of the viewer's (the page around them, with its CSRF tokens, is rendered per
    request). A cached page costs one query for the phase, plus the viewer's roles when signed in."""
    phase_obj = _phase_or_404(request, slug, phase)
    version = leaderboard_version(phase_obj)
    page = _page_number(request)
    board_html: str  # safe HTML: a rendered template
    try:
        board_html, hidden_reason = leaderboard_cached(
            request.user, phase_obj, f"html:{get_language()}:{slug}:{phase}:{page}",
            lambda board: _board_html(board, page), version=version), ""
    except Forbidden as exc:
        board_html, hidden_reason = "", exc.message
    return render(request, "evaluation/leaderboard.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge, "hidden_reason": hidden_reason,
        "board_html": board_html,
        "snapshots": [] if hidden_reason else leaderboard_snapshots(phase_obj, version=version),
        "is_admin": can_manage_society(request.user, phase_obj.challenge.society),
    })


LEADERBOARD_PAGE_SIZE = 100
# What the upload page's script sends per request to the resumable upload API (static/enclave.js).
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024


def _page_number(request: HttpRequest) -> int:
    """The board page asked for (`?page=`, from 1); anything else reads as the first page."""
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 else 1


def _board_html(board: Leaderboard, page: int) -> str:
    """One page of the board (LEADERBOARD_PAGE_SIZE entries; a page past the end shows the
    last), with links to its neighbours."""
    entries = Paginator(board.entries, LEADERBOARD_PAGE_SIZE).get_page(page)
    return render_to_string("evaluation/_leaderboard_board.html", {
        "board": board, "entries": entries, "phase": board.phase,
        "challenge": board.phase.challenge})


def leaderboard_export(request: HttpRequest, slug: str, phase: str, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "json"):
        raise Http404(_("Export as csv or json."))
    phase_obj = _phase_or_404(request, slug, phase)
    try:
        rows = leaderboard_rows(leaderboard_for(request.user, phase_obj))
    except Forbidden as exc:
        raise Http404(exc.message) from exc
    filename = f"{slug}-{phase}-leaderboard.{fmt}"
    response: HttpResponse
    if fmt == "json":
        response = JsonResponse(rows, safe=False)
    else:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        writer = csv.DictWriter(response, fieldnames=list(rows[0]) if rows else ["rank", "team"])
        writer.writeheader()
        writer.writerows(rows)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def leaderboard_plot(request: HttpRequest, slug: str, phase: str, kind: str) -> HttpResponse:
    phase_obj = _phase_or_404(request, slug, phase)
    try:
        board = leaderboard_for(request.user, phase_obj)
    except Forbidden as exc:
        raise Http404(exc.message) from exc
    svg = ""
    if board.ranking is not None:
        svg = board.ranking.blob_svg if kind == "blob" else board.ranking.significance_svg
    if not svg:
        raise Http404(_("No plot yet."))
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _society_action(request: HttpRequest, slug: str, phase: str,
                    action: Callable[..., object], done: str) -> HttpResponse:
    """Run a society admin's action on a phase; the service checks the role. Back to the
    leaderboard, or to the phase's runs page when the form came from there (`next`)."""
    phase_obj = _phase_or_404(request, slug, phase)
    try:
        action(phase=phase_obj, actor=request.user)
        messages.success(request, done)
    except DomainError as exc:
        messages.error(request, exc.message)
    if request.POST.get("next") == "runs":
        return redirect("evaluation:phase-runs", slug=slug, phase=phase)
    return redirect("evaluation:leaderboard", slug=slug, phase=phase)


@login_required
@require_POST
def publish(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    return _society_action(request, slug, phase, phase_publish,
                           _("Results published; the snapshot is frozen."))


@login_required
@require_POST
def reevaluate(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    return _society_action(request, slug, phase, phase_reevaluate_request,
                           _("Re-evaluation of every submission is queued."))


@login_required
@require_POST
def unpublish(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    return _society_action(request, slug, phase, phase_results_hide,
                           _("Results hidden: a leaderboard shown on publication is for the "
                             "society only until results are published again."))


@login_required
def my_submissions(request: HttpRequest) -> HttpResponse:
    views = submission_team_views(list(submissions_of_user(request.user)[:200]))
    return render(request, "evaluation/my_submissions.html", {"submissions": views})


def _submission_or_404(request: HttpRequest, pk: int) -> Submission:
    try:
        return access_submission_by_user(request.user, pk)
    except DomainError as exc:
        raise Http404(exc.message) from exc


def _status_context(submission: Submission) -> dict[str, Any]:
    """What the submission page's status panel shows, on the page and in its fragment."""
    place = queue_places([submission]).get(submission.pk)
    return {
        "s": submission_team_view(submission, place=place), "place": place,
        "final": submission.status in FINAL_STATUSES,
        "status_label": submission.get_status_display(),
        "failure_label": submission.get_failure_reason_display(),
        "quota": quota_of(submission.phase, submission.team),
    }


@login_required
def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    submission = _submission_or_404(request, pk)
    outputs = sanity_outputs(submission)
    return render(request, "evaluation/submission_detail.html", {
        **_status_context(submission),
        "outputs": None if outputs is None else [
            (case_id, json.dumps(prediction, sort_keys=True)) for case_id, prediction in outputs],
    })


@login_required
def submission_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The submission page's status panel alone, which static/enclave.js fetches every few
    seconds until the submission is final."""
    submission = _submission_or_404(request, pk)
    response = render(request, "evaluation/_submission_status.html", _status_context(submission))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def submission_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        submission = access_submission_by_user(request.user, pk)
        submission_cancel(user=request.user, submission=submission)  # type: ignore[arg-type]
        messages.success(request, _("Submission %(id)d is cancelled.") % {"id": pk})
    except SubmissionNotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("evaluation:submission-detail", pk=pk)


def _team_of_request(request: HttpRequest) -> Team | None:
    slug = request.POST.get("team", "")
    return next((t for t in teams_of_user(request.user) if t.slug == slug), None)


@login_required
def image_upload_view(request: HttpRequest) -> HttpResponse:
    teams = teams_of_user(request.user)
    if request.method == "POST":
        team, upload = _team_of_request(request), request.FILES.get("file")
        if wait := web_wait_seconds(request, scope="uploads"):
            messages.error(request, throttled_message(wait))
        elif team is None or upload is None:
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
                  {"teams": teams, "images": images_of_user(request.user),
                   "chunk_bytes": UPLOAD_CHUNK_BYTES})


@login_required
def submit(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    phase_obj = _phase_or_404(request, slug, phase)
    images = images_of_user(request.user)
    if request.method == "POST":
        team = _team_of_request(request)
        image_ref = request.POST.get("image", "")
        image = (images.filter(pk=int(image_ref)).first()
                 if image_ref.isascii() and image_ref.isdigit() else None)
        if wait := web_wait_seconds(request, scope="submissions"):
            messages.error(request, throttled_message(wait))
        elif team is None or image is None:
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
    teams = teams_of_user(request.user)
    quotas = quotas_of(phase_obj, teams)
    return render(request, "evaluation/submit.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge,
        "unregistered": [t for t in teams_of_user(request.user)
                         if not team_is_registered(t, phase_obj.challenge)],
        "teams": teams, "images": images,
        "team_quotas": [(team, quotas[team.pk]) for team in teams],
    })


@login_required
def phase_runs(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    """Every run of a phase, for the owning society and operators; 404 for everyone else."""
    phase_obj = _phase_or_404(request, slug, phase)
    status = request.GET.get("status", "")
    status = status if status in Status.values else ""
    team = request.GET.get("team", "")
    try:
        runs = phase_runs_for_society(request.user, phase_obj, status=status, team=team)
    except SubmissionNotFound as exc:
        raise Http404(exc.message) from exc
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "evaluation/phase_runs.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge, "page": page,
        "rows": [society_run_view(s) for s in page.object_list],
        "statuses": Status.choices, "teams": phase_run_teams(phase_obj),
        "status": status, "team": team,
        "can_manage": can_manage_society(request.user, phase_obj.challenge.society),
    })


@login_required
def run_detail(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    """One run with its full logs and its parts; reading a hidden phase's logs is audited."""
    phase_obj = _phase_or_404(request, slug, phase)
    try:
        submission = phase_run_for_society(request.user, phase_obj, pk)
    except SubmissionNotFound as exc:
        raise Http404(exc.message) from exc
    run = getattr(submission, "run", None)
    return render(request, "evaluation/run_detail.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge,
        "r": society_run_view(submission), "logs": run.logs if run is not None else None,
        "can_rerun": submission.status == Status.FAILED
        and can_manage_society(request.user, phase_obj.challenge.society),
    })


@login_required
@require_POST
def run_rerun(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    """Queue a failed run again (society admins and operators; `submission_rerun`)."""
    phase_obj = _phase_or_404(request, slug, phase)
    try:
        submission = phase_runs_for_society(request.user, phase_obj).filter(pk=pk).first()
    except SubmissionNotFound as exc:
        raise Http404(exc.message) from exc
    if submission is None:
        raise Http404(_("No such submission."))
    try:
        submission_rerun(submission=submission, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, _("Submission %(id)d is queued again.") % {"id": pk})
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("evaluation:run-detail", slug=slug, phase=phase, pk=pk)
