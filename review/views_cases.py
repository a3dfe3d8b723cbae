"""Case pages of review: the case with its image, overlays, verdicts and flags; the image's
rendering and mask overlays; recording a verdict or a flag. Thin, like review/views.py.

A visitor who is not signed in is sent to sign in and then to the phase's queues, never back to a
URL that names a hidden case.
"""

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from audit.services import audit_record
from challenges.models import Case, CaseFile
from challenges.truths import load_mask
from config.errors import DomainError
from config.png import png_response
from evaluation.models import Submission
from imaging.render import (
    RenderError,
    RenderParams,
    placeholder_png,
    presets_for,
    render_cached,
    render_mask,
)
from review import services
from review.errors import ReviewNotFound
from review.forms import PRESET_LABELS, FlagForm, ImageForm, VerdictForm, ViewForm
from review.models import FlagStatus
from review.selectors.access import algorithms_for, can_correct_truth, is_blinded
from review.selectors.cases import case_review, mask_reference
from review.views import case_or_404, phase_or_404, queue_query, signed_in_user

logger = logging.getLogger(__name__)
CASE_IMAGE_SIZE = 768
OVERLAY_COLOURS = [(0, 200, 83), (41, 121, 255), (255, 145, 0), (213, 0, 249), (255, 23, 68),
                   (0, 184, 212), (255, 214, 0), (121, 85, 72)]
View = Callable[..., HttpResponse]


def signed_in_to_phase(view: View) -> View:
    """login_required, but the page after signing in is the phase's queues (the case's URL,
    which names a hidden case, is not echoed to someone not signed in)."""

    @wraps(view)
    def wrapped(request: HttpRequest, slug: str, phase: str, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("review:phase", args=[slug, phase]))
        return view(request, slug, phase, **kwargs)

    return wrapped


def _image_query(review: Any, cleaned: dict[str, Any]) -> dict[str, Any]:
    query: dict[str, Any] = {"frame": review.frame}
    if cleaned.get("center") is not None and cleaned.get("width") is not None:
        query.update(center=cleaned["center"], width=cleaned["width"])
    elif cleaned.get("preset"):
        query["preset"] = cleaned["preset"]
    return query


@signed_in_to_phase
@require_GET
def case_detail(request: HttpRequest, slug: str, phase: str, case_id: str) -> HttpResponse:
    """One case: the image with its window and frame controls, the ground truth and the selected
    algorithms' predictions as overlays, verdicts and flags."""
    phase_obj = phase_or_404(request, slug, phase)
    case = case_or_404(phase_obj, case_id)
    form = ViewForm(request.GET or None)
    cleaned = form.cleaned_data if form.is_bound and form.is_valid() else {}
    shown = set(request.GET.getlist("show")) if "shown" in request.GET else None
    review = case_review(request.user, phase_obj, case, frame=cleaned.get("frame"), shown=shown)
    image_query = _image_query(review, cleaned)
    audit_record(actor=signed_in_user(request), action="review.case_viewed", target_type="case",
                 target_id=case.pk, detail={
                     "phase": phase_obj.pk, "truth_version": review.truth_version,
                     "submissions": [p.algorithm.submission_id for p in review.predictions]})
    back = queue_query(request)
    window_inputs = [(k, v) for k, v in image_query.items() if k != "frame"]
    selection_inputs = [] if shown is None else [
        ("shown", "1"), *(("show", code) for code in sorted(shown) if len(code) <= 8)]

    def frame_link(index: int) -> str:
        return "?" + urlencode([*window_inputs, ("frame", index), *selection_inputs,
                                *back.items()])

    flag = review.my_open_flag
    return render(request, "review/case.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge, "case": case, "review": review,
        "form": form, "presets": [(key, PRESET_LABELS[key]) for key in presets_for(case.modality)],
        "image_url": reverse("review:case-image", args=[slug, phase, case.case_id]) + "?"
        + urlencode({**image_query, "size": CASE_IMAGE_SIZE}),
        "overlay_colours": _overlay_colours(review),
        "prev_link": frame_link(review.frame - 1) if review.frame > 0 else "",
        "next_link": frame_link(review.frame + 1) if review.frame + 1 < review.frames else "",
        "back_query": urlencode(back), "back": back,
        "verdict_choices": VerdictForm.base_fields["verdict"].choices,  # type: ignore[attr-defined]
        "flag_form": FlagForm(), "my_open_flag": flag,
        "can_correct": can_correct_truth(request.user, phase_obj),
        "open_flags": [f for f in review.flags if f.status == FlagStatus.OPEN],
        "labels": phase_obj.challenge.labels, "blinded": is_blinded(phase_obj),
        "overlay_query": urlencode({"frame": review.frame, "size": CASE_IMAGE_SIZE}),
        "window_inputs": window_inputs, "selection_inputs": selection_inputs,
        "truth_shown": shown is None or "truth" in shown,
    })


def overlay_colour(code: str) -> tuple[int, int, int]:
    """The ground truth's colour, or an algorithm's by its code (the same on every page)."""
    if code == "truth":
        return OVERLAY_COLOURS[0]
    index = sum((ord(c) - ord("A") + 1) * 26**i for i, c in enumerate(reversed(code))) - 1
    return OVERLAY_COLOURS[1 + index % (len(OVERLAY_COLOURS) - 1)]


