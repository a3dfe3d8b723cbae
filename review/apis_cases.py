"""REST API v1 of review's case pages (review/views_cases.py): one case as the case page shows
it (current ground truth, the predictions of the submissions the caller may see, blinded as
Algorithm A, B, … unless blinding is off, the caller's verdicts, the case's flags), its image
rendered as PNG, and recording a verdict or a flag. Same people and selectors as the pages
(review/apis.py); viewing a case or its image is audited with "via": "api"."""

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import audit_record
from challenges.models import Case, Phase
from config.api_errors import error_responses
from config.png import png_response
from config.query import QuerySerializer
from evaluation.models import Submission
from imaging.render import AUTO, MAX_SIZE, MIN_SIZE, PRESETS, RenderParams
from review import services
from review.apis import ReviewFlagOutput, api_actor, review_phase_of_request, valid_data
from review.errors import ReviewNotFound
from review.forms import MAX_TEXT
from review.models import CaseFlag, Verdict
from review.selectors.access import algorithms_for, is_blinded
from review.selectors.cases import PredictionView, access_review_case, case_review
from review.views_cases import CASE_IMAGE_SIZE, case_rendering


def review_case_of_request(request: Request, slug: str, phase: str,
                           case_id: str) -> tuple[Phase, Case]:
    phase_obj = review_phase_of_request(request, slug, phase)
    return phase_obj, access_review_case(phase_obj, case_id)


def _prediction(view: PredictionView) -> dict[str, Any]:
    mine = view.my_verdict
    return {
        "code": view.algorithm.code, "name": view.algorithm.name, "rank": view.algorithm.rank,
        "label": view.label, "loss": view.loss,
        "scores": [{"label": label, "score": score} for label, score in view.scores],
        "metrics": {key: value for key, value in view.metrics},
        "marks": [{"kind": m.kind, "x": m.x, "y": m.y, "width": m.width, "height": m.height,
                   "score": m.score} for m in view.marks],
        "has_mask": view.has_mask,
        "my_verdict": None if mine is None else {"verdict": mine.verdict,
                                                  "comment": mine.comment},
        "verdict_counts": view.verdict_counts,
    }


class ReviewCaseQuery(QuerySerializer):
    frame = serializers.IntegerField(required=False, min_value=0, max_value=100_000,
                                     help_text="The frame whose marks are listed (0-based).")


ReviewCaseOutput = inline_serializer("ReviewCase", fields={
    "case_id": serializers.CharField(), "modality": serializers.CharField(),
    "frames": serializers.IntegerField(), "frame": serializers.IntegerField(),
    "rows": serializers.IntegerField(allow_null=True),
    "columns": serializers.IntegerField(allow_null=True),
    "blinded": serializers.BooleanField(),
    "truth": serializers.DictField(help_text="version, value, label, marks, has_mask"),
    "predictions": serializers.ListField(child=serializers.DictField(), help_text=(
        "code, name (Algorithm A… while blinded), rank, label, loss, scores, metrics, marks, "
        "has_mask, my_verdict, verdict_counts")),
    "flags": ReviewFlagOutput(many=True),
})


class ReviewCaseApi(APIView):
    """One case of the phase as the case page shows it. Audited."""

    @extend_schema(parameters=[ReviewCaseQuery],
                   responses={200: ReviewCaseOutput, **error_responses(400, 404)})
    def get(self, request: Request, slug: str, phase: str, case_id: str) -> Response:
        phase_obj, case = review_case_of_request(request, slug, phase, case_id)
        frame = valid_data(ReviewCaseQuery, request.query_params).get("frame")
        review = case_review(request.user, phase_obj, case, frame=frame)
        audit_record(actor=api_actor(request), action="review.case_viewed", target_type="case",
                     target_id=case.pk, detail={
                         "phase": phase_obj.pk, "truth_version": review.truth_version,
                         "submissions": [p.algorithm.submission_id for p in review.predictions],
                         "via": "api"})
        return Response({
            "case_id": case.case_id, "modality": case.modality, "frames": review.frames,
            "frame": review.frame, "rows": review.rows, "columns": review.columns,
            "blinded": is_blinded(phase_obj),
            "truth": {"version": review.truth_version, "value": review.truth,
                      "label": review.truth_label, "has_mask": review.truth_has_mask,
                      "marks": [{"kind": m.kind, "x": m.x, "y": m.y, "width": m.width,
                                 "height": m.height, "score": m.score}
                                for m in review.truth_marks]},
            "predictions": [_prediction(p) for p in review.predictions],
            "flags": ReviewFlagOutput(review.flags, many=True).data,
        })


