"""REST API v1 of the guided challenge set-up: basics, phases and the case import.

The API checks input with the very forms of the web wizard (`challenges.forms`), fed with the
JSON's values (a PATCH is merged over the stored ones first), and saves through the same
services; their refusals come back as `{code, detail[, fields]}`. Society admins and operators
only: anyone else is told the challenge does not exist (404), as on the wizard's pages.
"""

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from challenges.errors import ChallengeNotFound, ChallengeRejected
from challenges.forms import (
    MAX_CASES_ZIP_BYTES,
    MAX_LABELS_CSV_BYTES,
    MAX_MASKS_ZIP_BYTES,
    CaseImportForm,
    ChallengeBasicsForm,
    PhaseForm,
    basics_initial,
    phase_initial,
)
from challenges.models import Challenge, Phase
from challenges.selectors import access_challenge_for_manager, societies_managed_by
from challenges.services_setup import (
    challenge_draft_create,
    challenge_update,
    phase_add,
    phase_update,
)
from challenges.truths import MAX_LESIONS_FILE_BYTES
from challenges.views_wizard import data_import_from_form
from config.api_errors import error_responses
from config.errors import DomainError, Forbidden

_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers


def form_problems(form: forms.Form) -> ValidationError:
    """A form's errors as the API's invalid-input answer (400, `fields` by name)."""
    fields = {("non_field_errors" if name == "__all__" else name): [str(e) for e in errors]
              for name, errors in form.errors.items()}
    return ValidationError(fields)


