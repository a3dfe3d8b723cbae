"""Web pages of the pixel-review queue: images held for burned-in text, for the society's data
stewards and admins (and operators). Thin: `selectors_held` decides who sees what and audits,
`services_held` who may decide."""

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from challenges.errors import ChallengeNotFound
from challenges.models import Challenge, HeldImage, HeldStatus
from challenges.selectors import access_challenge_by_user
from challenges.selectors_held import (
    held_case_sizes,
    held_image_for,
    held_image_viewed,
    held_images_for,
    reason_text,
)
from challenges.services_held import MAX_DECISION_TEXT, held_bytes, held_image_decide
from config.errors import DomainError
from config.form_text import form_errors
from config.png import png_response
from imaging.render import RenderError, RenderParams, placeholder_png, render_cached

logger = logging.getLogger(__name__)
PAGE_SIZE = 20
THUMBNAIL_SIZE, LARGE_SIZE = 320, 1024


class HeldDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=gettext_lazy("Decision"), choices=[
        ("approve", gettext_lazy("Approve: no patient text in the pixels")),
        ("reject", gettext_lazy("Reject: delete the image"))])
    reason = forms.CharField(label=gettext_lazy("Note (kept in the audit log)"), required=False,
                             max_length=MAX_DECISION_TEXT)


class HeldImageForm(forms.Form):
    frame = forms.IntegerField(required=False, min_value=0, max_value=100_000)
    size = forms.IntegerField(required=False, min_value=32, max_value=LARGE_SIZE)


def _held_or_404(request: HttpRequest, slug: str, pk: int) -> tuple[Challenge, HeldImage]:
    try:
        challenge = access_challenge_by_user(request.user, slug)
        return challenge, held_image_for(request.user, challenge, pk)
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
def held_queue(request: HttpRequest, slug: str) -> HttpResponse:
    """The held images of a challenge (?status=pending|approved|rejected), 20 a page."""
    try:
        challenge = access_challenge_by_user(request.user, slug)
        status = request.GET.get("status", HeldStatus.PENDING)
        held = held_images_for(request.user, challenge, status=status, via="web")
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc
    page = Paginator(held, PAGE_SIZE).get_page(request.GET.get("page"))
    together = held_case_sizes(page.object_list)
    rows = [(item, reason_text(item.reason), together.get((item.phase_id, item.case_id), 1))
            for item in page.object_list]
    return render(request, "challenges/held.html", {
        "challenge": challenge, "page": page, "rows": rows,
        "status": status if status in HeldStatus.values else HeldStatus.PENDING,
        "statuses": HeldStatus.choices, "form": HeldDecisionForm(),
        "thumbnail_size": THUMBNAIL_SIZE, "large_size": LARGE_SIZE,
    })


@login_required
@require_GET
def held_image(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A pending held image as PNG (?frame, ?size); a grey placeholder when it cannot be
    rendered (header X-Enclave-Render: failed). Audited."""
    held = _held_or_404(request, slug, pk)[1]
    form = HeldImageForm(request.GET)
    if not form.is_valid() or not held.storage_key:
        raise Http404(_("No such image."))
    params = RenderParams(frame=form.cleaned_data.get("frame"),
                          max_size=form.cleaned_data.get("size") or THUMBNAIL_SIZE)
    held_image_viewed(request.user, held, via="web")
    rendered = True
    try:
        body = render_cached(sha256=held.sha256, kind=held.kind, load=lambda: held_bytes(held),
                             params=params).png
    except (RenderError, DomainError, OSError):
        logger.warning("held image %s cannot be rendered", held.pk, exc_info=True)
        body, rendered = placeholder_png(), False
    return png_response(body, rendered=rendered)


@login_required
@require_POST
def held_decide_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    held = _held_or_404(request, slug, pk)[1]
    form = HeldDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors(form))
    else:
        approve = form.cleaned_data["decision"] == "approve"
        try:
            held_image_decide(held=held, actor=request.user,  # type: ignore[arg-type]
                              approve=approve, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, (
                _("%(case)s was added to the cases of %(phase)s.") if approve else
                _("%(case)s was rejected and its image deleted.")) % {
                    "case": held.case_id, "phase": held.phase.slug})
    return redirect(reverse("challenges:held", kwargs={"slug": slug}))
