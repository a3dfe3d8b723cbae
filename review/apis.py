"""REST API v1 of the review pages of a phase (review/views.py): its queues, open and decided
flags with their resolution, blinding, re-evaluation, and declaring a conflict of interest; the
case endpoints are in review/apis_cases.py. Thin: the same selectors and services as the pages,
so the same people: the owning society's hidden-data roles and operators; everyone else gets a
404 (and the services a 403 to what only the society's admins may do). A reviewer never sees the
submissions of their own team or of a team they declared a conflict with (`algorithms_for`).
Reading a queue or the flags is audited, as on the pages, with "via": "api"."""

from typing import Any

from django.core.paginator import Paginator
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from audit.services import audit_record
from challenges.models import Phase
from config.api_errors import error_responses
from config.query import QuerySerializer
from evaluation.services.publication import phase_reevaluate_request
from review import services
from review.errors import ReviewNotFound
from review.forms import MAX_TEXT
from review.models import CaseFlag, FlagStatus
from review.selectors.access import access_review_phase, is_blinded, is_reviewer
from review.selectors.cases import current_truths, open_flags, recent_flags
from review.selectors.queues import QUEUES, queue_for

PER_PAGE = 25


def api_actor(request: Request) -> User:
    return request.user  # type: ignore[return-value]  # APIs require a signed-in user


def review_phase_of_request(request: Request, slug: str, phase: str) -> Phase:
    """The phase, for those who may review it (ReviewNotFound, a 404, for everyone else)."""
    return access_review_phase(request.user, slug, phase)


def valid_data(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ReviewQueueQuery(QuerySerializer):
    queue = serializers.ChoiceField(choices=list(QUEUES), default="worst")
    algorithm = serializers.RegexField(r"^[A-Z]{1,4}$", required=False,
                                       help_text="The worst-cases queue's algorithm (A, B, …).")
    seed = serializers.IntegerField(min_value=0, max_value=10**9, default=0,
                                    help_text="The random sample's seed.")
    page = serializers.IntegerField(min_value=1, default=1)


ReviewQueueOutput = inline_serializer("ReviewQueue", fields={
    "queue": serializers.CharField(), "title": serializers.CharField(),
    "explanation": serializers.CharField(),
    "algorithm": serializers.CharField(allow_null=True,
                                       help_text="The worst-cases queue's algorithm code."),
    "algorithms": serializers.ListField(child=serializers.DictField(),
                                        help_text="code, name, rank of the algorithms shown"),
    "seed": serializers.IntegerField(), "blinded": serializers.BooleanField(),
    "page": serializers.IntegerField(), "pages": serializers.IntegerField(),
    "count": serializers.IntegerField(),
    "items": serializers.ListField(child=serializers.DictField(),
                                   help_text="case_id, value, note"),
})


class ReviewQueueApi(APIView):
    """One of the phase's review queues (?queue=worst|disagreement|label-errors|random|flagged),
    a page of its cases with the queue's one-line explanation. Audited."""

    @extend_schema(parameters=[ReviewQueueQuery],
                   responses={200: ReviewQueueOutput, **error_responses(400, 404)})
    def get(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = review_phase_of_request(request, slug, phase)
        query = valid_data(ReviewQueueQuery, request.query_params)
        queue = queue_for(request.user, phase_obj, query["queue"],
                          algorithm=query.get("algorithm", ""), seed=query["seed"])
        paginator = Paginator(queue.items, PER_PAGE)
        page = paginator.get_page(query["page"])
        audit_record(actor=api_actor(request), action="review.queue_viewed", target_type="phase",
                     target_id=phase_obj.pk, detail={
                         "queue": queue.key, "cases": [item.case_id for item in page.object_list],
                         "submission": queue.algorithm.submission_id if queue.algorithm else None,
                         "via": "api"})
        return Response({
            "queue": queue.key, "title": queue.title, "explanation": queue.explanation,
            "algorithm": queue.algorithm.code if queue.algorithm else None,
            "algorithms": [{"code": a.code, "name": a.name, "rank": a.rank}
                           for a in queue.algorithms],
            "seed": queue.seed, "blinded": is_blinded(phase_obj),
            "page": page.number, "pages": paginator.num_pages, "count": paginator.count,
            "items": [{"case_id": i.case_id, "value": i.value, "note": i.note}
                      for i in page.object_list],
        })


class ReviewFlagOutput(serializers.ModelSerializer):
    case_id = serializers.CharField(source="case.case_id")
    raised_by = serializers.CharField(source="raised_by.username")
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True,
                                        default=None)

    class Meta:
        model = CaseFlag
        fields = ["id", "case_id", "reason", "truth_version", "status", "raised_by", "created",
                  "resolved_by", "resolved_at", "resolution_note", "truth_version_created"]


class ReviewFlagsQuery(QuerySerializer):
    status = serializers.ChoiceField(
        choices=FlagStatus.choices, default=FlagStatus.OPEN,
        help_text="open (all of them, oldest first), or the recently decided ones of a status.")


ReviewFlagsOutput = inline_serializer("ReviewFlags", fields={
    "flags": ReviewFlagOutput(many=True),
    "truths": serializers.DictField(help_text="case id -> the current ground truth (open flags)"),
    "truth_version": serializers.IntegerField(),
})


class ReviewFlagsApi(APIView):
    """The phase's flags: open ones with their cases' current ground truth (default), or the
    recently decided ones (?status=resolved|dismissed). Audited, as the flags page."""

    @extend_schema(parameters=[ReviewFlagsQuery],
                   responses={200: ReviewFlagsOutput, **error_responses(400, 404)})
    def get(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = review_phase_of_request(request, slug, phase)
        status = valid_data(ReviewFlagsQuery, request.query_params)["status"]
        if status == FlagStatus.OPEN:
            flagged = open_flags(phase_obj)
            truths = current_truths(phase_obj, [f.case_id for f in flagged])
        else:
            flagged = [f for f in recent_flags(phase_obj) if f.status == status]
            truths = {}
        audit_record(actor=api_actor(request), action="review.flags_viewed", target_type="phase",
                     target_id=phase_obj.pk, detail={
                         "cases": sorted({f.case.case_id for f in flagged}),
                         "truth_version": phase_obj.truth_version, "via": "api"})
        return Response({"flags": ReviewFlagOutput(flagged, many=True).data, "truths": truths,
                         "truth_version": phase_obj.truth_version})


class ReviewFlagResolveInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["correct", "dismiss"])
    # a field named like Field.label: DRF's metaclass takes it out of the class attributes
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=64, required=False, allow_blank=True,
        help_text="With action=correct: the new ground truth.")
    note = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True,
                                 default="")
    reevaluate = serializers.BooleanField(default=False, help_text=(
        "With action=correct: re-evaluate every submission afterwards."))


