"""REST API v1 of the pixel-review queue (images held for burned-in text): list, view, decide.
For the owning society's data stewards and admins, and operators; 404 for everyone else.
Thin: `selectors_held` decides who sees what and audits, `services_held` who may decide."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenges.models import HeldImage, HeldStatus
from challenges.selectors import access_challenge_by_user
from challenges.selectors_held import (
    held_image_for,
    held_image_viewed,
    held_images_for,
    reason_text,
)
from challenges.services_held import MAX_DECISION_TEXT, held_bytes, held_image_decide
from config.api_errors import error_responses
from config.errors import DomainError
from config.png import png_response
from config.query import QuerySerializer
from imaging.render import RenderError, RenderParams, render_cached

MAX_IMAGE_SIZE = 1024


class HeldImageOutput(serializers.ModelSerializer):
    phase = serializers.CharField(source="phase.slug")
    reason_text = serializers.SerializerMethodField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True,
                                       default=None)

    class Meta:
        model = HeldImage
        fields = ["id", "phase", "case_id", "file_name", "kind", "sha256", "size_bytes", "reason",
                  "reason_text", "pixels_masked", "modality", "shape", "vendor", "site", "label",
                  "source", "status", "created", "decided_by", "decided_at", "decision_reason"]

    def get_reason_text(self, held: HeldImage) -> str:
        return reason_text(held.reason)


HeldImagePage = inline_serializer("HeldImagePage", fields={
    "count": serializers.IntegerField(),
    "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
    "results": HeldImageOutput(many=True),
})


class HeldImageListApi(APIView):
    """The challenge's held images in one `status` (pending by default; oldest first),
    paginated with `limit`/`offset`."""

    class HeldListInput(QuerySerializer):
        status = serializers.ChoiceField(choices=HeldStatus.choices, required=False)

    @extend_schema(parameters=[OpenApiParameter("status", enum=HeldStatus.values, required=False,
                                                description="pending (the default), approved "
                                                "or rejected.")],
                   responses={200: HeldImagePage, **error_responses(400, 404)})
    def get(self, request: Request, slug: str) -> Response:
        query = self.HeldListInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        challenge = access_challenge_by_user(request.user, slug)
        held = held_images_for(request.user, challenge, via="api",
                               status=query.validated_data.get("status", HeldStatus.PENDING))
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(held, request, view=self)
        return paginator.get_paginated_response(HeldImageOutput(page, many=True).data)


class HeldImagePngApi(APIView):
    """One pending held image rendered as PNG (`frame`, `size` up to 1024). Audited."""

    class HeldImageInput(serializers.Serializer):
        frame = serializers.IntegerField(min_value=0, max_value=100_000, required=False)
        size = serializers.IntegerField(min_value=32, max_value=MAX_IMAGE_SIZE, default=512)

    @extend_schema(parameters=[HeldImageInput], responses={
        (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY), **error_responses(400, 404, 409)})
    def get(self, request: Request, slug: str, pk: int) -> HttpResponse:
        query = self.HeldImageInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        held = held_image_for(request.user, access_challenge_by_user(request.user, slug), pk)
        params = RenderParams(frame=query.validated_data.get("frame"),
                              max_size=query.validated_data["size"])
        held_image_viewed(request.user, held, via="api")
        try:
            png = render_cached(sha256=held.sha256, kind=held.kind,
                                load=lambda: held_bytes(held), params=params).png
        except RenderError as exc:
            raise DomainError("cannot_render", str(exc), status=409) from exc
        return png_response(png)


class HeldImageDecisionApi(APIView):
    """Approve (the image joins the phase's cases, with any ground truth sent with it) or reject
    (its bytes are deleted). Final; audited."""

    class HeldDecisionInput(serializers.Serializer):
        approve = serializers.BooleanField()
        reason = serializers.CharField(max_length=MAX_DECISION_TEXT, required=False,
                                       allow_blank=True, default="")

    @extend_schema(request=HeldDecisionInput,
                   responses={200: HeldImageOutput, **error_responses(400, 403, 404, 409)})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        data = self.HeldDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        held = held_image_for(request.user, access_challenge_by_user(request.user, slug), pk)
        held = held_image_decide(held=held, actor=request.user,  # type: ignore[arg-type]
                                 approve=data.validated_data["approve"],
                                 reason=data.validated_data["reason"])
        return Response(HeldImageOutput(held).data)
