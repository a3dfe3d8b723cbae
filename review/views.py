"""Review pages of a phase (queues, flags, settings) and the review index; the case pages are in
review/views_cases.py. Thin: `review.selectors` decide what a reviewer sees, `review.services`
what they may change. Everyone who may not review a phase gets a 404 (anonymous visitors the
sign-in page). Reading a queue, a case or a rendering is audited. Pages work without JavaScript.
"""

import logging
from typing import cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.permissions import can_manage_society, teams_of_user
from audit.services import audit_record
from challenges.models import Case, Phase
from config.errors import DomainError
from evaluation.services.publication import phase_reevaluate_request
from review import services
from review.errors import ReviewNotFound
from review.forms import ConflictForm, ResolveForm, SettingsForm
from review.models import CaseFlag
from review.selectors.access import (
    access_review_phase,
    can_correct_truth,
    declared_conflicts,
    is_blinded,
    is_reviewer,
    reviewable_challenges,
)
from review.selectors.cases import (
    access_review_case,
    current_truths,
    open_flags,
    recent_flags,
)
from review.selectors.queues import QUEUES, queue_for

logger = logging.getLogger(__name__)
PER_PAGE = 25


def signed_in_user(request: HttpRequest) -> User:
    """The signed-in user (every view here is behind login_required)."""
    return cast(User, request.user)


def phase_or_404(request: HttpRequest, slug: str, phase: str) -> Phase:
    try:
        return access_review_phase(request.user, slug, phase)
    except ReviewNotFound as exc:
        raise Http404(exc.message) from exc


def case_or_404(phase: Phase, case_id: str) -> Case:
    try:
        return access_review_case(phase, case_id)
    except ReviewNotFound as exc:
        raise Http404(exc.message) from exc


def _seed(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("seed", "0")), 0), 10**9)
    except ValueError:
        return 0


def queue_query(request: HttpRequest) -> dict[str, str]:
    """The queue a page came from, to go back to it (only known keys, checked values)."""
    query = {"queue": request.GET.get("queue", "")}
    query = {k: v for k, v in query.items() if v in QUEUES}
    algorithm = request.GET.get("algorithm", "")
    if algorithm.isalpha() and len(algorithm) <= 4:
        query["algorithm"] = algorithm
    if "seed" in request.GET:
        query["seed"] = str(_seed(request))
    return query


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The phases the user may review, and their conflicts of interest."""
    if not is_reviewer(request.user):
        raise Http404(_("There is nothing to review here."))
    return render(request, "review/index.html", {
        "challenges": reviewable_challenges(request.user),
        "conflicts": declared_conflicts(request.user), "teams": teams_of_user(request.user),
        "form": ConflictForm(),
    })


@login_required
@require_POST
def conflict_declare(request: HttpRequest) -> HttpResponse:
    if not is_reviewer(request.user):
        raise Http404(_("There is nothing to review here."))
    form = ConflictForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Name a team by its short name (letters, digits, hyphens)."))
        return redirect("review:index")
    try:
        conflict = services.conflict_declare(actor=signed_in_user(request),
                                             team_slug=form.cleaned_data["team"],
                                             note=form.cleaned_data["note"])
        messages.success(request, _("Conflict of interest with %(team)s recorded: its submissions "
                                    "no longer appear in your review.") % {"team": conflict.team})
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("review:index")


@login_required
@require_GET
def phase_queues(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    """A phase's review queues; ?queue= picks one, ?algorithm= the worst-cases queue's algorithm,
    ?seed= the random sample."""
    phase_obj = phase_or_404(request, slug, phase)
    seed = _seed(request)
    queue = queue_for(request.user, phase_obj, request.GET.get("queue", "worst"),
                      algorithm=request.GET.get("algorithm", ""), seed=seed)
    page = Paginator(queue.items, PER_PAGE).get_page(request.GET.get("page"))
    audit_record(actor=signed_in_user(request), action="review.queue_viewed", target_type="phase",
                 target_id=phase_obj.pk, detail={
                     "queue": queue.key, "cases": [item.case_id for item in page.object_list],
                     "submission": queue.algorithm.submission_id if queue.algorithm else None})
    back: dict[str, str] = {"queue": queue.key}
    if queue.algorithm:
        back["algorithm"] = queue.algorithm.code
    if queue.key == "random":
        back["seed"] = str(seed)
    return render(request, "review/phase.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge, "queue": queue, "page": page,
        "queues": [(key, str(title), str(text)) for key, (title, text) in QUEUES.items()],
        "back_query": urlencode(back), "blinded": is_blinded(phase_obj),
        "can_manage": can_manage_society(request.user, phase_obj.challenge.society),
    })


@login_required
@require_GET
def flags(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    """Open flags, for every reviewer; the society's admins decide them here."""
    phase_obj = phase_or_404(request, slug, phase)
    flagged = open_flags(phase_obj)
    truths = current_truths(phase_obj, [f.case_id for f in flagged])
    audit_record(actor=signed_in_user(request), action="review.flags_viewed", target_type="phase",
                 target_id=phase_obj.pk, detail={"cases": sorted({f.case_id for f in flagged}),
                                                 "truth_version": phase_obj.truth_version})
    return render(request, "review/flags.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge, "open_flags": flagged,
        "truths": truths, "decided": recent_flags(phase_obj), "labels": phase_obj.challenge.labels,
        "can_correct": can_correct_truth(request.user, phase_obj),
        "label_task": phase_obj.challenge.task_type in services.LABEL_TASKS,
    })


@login_required
@require_POST
def flag_resolve(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    """A society admin corrects the flagged case's ground truth, or keeps it."""
    phase_obj = phase_or_404(request, slug, phase)
    flag_obj = CaseFlag.objects.select_related("case").filter(pk=pk, case__phase=phase_obj).first()
    if flag_obj is None:
        raise Http404(_("There is no such flag."))
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose to correct the ground truth or to keep it."))
        return redirect("review:flags", slug=slug, phase=phase)
    data = form.cleaned_data
    try:
        if data["action"] == "dismiss":
            services.flag_dismiss(actor=signed_in_user(request), flag=flag_obj, note=data["note"])
            messages.success(request, _("Flag dismissed; the ground truth stands."))
        else:
            version = services.truth_correct_from_flag(
                actor=signed_in_user(request), flag=flag_obj, value=data["label"], note=data["note"],
                reevaluate=data["reevaluate"])
            messages.success(request, _(
                "Ground truth corrected: version %(version)d. The leaderboard shows results of "
                "this version once the phase is re-evaluated.") % {"version": version})
            if data["reevaluate"]:
                messages.success(request, _("Re-evaluation of every submission is queued."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("review:flags", slug=slug, phase=phase)


@login_required
@require_POST
def reevaluate(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    phase_obj = phase_or_404(request, slug, phase)
    try:
        phase_reevaluate_request(phase=phase_obj, actor=signed_in_user(request))
        messages.success(request, _("Re-evaluation of every submission is queued."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("review:flags", slug=slug, phase=phase)


@login_required
@require_POST
def review_settings(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    phase_obj = phase_or_404(request, slug, phase)
    form = SettingsForm(request.POST)
    form.is_valid()
    try:
        settings = services.review_settings_update(
            actor=signed_in_user(request), phase=phase_obj, blinded=form.cleaned_data.get("blinded", False))
        messages.success(request, _("Submissions are shown blinded.") if settings.blinded
                         else _("Submissions are shown by team."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("review:phase", slug=slug, phase=phase)