ReviewFlagResolveOutput = inline_serializer("ReviewFlagResolved", fields={
    "flag": ReviewFlagOutput(),
    "truth_version": serializers.IntegerField(allow_null=True,
                                              help_text="The corrected truth's version."),
    "reevaluation_queued": serializers.BooleanField(),
})


class ReviewFlagResolveApi(APIView):
    """A society admin (or operator) keeps the flagged case's ground truth (dismiss) or corrects
    it (correct, with `label`), optionally queuing a re-evaluation."""

    @extend_schema(request=ReviewFlagResolveInput,
                   responses={200: ReviewFlagResolveOutput, **error_responses(400, 403, 404)})
    def post(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        phase_obj = review_phase_of_request(request, slug, phase)
        flag_obj = (CaseFlag.objects.select_related("case").filter(pk=pk, case__phase=phase_obj)
                    .first())
        if flag_obj is None:
            raise ReviewNotFound("flag_not_found", _("There is no such flag."))
        data = valid_data(ReviewFlagResolveInput, request.data)
        version = None
        if data["action"] == "dismiss":
            flag_obj = services.flag_dismiss(actor=api_actor(request), flag=flag_obj,
                                             note=data["note"])
        else:
            version = services.truth_correct_from_flag(
                actor=api_actor(request), flag=flag_obj, value=data.get("label", ""),
                note=data["note"], reevaluate=data["reevaluate"])
        flag_obj = CaseFlag.objects.select_related("case", "raised_by", "resolved_by").get(
            pk=flag_obj.pk)
        return Response({"flag": ReviewFlagOutput(flag_obj).data, "truth_version": version,
                         "reevaluation_queued": version is not None and data["reevaluate"]})


class ReviewSettingsInput(serializers.Serializer):
    blinded = serializers.BooleanField(help_text="Show submissions as Algorithm A, B, …")


ReviewSettingsOutput = inline_serializer("ReviewSettingsState", fields={
    "blinded": serializers.BooleanField()})


class ReviewSettingsApi(APIView):
    """Whether the phase's submissions are shown blinded (GET, every reviewer); the society's
    admins and operators change it (PATCH, JSON only: a form body without `blinded` would read
    as false)."""

    parser_classes = [JSONParser]

    @extend_schema(responses={200: ReviewSettingsOutput, **error_responses(404)})
    def get(self, request: Request, slug: str, phase: str) -> Response:
        return Response({"blinded": is_blinded(review_phase_of_request(request, slug, phase))})

    @extend_schema(request=ReviewSettingsInput,
                   responses={200: ReviewSettingsOutput, **error_responses(400, 403, 404)})
    def patch(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = review_phase_of_request(request, slug, phase)
        data = valid_data(ReviewSettingsInput, request.data)
        settings = services.review_settings_update(actor=api_actor(request), phase=phase_obj,
                                                   blinded=data["blinded"])
        return Response({"blinded": settings.blinded})


ReviewReevaluateOutput = inline_serializer("ReviewReevaluation", fields={
    "queued": serializers.BooleanField()})


class ReviewReevaluateApi(APIView):
    """Queue a re-evaluation of every succeeded submission (society admins and operators)."""

    @extend_schema(request=None,
                   responses={202: ReviewReevaluateOutput, **error_responses(403, 404)})
    def post(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = review_phase_of_request(request, slug, phase)
        phase_reevaluate_request(phase=phase_obj, actor=api_actor(request))
        return Response({"queued": True}, status=202)


class ReviewConflictInput(serializers.Serializer):
    team = serializers.SlugField(max_length=50, help_text="The team's short name.")
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


ReviewConflictOutput = inline_serializer("ReviewConflict", fields={
    "team": serializers.CharField(), "note": serializers.CharField(),
    "created": serializers.DateTimeField()})


class ReviewConflictApi(APIView):
    """Declare a conflict of interest with a team (anyone who reviews in some society): its
    submissions leave the caller's review. Declaring it again changes nothing."""

    @extend_schema(request=ReviewConflictInput,
                   responses={201: ReviewConflictOutput, **error_responses(400, 404)})
    def post(self, request: Request) -> Response:
        if not is_reviewer(request.user):
            raise ReviewNotFound("review_not_found", _("There is nothing to review here."))
        data = valid_data(ReviewConflictInput, request.data)
        conflict = services.conflict_declare(actor=api_actor(request), team_slug=data["team"],
                                             note=data["note"])
        return Response({"team": conflict.team.slug, "note": conflict.note,
                         "created": conflict.created}, status=201)