def _object(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ChallengeRejected("bad_request", _("Send a JSON object."))
    return dict(request.data)


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    """Refuse unknown fields, and values the forms cannot take (lists and objects, but the
    labels)."""
    unknown = set(data) - allowed
    if unknown:
        raise ChallengeRejected("bad_field", _("Unknown fields: %(names)s") % {
            "names": ", ".join(sorted(str(n)[:40] for n in unknown))})
    nested = sorted(name for name, value in data.items()
                    if isinstance(value, (list, dict)) and name != "labels")
    if nested:
        raise ValidationError({name: [_("Give a single value.")] for name in nested})


def _as_typed(data: dict[str, Any]) -> dict[str, str]:
    """JSON scalars as a form gets them from a web page: text (null is empty)."""
    return {name: "" if value is None else value if isinstance(value, str)
            else str(value).lower() if isinstance(value, bool) else str(value)
            for name, value in data.items()}


def manager_challenge_api(user: Any, slug: str) -> Challenge:
    """The challenge when the user may edit it (ChallengeNotFound, a 404, otherwise)."""
    return access_challenge_for_manager(user, slug)


def manager_phase_api(challenge: Challenge, slug: str) -> Phase:
    phase = challenge.phases.filter(slug=slug).first()
    if phase is None:
        raise ChallengeNotFound("phase_not_found", _(
            "Challenge “%(challenge)s” has no phase “%(phase)s”.") % {
                "challenge": challenge.slug, "phase": slug[:80]})
    return phase


# --- challenges -------------------------------------------------------------------------

BASICS = ("title", "description", "modality", "task_type", "labels", "positive_label",
          "registration_mode")

ChallengeBasicsInput = inline_serializer("ChallengeBasics", fields={
    "title": serializers.CharField(), "description": serializers.CharField(required=False),
    "modality": serializers.CharField(required=False), "task_type": serializers.CharField(),
    "labels": serializers.ListField(child=serializers.CharField(), required=False),
    "positive_label": serializers.CharField(required=False),
    "registration_mode": serializers.CharField(required=False),
})
ChallengeCreateInput = inline_serializer("ChallengeCreate", fields={
    "society": serializers.SlugField(help_text="A society you administer."),
    "slug": serializers.SlugField(), **ChallengeBasicsInput.fields,  # type: ignore[attr-defined]
})


def _form_values(data: dict[str, Any]) -> dict[str, Any]:
    """JSON values as the basics form takes them: the labels one per line."""
    labels = data.get("labels")
    if isinstance(labels, dict) or (isinstance(labels, list) and not all(
            isinstance(label, str) and "\n" not in label and "\r" not in label
            for label in labels)):
        raise ValidationError({"labels": [_("Give the labels as a list of strings, each on "
                                            "one line.")]})
    if isinstance(labels, list):
        data["labels"] = "\n".join(labels)
    return _as_typed(data)


def challenge_create_from_api(request: Request) -> Challenge:
    """POST /challenges/: a draft of a society the user manages (the wizard's first step)."""
    societies = societies_managed_by(request.user)
    if not societies.exists():
        raise Forbidden("not_society_admin",
                        _("Only society admins and operators set up challenges."))
    data = _object(request)
    _only(data, {"society", "slug", *BASICS})
    society = societies.filter(slug=str(data.get("society", ""))[:50]).first()
    data["society"] = society.pk if society is not None else str(data.get("society", ""))[:50]
    defaults = {"registration_mode": ChallengeBasicsForm.base_fields["registration_mode"].initial}
    form = ChallengeBasicsForm(defaults | _form_values(data), societies=societies)
    if not form.is_valid():
        raise form_problems(form)
    values = dict(form.cleaned_data)
    assert isinstance(request.user, User)
    return challenge_draft_create(actor=request.user, society=values.pop("society"),
                                  slug=values.pop("slug"), **values)


def challenge_update_from_api(request: Request, slug: str) -> Challenge:
    """PATCH /challenges/<slug>/: some of the basics, checked together with the stored ones."""
    challenge = manager_challenge_api(request.user, slug)
    data = _object(request)
    _only(data, set(BASICS))
    form = ChallengeBasicsForm(basics_initial(challenge) | _form_values(data),
                               societies=societies_managed_by(request.user), challenge=challenge)
    if not form.is_valid():
        raise form_problems(form)
    assert isinstance(request.user, User)
    return challenge_update(challenge=challenge, actor=request.user, **form.cleaned_data)


# --- phases ------------------------------------------------------------------------------

PHASE_SETTINGS = ("title", "is_hidden", "opens_at", "closes_at", "submission_limit",
                  "limit_window_hours", "wall_seconds", "memory_mb", "cpus", "gpus", "output_mb",
                  "pids", "output_files", "shards", "leaderboard_visibility")

PhaseSettingsInput = inline_serializer("PhaseSettings", fields={
    "title": serializers.CharField(),
    "is_hidden": serializers.BooleanField(
        help_text="Hidden: teams see aggregate scores and failure reasons only."),
    "opens_at": serializers.DateTimeField(allow_null=True, help_text="null: open now."),
    "closes_at": serializers.DateTimeField(allow_null=True, help_text="null: never closes."),
    **{name: serializers.IntegerField() for name in (
        "submission_limit", "limit_window_hours", "wall_seconds", "memory_mb", "gpus",
        "output_mb", "pids", "output_files", "shards")},
    "cpus": serializers.FloatField(),
    "leaderboard_visibility": serializers.CharField(),
})
PhaseCreateInput = inline_serializer("PhaseCreate", fields={
    "slug": serializers.SlugField(), **PhaseSettingsInput.fields,  # type: ignore[attr-defined]
})


def _phase_form_values(data: dict[str, Any]) -> dict[str, Any]:
    """JSON values as the phase form takes them: `is_hidden` is its `visibility` choice."""
    if "is_hidden" in data:
        hidden = data.pop("is_hidden")
        if not isinstance(hidden, bool):
            raise ChallengeRejected("bad_field", _("is_hidden must be true or false."))
        data["visibility"] = "hidden" if hidden else "public"
    return _as_typed(data)


def phase_create_from_api(request: Request, challenge: Challenge) -> Phase:
    """POST …/phases/: a new phase; settings left out take the wizard's defaults."""
    data = _object(request)
    _only(data, {"slug", *PHASE_SETTINGS})
    defaults = {name: field.initial for name, field in PhaseForm.base_fields.items()
                if field.initial is not None}
    form = PhaseForm(defaults | _phase_form_values(data))
    if not form.is_valid():
        raise form_problems(form)
    fields = form.phase_fields()
    assert isinstance(request.user, User)
    return phase_add(challenge=challenge, actor=request.user, slug=fields.pop("slug"), **fields)


def phase_update_from_api(request: Request, phase: Phase) -> Phase:
    """PATCH …/phases/<phase>/: some settings, checked together with the stored ones."""
    data = _object(request)
    _only(data, set(PHASE_SETTINGS))
    form = PhaseForm(phase_initial(phase) | _phase_form_values(data), phase=phase)
    if not form.is_valid():
        raise form_problems(form)
    assert isinstance(request.user, User)
    return phase_update(phase=phase, actor=request.user, **form.phase_fields())


# --- the case import ---------------------------------------------------------------------

ImportInput = inline_serializer("CaseImport", fields={
    "cases": serializers.FileField(help_text="A zip of DICOM, PNG or JPEG files, one per case; "
                                   "the file name without its extension is the case id."),
    "labels": serializers.FileField(required=False,
                                    help_text="Optional: a CSV file with the header case_id,label."),
    "masks": serializers.FileField(
        required=False, help_text="Segmentation challenges only, optional: a zip of mask files "
        "<case-id>.png|.npy|.nii|.nii.gz|.dcm (DICOM-SEG), each of its case image's shape."),
    "lesions": serializers.FileField(
        required=False, help_text="Detection challenges only, optional: a JSON file "
        "{case_id: [{x, y} or {x0, y0, x1, y1}, ...]} in pixels."),
})
TruthsOutput = inline_serializer("TruthImportReport", fields={
    "kind": serializers.ChoiceField(choices=["masks", "lesions"]),
    "cases": serializers.IntegerField(), "truth_version": serializers.IntegerField(),
    "without_spacing": serializers.IntegerField(
        help_text="Cases with no pixel spacing for their dimensions (distance metrics cannot "
        "score them unless the metric spec sets spacing_mm)."),
}, required=False, help_text="Present when masks or lesions were imported.")
ImportOutput = inline_serializer("CaseImportReport", fields={
    "phase": serializers.CharField(), "created": serializers.IntegerField(),
    "unchanged": serializers.IntegerField(), "labelled": serializers.IntegerField(),
    "held": serializers.IntegerField(help_text=(
        "Images at risk of burned-in text, held for a data steward's review (not cases yet).")),
    "truths": TruthsOutput,
})


class CaseImportApi(APIView):
    """Import a zip of cases (and labels, masks or lesions) into a phase, de-identified on
    arrival, as the wizard's data step does: all of it or nothing. Society admins and operators
    only."""

    parser_classes = [MultiPartParser]
    throttle_scope = "uploads"

    @extend_schema(request={"multipart/form-data": ImportInput},
                   responses={201: ImportOutput, **error_responses(400, 404, 413)})
    def post(self, request: Request, slug: str, phase: str) -> Response:
        limit = (MAX_CASES_ZIP_BYTES + MAX_LABELS_CSV_BYTES + MAX_MASKS_ZIP_BYTES
                 + MAX_LESIONS_FILE_BYTES + _FORM_OVERHEAD)
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            raise DomainError("too_large", _("The zip is larger than %(n)d GiB; use the "
                                             "import_cases command for large sets.") % {"n": 2},
                              status=413)
        challenge = manager_challenge_api(request.user, slug)
        phase_obj = manager_phase_api(challenge, phase)
        form = CaseImportForm({"phase": phase_obj.slug}, request.FILES, challenge=challenge)
        if not form.is_valid():
            raise form_problems(form)
        assert isinstance(request.user, User)
        report = data_import_from_form(form, phase_obj, request.user)
        body: dict[str, Any] = {"phase": phase_obj.slug, "created": report.cases.created,
                                "unchanged": report.cases.unchanged,
                                "labelled": report.cases.labelled, "held": report.cases.held}
        if report.truths is not None:
            body["truths"] = {"kind": report.truth_kind, "cases": report.truths.cases,
                              "truth_version": report.truths.truth_version,
                              "without_spacing": report.truths.without_spacing}
        return Response(body, status=status.HTTP_201_CREATED)

