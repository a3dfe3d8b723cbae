"""REST API v1 of reader studies, the society's side of review/views_reading.py: create a
reading list, assign its readers, merge its reads into ground truth, score its reference rows and
publish (or withdraw) one. Thin: the same services as the pages decide and audit. Who may not
see the phase or the list gets a 404 (teams, other societies); the society's other hidden-data
roles see the list but its services answer 403 to their writes."""

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from config.api_errors import error_responses
from review import services_reading, services_reference
from review.apis_reading import ReadingListListApi, ReadingListOutput, reading_list_of_request
from review.errors import ReviewNotFound
from review.models import MergeRule, ReadingList, ReferenceRow
from review.selectors.access import access_review_phase
from review.selectors.reading import reading_lists_of
from review.selectors.reference import reference_entries, reference_rows_of_list
from review.services_reading import MAX_CASES, MAX_GRADES, MAX_NOTE
from review.services_reference import MAX_NAME


def _actor(request: Request) -> User:
    return request.user  # type: ignore[return-value]  # APIs require a signed-in user


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


class ReadingListCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    case_ids = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_empty=False,
        max_length=MAX_CASES, help_text="These cases, in this order.")
    sample_size = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_CASES,
        help_text="Without case_ids: a random sample of this many cases.")
    seed = serializers.IntegerField(
        required=False, min_value=0, max_value=10**9,
        help_text="The sample's seed (the same seed draws the same cases); drawn when not given.")
    merge_rule = serializers.ChoiceField(choices=MergeRule.choices, default=MergeRule.MAJORITY)
    adjudicator = serializers.CharField(max_length=150, required=False, allow_blank=True,
                                        help_text="The adjudicating physician's user name.")
    grades = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                   max_length=MAX_GRADES, help_text="Lowest first.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("case_ids") and attrs.get("sample_size"):
            raise serializers.ValidationError(
                {"sample_size": [_("Give case ids or a sample size, not both.")]})
        return attrs