class ReviewImageQuery(QuerySerializer):
    frame = serializers.IntegerField(required=False, min_value=0, max_value=100_000)
    preset = serializers.ChoiceField(choices=[*PRESETS, AUTO], required=False)
    center = serializers.FloatField(required=False, min_value=-1e6, max_value=1e6,
                                    help_text="The window's centre (with width).")
    width = serializers.FloatField(required=False, min_value=1, max_value=1e6,
                                   help_text="The window's width (with center).")
    size = serializers.IntegerField(required=False, min_value=MIN_SIZE, max_value=MAX_SIZE,
                                    default=CASE_IMAGE_SIZE)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("center" in attrs) != ("width" in attrs):
            raise serializers.ValidationError(
                {"width": [_("Give both a centre and a width, or neither.")]})
        return attrs


class ReviewCaseImageApi(APIView):
    """The case's image, one frame windowed as asked (as the case page's image). A file that
    cannot be rendered answers a grey placeholder (X-Enclave-Render: failed). Audited."""

    @extend_schema(parameters=[ReviewImageQuery], responses={
        (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY), **error_responses(400, 404)})
    def get(self, request: Request, slug: str, phase: str, case_id: str) -> HttpResponse:
        _phase, case = review_case_of_request(request, slug, phase, case_id)
        data = valid_data(ReviewImageQuery, request.query_params)
        file = case.files.order_by("name").first()
        if file is None:
            raise ReviewNotFound("case_file_not_found", _("This case has no image file."))
        params = RenderParams(frame=data.get("frame"), center=data.get("center"),
                              width=data.get("width"), preset=data.get("preset", ""),
                              max_size=data["size"])
        body, rendered, detail = case_rendering(case, file, params)
        audit_record(actor=api_actor(request), action="review.rendering_viewed",
                     target_type="case", target_id=case.pk,
                     detail={"file": file.sha256, **detail, "via": "api"})
        return png_response(body, rendered=rendered)


class ReviewVerdictInput(serializers.Serializer):
    prediction = serializers.CharField(max_length=8, help_text="The algorithm's code (A, B, …).")
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    comment = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True,
                                    default="")


ReviewVerdictOutput = inline_serializer("ReviewVerdict", fields={
    "case_id": serializers.CharField(), "prediction": serializers.CharField(),
    "verdict": serializers.CharField(), "comment": serializers.CharField()})


class ReviewVerdictApi(APIView):
    """Record (or change) the caller's verdict on one algorithm's prediction for the case; an
    algorithm the caller may not see is a 404."""

    @extend_schema(request=ReviewVerdictInput,
                   responses={201: ReviewVerdictOutput, **error_responses(400, 404)})
    def post(self, request: Request, slug: str, phase: str, case_id: str) -> Response:
        phase_obj, case = review_case_of_request(request, slug, phase, case_id)
        data = valid_data(ReviewVerdictInput, request.data)
        algorithm = next((a for a in algorithms_for(request.user, phase_obj)
                          if a.code == data["prediction"]), None)
        if algorithm is None:
            raise ReviewNotFound("prediction_not_found",
                                 _("There is no such prediction to judge."))
        submission = Submission.objects.select_related("team").get(pk=algorithm.submission_id)
        verdict = services.verdict_record(actor=api_actor(request), case=case,
                                          submission=submission, verdict=data["verdict"],
                                          comment=data["comment"])
        return Response({"case_id": case.case_id, "prediction": algorithm.code,
                         "verdict": verdict.verdict, "comment": verdict.comment}, status=201)


class ReviewCaseFlagInput(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_TEXT,
                                   help_text="Why the ground truth is questionable.")


class ReviewCaseFlagApi(APIView):
    """Flag the case's ground truth as questionable: the society's admins decide it."""

    @extend_schema(request=ReviewCaseFlagInput,
                   responses={201: ReviewFlagOutput, **error_responses(400, 404)})
    def post(self, request: Request, slug: str, phase: str, case_id: str) -> Response:
        _phase, case = review_case_of_request(request, slug, phase, case_id)
        data = valid_data(ReviewCaseFlagInput, request.data)
        flag = services.flag_raise(actor=api_actor(request), case=case, reason=data["reason"])
        flag = CaseFlag.objects.select_related("case", "raised_by", "resolved_by").get(pk=flag.pk)
        return Response(ReviewFlagOutput(flag).data, status=201)
