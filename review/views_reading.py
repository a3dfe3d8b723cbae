"""Reader-study pages: a phase's reading lists (created and assigned by the society's admins),
a list's progress, agreement, merge and reference rows, a physician's lists and the read page.
Thin: review.selectors.reading decides what is shown, review.services_reading and
review.services_reference what may change. Everyone who may not see a list gets a 404;
opening a list or a case to read is audited.
"""

from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import can_manage_society
from audit.services import audit_record
from challenges.contract import case_shape, detection_geometry
from challenges.models import Case, TaskType
from config.errors import DomainError
from imaging.render import presets_for
from review import services_reading, services_reference
from review.errors import ReviewNotFound
from review.forms import PRESET_LABELS
from review.forms_reading import AssignForm, MergeForm, PublishForm, ReadForm, ReadingListForm
from review.models import ReadingList, ReferenceRow
from review.selectors.access import is_reviewer
from review.selectors.cases import case_geometry, marks_on_frame
from review.selectors.reading import (
    LABEL_TASKS,
    access_reading_list,
    agreement_of,
    assignment_of,
    list_case,
    merge_outcome,
    my_read,
    my_reading_lists,
    next_unread,
    physicians_of,
    progress_of,
    read_history,
    reader_cases,
    reading_lists_of,
)
from review.selectors.reference import reference_rows_of_list
from review.views import phase_or_404, signed_in_user
from review.views_cases import CASE_IMAGE_SIZE


def _list_or_404(request: HttpRequest, slug: str, phase: str, pk: int) -> ReadingList:
    """The phase's reading list, for whoever may see it; a 404 for everyone else."""
    phase_obj = phase_or_404(request, slug, phase)
    try:
        return access_reading_list(request.user, phase_obj, pk)
    except ReviewNotFound as exc:
        raise Http404(exc.message) from exc


def _to_list(reading_list: ReadingList) -> HttpResponse:
    phase = reading_list.phase
    return redirect("review:reading-list", slug=phase.challenge.slug, phase=phase.slug,
                    pk=reading_list.pk)


@login_required
@require_GET
def my_lists(request: HttpRequest) -> HttpResponse:
    """The signed-in physician's reading lists with their progress."""
    if not is_reviewer(request.user):
        raise Http404(_("There is nothing to review here."))
    return render(request, "review/reading_mine.html", {"lists": my_reading_lists(request.user)})


@login_required
@require_GET
def lists(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    """A phase's reading lists; the society's admins create one here."""
    phase_obj = phase_or_404(request, slug, phase)
    return render(request, "review/reading_lists.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge,
        "lists": reading_lists_of(phase_obj), "form": ReadingListForm(),
        "can_manage": can_manage_society(request.user, phase_obj.challenge.society),
        "physicians": physicians_of(phase_obj),
    })


@login_required
@require_POST
def list_create(request: HttpRequest, slug: str, phase: str) -> HttpResponse:
    phase_obj = phase_or_404(request, slug, phase)
    form = ReadingListForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values()
                                         for e in errors))
        return redirect("review:reading-lists", slug=slug, phase=phase)
    data = form.cleaned_data
    try:
        reading_list = services_reading.reading_list_create(
            actor=signed_in_user(request), phase=phase_obj, title=data["title"],
            case_ids=data["case_id_list"] if data["selection"] == "explicit" else None,
            sample_size=data.get("sample_size") if data["selection"] == "sample" else None,
            seed=data.get("seed"), merge_rule=data["merge_rule"],
            adjudicator=data.get("adjudicator") or "", grades=data["grade_list"])
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("review:reading-lists", slug=slug, phase=phase)
    messages.success(request, _("Reading list created: assign its readers."))
    return _to_list(reading_list)


