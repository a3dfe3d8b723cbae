"""The guided set-up's steps that need the evaluation engine: metrics, preview, review & publish.

Same rules as `challenges.views_wizard`: society admins and operators only (404 for anyone
else), plain form pages that work without JavaScript; htmx, where present, re-renders only the
part of the page a form changes (the spec check, the preview's result).
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.models import User
from challenges.selectors import phases_of
from challenges.views_wizard import manager_challenge
from config.errors import DomainError
from config.uploads import uploaded_file_path
from evaluation.forms import MetricSpecForm, PreviewForm
from evaluation.services.setup import (
    challenge_publish_checked,
    predictions_preview,
    preview_row,
    setup_problems,
    spec_problems,
)
from evaluation.services.specs import challenge_spec_update, spec_dict_of


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required
    return request.user


@login_required
@require_http_methods(["GET", "POST"])
def wizard_metrics(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 2. A POST with `check` only validates and shows the resulting spec; a plain POST
    saves it as the challenge's next spec version."""
    challenge = manager_challenge(request, slug)
    form = MetricSpecForm(request.POST or None, challenge=challenge)
    checking = "check" in request.POST
    status = 200
    if request.method == "POST":
        if form.is_valid() and not checking:
            try:
                challenge_spec_update(challenge=challenge, spec=form.spec, actor=_actor(request))
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Metrics saved."))
                return redirect("challenges:wizard-phases", slug=challenge.slug)
        status = 200 if checking else 400
    return render(request, "evaluation/wizard/metrics.html", {
        "form": form, "challenge": challenge, "step": "metrics", "checking": checking,
        "spec_text": json.dumps(form.spec, indent=2, ensure_ascii=False) if form.spec else "",
        "current_spec": json.dumps(spec_dict_of(challenge), indent=2, ensure_ascii=False),
        "current_problems": spec_problems(challenge),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def wizard_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 5: score a sample predictions.json on a phase's cases; nothing is stored."""
    challenge = manager_challenge(request, slug)
    form = PreviewForm(request.POST or None, request.FILES or None, challenge=challenge)
    metrics: list[dict[str, object]] = []
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            phase = form.cleaned_data["phase"]
            try:
                with uploaded_file_path(form.cleaned_data["predictions"]) as path:
                    evaluation = predictions_preview(phase=phase, path=path,
                                                     actor=_actor(request))
            except DomainError as exc:
                form.add_error("predictions", exc.message)
            else:
                metrics, status = preview_row(evaluation), 200
    return render(request, "evaluation/wizard/preview.html", {
        "form": form, "challenge": challenge, "step": "preview", "metrics": metrics,
        "problems": spec_problems(challenge),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def wizard_review(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 6: everything at a glance, what still blocks publishing, and the publish button."""
    challenge = manager_challenge(request, slug)
    status = 200
    if request.method == "POST":
        try:
            challenge_publish_checked(challenge=challenge, actor=_actor(request))
        except DomainError as exc:
            messages.error(request, exc.message)
            status = 409
        else:
            messages.success(request, _("“%(title)s” is published: everyone can see it now.") % {
                "title": challenge.title})
            return redirect("challenges:detail", slug=challenge.slug)
    blocking, warnings = setup_problems(challenge)
    spec = spec_dict_of(challenge)
    return render(request, "evaluation/wizard/review.html", {
        "challenge": challenge, "step": "review", "blocking": blocking, "warnings": warnings,
        "spec": spec, "phases": phases_of(challenge),
    }, status=status)