class ReadingListCollectionApi(ReadingListListApi):
    """The phase's reading lists (GET); POST creates one, of `case_ids`, else a random sample
    of `sample_size` cases, else all the phase's cases (society admins and operators)."""

    @extend_schema(request=ReadingListCreateInput,
                   responses={201: ReadingListOutput, **error_responses(400, 403, 404)})
    def post(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = access_review_phase(request.user, slug, phase)
        data = _valid(ReadingListCreateInput, request)
        reading_list = services_reading.reading_list_create(
            actor=_actor(request), phase=phase_obj, title=data["title"],
            case_ids=data.get("case_ids"), sample_size=data.get("sample_size"),
            seed=data.get("seed"), merge_rule=data["merge_rule"],
            adjudicator=data.get("adjudicator", ""), grades=data.get("grades", []))
        created = reading_lists_of(phase_obj).get(pk=reading_list.pk)
        return Response(ReadingListOutput(created).data, status=201)


class ReadersAssignInput(serializers.Serializer):
    usernames = serializers.ListField(child=serializers.CharField(max_length=150),
                                      allow_empty=False, max_length=500,
                                      help_text="The society's physicians, by user name.")


ReadingReadersOutput = inline_serializer("ReadingReader", many=True, fields={
    "number": serializers.IntegerField(help_text="Reader n, in the order of assignment."),
    "username": serializers.CharField(),
})


class ReadersAssignApi(APIView):
    """Assign the society's physicians to the list (admins and operators); one assigned before
    keeps their reader number. Answers the named readers with their numbers."""

    @extend_schema(request=ReadersAssignInput,
                   responses={200: ReadingReadersOutput, **error_responses(400, 403, 404)})
    def post(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        reading_list = reading_list_of_request(request, slug, phase, pk)
        data = _valid(ReadersAssignInput, request)
        assignments = services_reading.readers_assign(
            actor=_actor(request), reading_list=reading_list, usernames=data["usernames"])
        return Response([{"number": a.number, "username": a.reader.username}
                         for a in assignments])


class ReadingMergeInput(serializers.Serializer):
    note = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True)


ReadingMergeOutput = inline_serializer("ReadingMergeOutput", fields={
    "id": serializers.IntegerField(),
    "rule": serializers.CharField(),
    "from_version": serializers.IntegerField(),
    "to_version": serializers.IntegerField(
        help_text="The new ground-truth version; from_version when nothing changed."),
    "changed": serializers.ListField(child=serializers.CharField(),
                                     help_text="The case ids whose truth the merge changed."),
    "unresolved": serializers.ListField(child=serializers.CharField(),
                                        help_text="Case ids unresolved by the rule or unread."),
})


class ReadingMergeApi(APIView):
    """Merge the list's current reads into ground truth by its rule (admins and operators):
    one new truth version when a resolved case's truth differs. Re-evaluate the phase after."""

    @extend_schema(request=ReadingMergeInput,
                   responses={201: ReadingMergeOutput, **error_responses(400, 403, 404, 409)})
    def post(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        reading_list = reading_list_of_request(request, slug, phase, pk)
        data = _valid(ReadingMergeInput, request)
        merge = services_reading.reading_merge_apply(
            actor=_actor(request), reading_list=reading_list, note=data.get("note", ""))
        return Response({"id": merge.pk, "rule": merge.rule, "from_version": merge.from_version,
                         "to_version": merge.to_version, "changed": merge.changed,
                         "unresolved": merge.unresolved}, status=201)


class ReferenceRowOutput(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField(help_text='The public name, else "Reader n" or the consensus.')
    public_name = serializers.CharField()
    kind = serializers.CharField(help_text="reader or consensus")
    reader_number = serializers.IntegerField(allow_null=True)
    n_cases = serializers.IntegerField()
    published = serializers.BooleanField()
    truth_version = serializers.IntegerField()
    current = serializers.BooleanField(
        help_text="Scored against the current ground truth and metric spec versions.")
    cells = serializers.ListField(child=serializers.DictField(),
                                  help_text="One per metric of the spec: key, value, CI.")


def _rows(reading_list: ReadingList) -> list[dict[str, Any]]:
    return ReferenceRowOutput(reference_rows_of_list(reading_list.phase, reading_list.pk),
                              many=True).data  # type: ignore[return-value]


class ReferenceRowsApi(APIView):
    """The list's reference rows (GET, the society's side); POST scores every reader and the
    consensus against the current truth again (admins and operators) and answers the rows."""

    @extend_schema(responses={200: ReferenceRowOutput(many=True), **error_responses(404)})
    def get(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        return Response(_rows(reading_list_of_request(request, slug, phase, pk)))

    @extend_schema(request=None, responses={
        201: ReferenceRowOutput(many=True), **error_responses(400, 403, 404, 409)})
    def post(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        reading_list = reading_list_of_request(request, slug, phase, pk)
        services_reference.reference_rows_compute(actor=_actor(request),
                                                  reading_list=reading_list)
        return Response(_rows(reading_list), status=201)


class ReferencePublishInput(serializers.Serializer):
    published = serializers.BooleanField(required=False,
                                         help_text="Shown on the leaderboard; unchanged if left out.")
    public_name = serializers.CharField(
        max_length=MAX_NAME, required=False, allow_blank=True,
        help_text='The name on the leaderboard ("" for "Reader n"); unchanged if left out.')


class ReferenceRowApi(APIView):
    """Publish a reference row on the phase's leaderboard, withdraw it, or name it (admins and
    operators). Fields left out keep their values."""

    @extend_schema(request=ReferencePublishInput,
                   responses={200: ReferenceRowOutput, **error_responses(400, 403, 404)})
    def patch(self, request: Request, slug: str, phase: str, pk: int, row: int) -> Response:
        reading_list = reading_list_of_request(request, slug, phase, pk)
        row_obj = ReferenceRow.objects.select_related("phase__challenge__society").filter(
            pk=row, reading_list=reading_list).first()
        if row_obj is None:
            raise ReviewNotFound("reference_row_not_found", _("There is no such reference row."))
        data = _valid(ReferencePublishInput, request)
        row_obj = services_reference.reference_row_publish(
            actor=_actor(request), row=row_obj,
            published=data.get("published", row_obj.published),
            public_name=data.get("public_name", row_obj.public_name))
        entry = reference_entries(reading_list.phase, [row_obj])[0]
        return Response(ReferenceRowOutput(entry).data)