@login_required
@require_GET
def list_detail(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    """A list's readers and progress, agreement, merge preview and reference rows."""
    reading_list = _list_or_404(request, slug, phase, pk)
    phase_obj = reading_list.phase
    outcome = merge_outcome(reading_list)
    assignment = assignment_of(request.user, reading_list)
    audit_record(actor=signed_in_user(request), action="review.reading_list_viewed",
                 target_type="phase", target_id=phase_obj.pk,
                 detail={"list": reading_list.pk, "unresolved": outcome.unresolved[:100]})
    return render(request, "review/reading_list.html", {
        "phase": phase_obj, "challenge": phase_obj.challenge, "reading_list": reading_list,
        "progress": progress_of(reading_list), "agreement": agreement_of(reading_list),
        "outcome": outcome, "merges": reading_list.merges.select_related("merged_by")[:10],
        "references": reference_rows_of_list(phase_obj, reading_list.pk),
        "assignment": assignment,
        "my_cases": reader_cases(reading_list, request.user) if assignment else [],
        "can_manage": can_manage_society(request.user, phase_obj.challenge.society),
        "assign_form": AssignForm(), "physicians": physicians_of(phase_obj),
        "merge_form": MergeForm(),
    })


@login_required
@require_POST
def readers_assign(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    reading_list = _list_or_404(request, slug, phase, pk)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Name at least one physician."))
        return _to_list(reading_list)
    try:
        services_reading.readers_assign(actor=signed_in_user(request), reading_list=reading_list,
                                        usernames=form.cleaned_data["readers"])
        messages.success(request, _("Readers assigned."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return _to_list(reading_list)


def _reader_list(request: HttpRequest, slug: str, phase: str, pk: int) -> ReadingList:
    """The list, for one of its assigned readers only (everyone else: 404)."""
    reading_list = _list_or_404(request, slug, phase, pk)
    if assignment_of(request.user, reading_list) is None:
        raise Http404(_("You are not a reader of this list."))
    return reading_list


@login_required
@require_GET
def next_case(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    """The reader's next unread case, or the list when every case is read."""
    reading_list = _reader_list(request, slug, phase, pk)
    case = next_unread(reading_list, request.user)
    if case is None:
        messages.success(request, _("You have read every case of this list."))
        return _to_list(reading_list)
    return redirect("review:reading-case", slug=slug, phase=phase, pk=pk, case_id=case.case_id)


def _signed_in_to_my_lists(request: HttpRequest) -> HttpResponse | None:
    """Someone not signed in goes to sign in and then to their lists (a case URL names a
    hidden case and is not echoed)."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("review:my-reading"))
    return None


def _read_context(request: HttpRequest, reading_list: ReadingList, case: Case,
                  form: ReadForm | None) -> dict[str, Any]:
    phase = reading_list.phase
    challenge = phase.challenge
    preset = request.GET.get("preset", "")
    presets = presets_for(case.modality)
    frame = request.GET.get("frame", "")
    query: dict[str, Any] = {"size": CASE_IMAGE_SIZE}
    if preset in presets:
        query["preset"] = preset
    if frame.isdigit() and len(frame) < 7:
        query["frame"] = frame
    current = my_read(reading_list, request.user, case)
    _frames, rows, columns = case_geometry(case)
    marks = marks_on_frame((current.answer.get("lesions") if current else None) or [],
                           int(query.get("frame", 0)))
    return {
        "geometry": SimpleNamespace(rows=rows, columns=columns), "marks": marks,
        "phase": phase, "challenge": challenge, "reading_list": reading_list, "case": case,
        "image_url": reverse("review:case-image", args=[challenge.slug, phase.slug, case.case_id])
        + "?" + urlencode(query),
        "presets": [(key, PRESET_LABELS[key]) for key in presets], "preset": preset,
        "shape": case_shape(case), "label_task": challenge.task_type in LABEL_TASKS,
        "detection_task": challenge.task_type == TaskType.DETECTION,
        "lesion_geometry": (detection_geometry(challenge)[1]
                            if challenge.task_type == TaskType.DETECTION else ""),
        "mask_task": challenge.task_type == TaskType.SEGMENTATION,
        "labels": challenge.labels, "grades": list(enumerate(reading_list.grades)),
        "current": current, "history": read_history(reading_list, request.user, case)[1:],
        "form": form, "lesions_text": "\n".join(
            " ".join(f"{v:g}" for v in (lesion.get("point") or lesion.get("box") or []))
            for lesion in (current.answer.get("lesions", []) if current else [])),
    }


@require_http_methods(["GET", "POST"])
def read_case(request: HttpRequest, slug: str, phase: str, pk: int, case_id: str) -> HttpResponse:
    """One case of a list, to read: the image (no ground truth, no predictions) and the task's
    question. POST records the answer (a re-read keeps the earlier one) and goes to the next
    unread case."""
    login = _signed_in_to_my_lists(request)
    if login is not None:
        return login
    reading_list = _reader_list(request, slug, phase, pk)
    try:
        case = list_case(reading_list, case_id)
    except ReviewNotFound as exc:
        raise Http404(exc.message) from exc
    form: ReadForm | None = None
    if request.method == "POST":
        form = ReadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                read = services_reading.read_record(
                    actor=signed_in_user(request), reading_list=reading_list, case=case,
                    answer=form.answer())
                messages.success(request, _("Read of case %(case)s recorded (version %(v)d).")
                                 % {"case": case.case_id, "v": read.version})
                return redirect("review:reading-next", slug=slug, phase=phase, pk=pk)
            except DomainError as exc:
                messages.error(request, exc.message)
        else:
            messages.error(request, _("Check the answer: the confidence is a number from 0 "
                                      "to 1, a mask file at most 256 MiB."))
    audit_record(actor=signed_in_user(request), action="review.case_viewed", target_type="case",
                 target_id=case.pk, detail={"phase": reading_list.phase_id,
                                            "list": reading_list.pk, "reading": True})
    return render(request, "review/reading_case.html",
                  _read_context(request, reading_list, case, form),
                  status=400 if form is not None else 200)


@login_required
@require_POST
def merge(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    reading_list = _list_or_404(request, slug, phase, pk)
    form = MergeForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        result = services_reading.reading_merge_apply(
            actor=signed_in_user(request), reading_list=reading_list, note=note)
        if result.changed:
            messages.success(request, _(
                "Ground truth version %(version)d made from the reads: %(n)d cases changed, "
                "%(u)d left unresolved. Re-evaluate the phase to score submissions against "
                "it.") % {"version": result.to_version, "n": len(result.changed),
                          "u": len(result.unresolved)})
        else:
            messages.success(request, _("The merged reads agree with the current ground truth: "
                                        "nothing changed."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return _to_list(reading_list)


@login_required
@require_POST
def reference_compute(request: HttpRequest, slug: str, phase: str, pk: int) -> HttpResponse:
    reading_list = _list_or_404(request, slug, phase, pk)
    try:
        rows = services_reference.reference_rows_compute(actor=signed_in_user(request),
                                                         reading_list=reading_list)
        messages.success(request, _("%(n)d reference rows scored on %(cases)d cases.") % {
            "n": len(rows), "cases": rows[0].n_cases})
    except DomainError as exc:
        messages.error(request, exc.message)
    return _to_list(reading_list)


@login_required
@require_POST
def reference_publish(request: HttpRequest, slug: str, phase: str, pk: int,
                      row: int) -> HttpResponse:
    reading_list = _list_or_404(request, slug, phase, pk)
    row_obj = ReferenceRow.objects.select_related("phase__challenge__society").filter(
        pk=row, reading_list=reading_list).first()
    if row_obj is None:
        raise Http404(_("There is no such reference row."))
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A name has at most 100 characters."))
        return _to_list(reading_list)
    try:
        services_reference.reference_row_publish(
            actor=signed_in_user(request), row=row_obj, published=form.cleaned_data["published"],
            public_name=form.cleaned_data["public_name"])
        messages.success(request, _("Shown on the leaderboard as a reference.")
                         if form.cleaned_data["published"]
                         else _("Withdrawn from the leaderboard."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return _to_list(reading_list)
