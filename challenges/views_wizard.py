"""The guided challenge set-up for society admins and operators: basics, phases and data.

(The metrics, preview and review steps need the evaluation engine and live in
`evaluation.views_wizard`.) Each step is a plain form page that saves through one service call:
all of the step or nothing. Anyone who may not manage the challenge's society gets a 404.
"""

from contextlib import ExitStack

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.models import User
from challenges.errors import ChallengeNotFound, ImportRejected
from challenges.forms import CaseImportForm, ChallengeBasicsForm, PhaseForm, basics_initial
from challenges.models import Challenge, Phase
from challenges.selectors import (
    access_challenge_for_manager,
    challenges_managed_by,
    phase_case_count,
    phases_of,
    societies_managed_by,
)
from challenges.services_setup import (
    DataImportReport,
    challenge_draft_create,
    challenge_update,
    phase_add,
    phase_data_import,
    phase_update,
)
from config.errors import DomainError
from config.uploads import uploaded_file_paths, uploaded_folder_path


def manager_challenge(request: HttpRequest, slug: str) -> Challenge:
    """The challenge, when the user may edit it; a 404 otherwise."""
    try:
        return access_challenge_for_manager(request.user, slug)
    except ChallengeNotFound as exc:
        raise Http404(exc.message) from exc


def _manager_phase(challenge: Challenge, slug: str) -> Phase:
    phase = challenge.phases.filter(slug=slug).first()
    if phase is None:
        raise Http404(_("Challenge “%(challenge)s” has no phase “%(phase)s”.") % {
            "challenge": challenge.slug, "phase": slug[:80]})
    return phase


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # login_required
    return request.user


def data_import_from_form(form: CaseImportForm, phase: Phase, actor: User) -> DataImportReport:
    """Import a valid data-step form's uploads into `phase` (`phase_data_import`)."""
    data = form.cleaned_data
    with ExitStack() as stack:
        cases = (stack.enter_context(uploaded_folder_path(data["case_folder"]))
                 if data.get("case_folder") else None)
        files = stack.enter_context(uploaded_file_paths(
            data.get("cases"), data.get("labels"), data.get("masks"), data.get("lesions")))
        cases = cases or files[0]
        assert cases is not None  # the form wants a zip or a folder
        return phase_data_import(phase=phase, actor=actor, cases_path=cases, labels_path=files[1],
                                 masks_path=files[2], lesions_path=files[3])


def truths_message(report: DataImportReport) -> str:
    assert report.truths is not None
    what = _("masks") if report.truth_kind == "masks" else _("lesions")
    return _("Ground truth version %(version)d: %(what)s of %(n)d cases.") % {
        "version": report.truths.truth_version, "what": what, "n": report.truths.cases}


def _status(form_is_bound: bool) -> int:
    """A form posted and shown again has errors: 400."""
    return 400 if form_is_bound else 200


@login_required
def manage_list(request: HttpRequest) -> HttpResponse:
    """The challenges (drafts included) of the societies the user manages."""
    if not societies_managed_by(request.user).exists():
        raise PermissionDenied(_("Only society admins and operators set up challenges."))
    return render(request, "challenges/wizard/list.html",
                  {"challenges": challenges_managed_by(request.user)})


@login_required
def wizard_new(request: HttpRequest) -> HttpResponse:
    """Step 1 for a new challenge: it is saved as an unpublished draft."""
    societies = societies_managed_by(request.user)
    if not societies.exists():
        raise PermissionDenied(_("Only society admins and operators set up challenges."))
    form = ChallengeBasicsForm(request.POST or None, societies=societies)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            challenge = challenge_draft_create(actor=_actor(request), society=data.pop("society"),
                                               slug=data.pop("slug"), **data)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Draft challenge “%(slug)s” saved. Only your society "
                                        "sees it until you publish it.") % {"slug": challenge.slug})
            return redirect("evaluation:wizard-metrics", slug=challenge.slug)
    return render(request, "challenges/wizard/basics.html",
                  {"form": form, "challenge": None, "step": "basics"},
                  status=_status(form.is_bound))