def _overlay_colours(review: Any) -> dict[str, str]:
    codes = ["truth", *(p.algorithm.code for p in review.predictions)]
    return {code: "#{:02x}{:02x}{:02x}".format(*overlay_colour(code)) for code in codes}


@signed_in_to_phase
@require_GET
def case_image(request: HttpRequest, slug: str, phase: str, case_id: str) -> HttpResponse:
    """The case's image, one frame windowed as asked (?frame, ?preset or ?center&width, ?size).
    A file that cannot be rendered answers a grey placeholder (and says so in a header)."""
    phase_obj = phase_or_404(request, slug, phase)
    case = case_or_404(phase_obj, case_id)
    form = ImageForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Bad window, frame or size."), content_type="text/plain")
    data = form.cleaned_data
    params = RenderParams(frame=data.get("frame"), center=data.get("center"),
                          width=data.get("width"), preset=data.get("preset") or "",
                          max_size=data.get("size") or CASE_IMAGE_SIZE)
    file = case.files.order_by("name").first()
    if file is None:
        raise Http404(_("This case has no image file."))
    body, rendered, detail = case_rendering(case, file, params)
    audit_record(actor=signed_in_user(request), action="review.rendering_viewed", target_type="case",
                 target_id=case.pk, detail={"file": file.sha256, **detail})
    return png_response(body, rendered=rendered)


def case_rendering(case: Case, file: CaseFile,
                   params: RenderParams) -> tuple[bytes, bool, dict[str, Any]]:
    """(png, rendered, audit detail) of the case's file: the grey placeholder (rendered False)
    where it cannot be rendered. Also the review API's (review/apis_cases.py)."""

    def load() -> bytes:
        with default_storage.open(file.storage_key, "rb") as handle:
            return handle.read()

    try:
        rendering = render_cached(sha256=file.sha256, kind=file.kind, load=load, params=params)
        return rendering.png, True, {"frame": rendering.frame, "window": rendering.window,
                                     "center": rendering.center, "width": rendering.width}
    except (RenderError, OSError):
        logger.warning("case %s: file %s cannot be rendered", case.pk, file.pk, exc_info=True)
        return placeholder_png(), False, {"failed": True}


@signed_in_to_phase
@require_GET
def case_overlay(request: HttpRequest, slug: str, phase: str, case_id: str,
                 source: str) -> HttpResponse:
    """A segmentation mask over the case's image: "truth" or an algorithm's code; 404 when that
    source has no mask (or is a team the user has a conflict of interest with)."""
    phase_obj = phase_or_404(request, slug, phase)
    case = case_or_404(phase_obj, case_id)
    form = ImageForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Bad window, frame or size."), content_type="text/plain")
    reference = mask_reference(request.user, phase_obj, case, source)
    if reference is None:
        raise Http404(_("There is no mask to show."))
    colour = overlay_colour(source)
    try:
        body = render_mask(load_mask(reference), frame=form.cleaned_data.get("frame"),
                           colour=colour, max_size=form.cleaned_data.get("size") or CASE_IMAGE_SIZE)
    except (RenderError, ValueError, OSError) as exc:
        logger.warning("case %s: mask %s cannot be rendered", case.pk, source, exc_info=True)
        raise Http404(_("There is no mask to show.")) from exc
    audit_record(actor=signed_in_user(request), action="review.overlay_viewed", target_type="case",
                 target_id=case.pk, detail={"source": source, "mask": reference.get("sha256")})
    return png_response(body)


def _back_to_case(request: HttpRequest, slug: str, phase: str, case_id: str) -> HttpResponse:
    url = reverse("review:case", args=[slug, phase, case_id])
    query = {k: str(v) for k, v in request.POST.items() if k in ("queue", "algorithm", "seed")
             and v and len(v) <= 20 and str(v).replace("-", "").isalnum()}
    return redirect(url + ("?" + urlencode(query) if query else ""))


@signed_in_to_phase
@require_POST
def verdict(request: HttpRequest, slug: str, phase: str, case_id: str) -> HttpResponse:
    phase_obj = phase_or_404(request, slug, phase)
    case = case_or_404(phase_obj, case_id)
    form = VerdictForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a verdict; a comment has at most 2000 characters."))
        return _back_to_case(request, slug, phase, case_id)
    algorithm = next((a for a in algorithms_for(request.user, phase_obj)
                      if a.code == form.cleaned_data["prediction"]), None)
    if algorithm is None:
        raise Http404(_("There is no such prediction to judge."))
    submission = Submission.objects.select_related("team").get(pk=algorithm.submission_id)
    try:
        services.verdict_record(actor=signed_in_user(request), case=case, submission=submission,
                                verdict=form.cleaned_data["verdict"],
                                comment=form.cleaned_data["comment"])
        messages.success(request, _("Verdict on %(name)s recorded.") % {"name": algorithm.name})
    except ReviewNotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    return _back_to_case(request, slug, phase, case_id)


@signed_in_to_phase
@require_POST
def flag(request: HttpRequest, slug: str, phase: str, case_id: str) -> HttpResponse:
    phase_obj = phase_or_404(request, slug, phase)
    case = case_or_404(phase_obj, case_id)
    form = FlagForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please give a reason of at most 2000 characters."))
        return _back_to_case(request, slug, phase, case_id)
    try:
        services.flag_raise(actor=signed_in_user(request), case=case, reason=form.cleaned_data["reason"])
        messages.success(request, _("Case flagged: the society's admins will look at its "
                                    "ground truth."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return _back_to_case(request, slug, phase, case_id)
