"""REST API v1 of reader studies: a phase's reading lists, one list's progress, agreement and
merge preview, and a reader's own reads (list, record). Thin, like review/views_reading.py:
the owning society's hidden-data roles and operators see lists, only a list's readers read and
record; everyone else gets a 404. Reading a list is audited."""

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import can_manage_society
from audit.services import audit_record
from config.api_errors import error_responses
from review.errors import ReviewNotFound
from review.models import Read, ReadingList
from review.selectors.access import access_review_phase
from review.selectors.reading import (
    access_reading_list,
    agreement_of,
    assignment_of,
    list_case,
    merge_outcome,
    progress_of,
    reading_lists_of,
)
from review.services_reading import read_record


class ReadingListOutput(serializers.ModelSerializer):
    n_cases = serializers.IntegerField()
    n_readers = serializers.IntegerField()

    class Meta:
        model = ReadingList
        fields = ["id", "title", "merge_rule", "grades", "sample_seed", "created", "n_cases",
                  "n_readers"]


ReadingListDetailOutput = inline_serializer("ReadingListDetail", fields={
    "id": serializers.IntegerField(), "title": serializers.CharField(),
    "merge_rule": serializers.CharField(), "grades": serializers.ListField(),
    "readers": serializers.ListField(child=serializers.DictField(), help_text=(
        "number, n_read, n_assigned; the user name for the society's admins only")),
    "agreement": serializers.DictField(help_text="method (cohen/fleiss), kappa, n_cases"),
    "merge": serializers.DictField(help_text="resolved (count), unresolved and unread case ids"),
})


class ReadOutput(serializers.ModelSerializer):
    case_id = serializers.CharField(source="case.case_id")

    class Meta:
        model = Read
        fields = ["case_id", "version", "answer", "created"]


def reading_list_of_request(request: Request, slug: str, phase: str, pk: int) -> ReadingList:
    """The reading list `pk` of the phase, for those who may see it (404 for everyone else)."""
    return access_reading_list(request.user, access_review_phase(request.user, slug, phase), pk)


class ReadingListListApi(APIView):
    """The phase's reading lists, newest first."""

    @extend_schema(responses={200: ReadingListOutput(many=True), **error_responses(404)})
    def get(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = access_review_phase(request.user, slug, phase)
        return Response(ReadingListOutput(reading_lists_of(phase_obj), many=True).data)


class ReadingListDetailApi(APIView):
    """A list's readers with their progress, inter-reader agreement and how its reads would
    merge under its rule (nothing is written). Audited."""

    @extend_schema(responses={200: ReadingListDetailOutput, **error_responses(404)})
    def get(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        reading_list = reading_list_of_request(request, slug, phase, pk)
        manager = can_manage_society(request.user, reading_list.phase.challenge.society)
        outcome = merge_outcome(reading_list)
        agreement = agreement_of(reading_list)
        audit_record(actor=request.user if isinstance(request.user, User) else None,
                     action="review.reading_list_viewed", target_type="phase",
                     target_id=reading_list.phase_id,
                     detail={"list": reading_list.pk, "via": "api"})
        readers: list[dict[str, Any]] = [
            {"number": p.number, "n_read": p.n_read, "n_assigned": p.n_assigned,
             **({"username": p.reader.username} if manager else {})}
            for p in progress_of(reading_list)]
        return Response({
            "id": reading_list.pk, "title": reading_list.title,
            "merge_rule": reading_list.merge_rule, "grades": reading_list.grades,
            "readers": readers,
            "agreement": {"method": agreement.method, "kappa": agreement.kappa,
                          "n_cases": agreement.n_cases},
            "merge": {"resolved": len(outcome.resolved), "unresolved": outcome.unresolved,
                      "unread": outcome.unread},
        })


class ReadListApi(APIView):
    """The signed-in reader's current reads of the list (GET), or a read of one case (POST):
    `label` (with an optional `confidence` in [0, 1]) for classification, `lesions` for
    detection, an optional `grade`. A re-read adds a version; the earlier one is kept."""

    class ReadInput(serializers.Serializer):
        case_id = serializers.CharField(max_length=64)
        # a field named like Field.label: DRF's metaclass takes it out of the class attributes
        label = serializers.CharField(max_length=64, required=False)  # type: ignore[assignment]
        confidence = serializers.FloatField(required=False, allow_null=True)
        grade = serializers.IntegerField(required=False, allow_null=True, min_value=0)
        lesions = serializers.ListField(child=serializers.DictField(), required=False,
                                        max_length=10_000)

    def _list(self, request: Request, slug: str, phase: str, pk: int) -> ReadingList:
        reading_list = reading_list_of_request(request, slug, phase, pk)
        if assignment_of(request.user, reading_list) is None:
            raise ReviewNotFound("reading_list_not_found", _("There is no such reading list."))
        return reading_list

    @extend_schema(responses={200: ReadOutput(many=True), **error_responses(404)})
    def get(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        reading_list = self._list(request, slug, phase, pk)
        reads = Read.objects.filter(reading_list=reading_list, reader_id=request.user.pk,
                                    is_current=True).select_related("case").order_by("case__case_id")
        return Response(ReadOutput(reads, many=True).data)

    @extend_schema(request=ReadInput,
                   responses={201: ReadOutput, **error_responses(400, 403, 404)})
    def post(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        reading_list = self._list(request, slug, phase, pk)
        data = self.ReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        answer = dict(data.validated_data)
        case = list_case(reading_list, answer.pop("case_id"))
        read = read_record(actor=request.user,  # type: ignore[arg-type]
                           reading_list=reading_list, case=case, answer=answer)
        return Response(ReadOutput(read).data, status=201)