@login_required
def wizard_basics(request: HttpRequest, slug: str) -> HttpResponse:
    challenge = manager_challenge(request, slug)
    form = ChallengeBasicsForm(request.POST or None, societies=societies_managed_by(request.user),
                               challenge=challenge, initial=basics_initial(challenge))
    if request.method == "POST" and form.is_valid():
        try:
            challenge_update(challenge=challenge, actor=_actor(request), **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Basics saved."))
            return redirect("evaluation:wizard-metrics", slug=challenge.slug)
    return render(request, "challenges/wizard/basics.html",
                  {"form": form, "challenge": challenge, "step": "basics"},
                  status=_status(form.is_bound))


@login_required
def wizard_phases(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 3: the challenge's phases, and a form that adds one."""
    challenge = manager_challenge(request, slug)
    form = PhaseForm(request.POST or None, prefix="new")
    if request.method == "POST" and form.is_valid():
        fields = form.phase_fields()
        try:
            phase = phase_add(challenge=challenge, actor=_actor(request), slug=fields.pop("slug"),
                              **fields)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Phase “%(slug)s” added.") % {"slug": phase.slug})
            return redirect("challenges:wizard-phases", slug=challenge.slug)
    return render(request, "challenges/wizard/phases.html", {
        "form": form, "challenge": challenge, "step": "phases", "phases": phases_of(challenge),
    }, status=_status(form.is_bound))


@login_required
def wizard_phase(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    """Step 3, one phase: change its settings (its short name stays)."""
    challenge = manager_challenge(request, slug)
    phase_obj = _manager_phase(challenge, phase)
    form = PhaseForm(request.POST or None, phase=phase_obj)
    if request.method == "POST" and form.is_valid():
        try:
            phase_update(phase=phase_obj, actor=_actor(request), **form.phase_fields())
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Phase “%(slug)s” saved.") % {"slug": phase_obj.slug})
            return redirect("challenges:wizard-phases", slug=challenge.slug)
    return render(request, "challenges/wizard/phase.html", {
        "form": form, "challenge": challenge, "phase": phase_obj, "step": "phases",
    }, status=_status(form.is_bound))


@login_required
def wizard_data(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 4: import a zip of cases (and labels) into a phase, de-identified on arrival; a
    refused import stores nothing and says why."""
    challenge = manager_challenge(request, slug)
    form = CaseImportForm(request.POST or None, request.FILES or None, challenge=challenge)
    if request.method == "POST" and form.is_valid():
        phase = form.cleaned_data["phase"]
        try:
            report = data_import_from_form(form, phase, _actor(request))
        except ImportRejected as exc:
            form.add_error(None, _("Nothing was imported: %(reason)s") % {"reason": exc.message})
        else:
            messages.success(request, _(
                "Imported into “%(phase)s”: %(created)d new cases, %(unchanged)d already "
                "present, %(labelled)d labels.") % {
                    "phase": phase.slug, "created": report.cases.created,
                    "unchanged": report.cases.unchanged, "labelled": report.cases.labelled})
            if report.cases.held:
                messages.warning(request, _(
                    "%(n)d images may carry burned-in patient text: they wait in the review "
                    "queue on the data page until a data steward approves them.") % {
                        "n": report.cases.held})
            if report.truths is not None:
                messages.success(request, truths_message(report))
                if report.truths.without_spacing:
                    messages.warning(request, _(
                        "%(n)d cases have no pixel spacing for their dimensions: set spacing_mm "
                        "in the metric spec, or distance metrics cannot score them.") % {
                            "n": report.truths.without_spacing})
            return redirect("challenges:wizard-data", slug=challenge.slug)
    counts = [(p, *phase_case_count(p)) for p in challenge.phases.order_by("id")]
    return render(request, "challenges/wizard/data.html", {
        "form": form, "challenge": challenge, "step": "data", "counts": counts,
    }, status=_status(form.is_bound))
