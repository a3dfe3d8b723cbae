"""REST API v1 for images, submissions and leaderboards. Thin: services and selectors decide."""

import io
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Team
from accounts.permissions import can_manage_society, is_team_member
from challenges.selectors import access_challenge_by_user, access_phase_by_user
from config.api_errors import error_responses
from config.errors import DomainError, Forbidden
from evaluation.errors import ImageInvalid, NotATeamMember
from evaluation.models import AlgorithmImage, LeaderboardSnapshot, UploadSession
from evaluation.selectors import (
    Leaderboard,
    access_submission_by_user,
    images_of_user,
    leaderboard_cached,
    leaderboard_visible,
    submission_team_views,
    submissions_of_user,
)
from evaluation.selectors.queue import quota_of
from evaluation.services import image_upload, submission_cancel, submission_create
from evaluation.services.publication import phase_publish, phase_reevaluate_request
from evaluation.services.specs import SpecRejected, challenge_spec_update, spec_dict_of
from evaluation.services.uploads import (
    access_upload_by_user,
    upload_append,
    upload_complete,
    upload_start,
)


def _team_for(user: Any, slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None or not is_team_member(user, team):
        raise NotATeamMember("not_a_team_member", "You are not a member of this team.")
    return team


class ImageOutput(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")

    class Meta:
        model = AlgorithmImage
        fields = ["id", "team", "image_id", "user", "repo_tags", "size_bytes", "created"]


_FORM_OVERHEAD = 64 * 1024  # multipart boundaries, headers and the team field


def _content_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class ImageListCreateApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_scope = "uploads"

    class ImageUploadInput(serializers.Serializer):
        team = serializers.SlugField()
        file = serializers.FileField()

    @extend_schema(responses=ImageOutput(many=True))
    def get(self, request: Request) -> Response:
        images = images_of_user(request.user)
        return Response(ImageOutput(images, many=True).data)

    @extend_schema(request=ImageUploadInput,
                   responses={201: ImageOutput, **error_responses(403, 413)})
    def post(self, request: Request) -> Response:
        if _content_length(request) > settings.ENCLAVE_IMAGE_MAX_BYTES + _FORM_OVERHEAD:
            # Refused before Django spools the whole body to a temporary file.
            raise ImageInvalid("too_large", _("The image tarball is larger than allowed."),
                               status=413)
        data = self.ImageUploadInput(data=request.data)
        if not data.is_valid():
            raise ImageInvalid("bad_request", "Send a team slug and a docker save tarball as file.")
        team = _team_for(request.user, data.validated_data["team"])
        image = image_upload(team=team, user=request.user,  # type: ignore[arg-type]
                             source=data.validated_data["file"])
        return Response(ImageOutput(image).data, status=status.HTTP_201_CREATED)


UploadOutput = inline_serializer("Upload", fields={
    "id": serializers.UUIDField(), "team": serializers.CharField(),
    "received": serializers.IntegerField(), "expected_size": serializers.IntegerField(allow_null=True),
    "state": serializers.CharField(),
})


def upload_payload(session: UploadSession) -> dict[str, Any]:
    return {"id": session.id, "team": session.team.slug, "received": session.received,
            "expected_size": session.expected_size, "state": session.state}


class UploadStartApi(APIView):
    """Start a resumable upload of a `docker save` tarball."""

    throttle_scope = "uploads"

    class UploadStartInput(serializers.Serializer):
        team = serializers.SlugField()
        size = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(request=UploadStartInput, responses={201: UploadOutput, **error_responses(403)})
    def post(self, request: Request) -> Response:
        data = self.UploadStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = _team_for(request.user, data.validated_data["team"])
        session = upload_start(team=team, user=request.user,  # type: ignore[arg-type]
                               size=data.validated_data.get("size"))
        return Response(upload_payload(session), status=status.HTTP_201_CREATED)


class UploadChunkApi(APIView):
    """GET: how much has arrived. PUT ?offset=N with the raw bytes: append a chunk there."""

    parser_classes: list[Any] = []
    throttle_scope = "upload_chunks"

    @extend_schema(responses=UploadOutput)
    def get(self, request: Request, pk: str) -> Response:
        return Response(upload_payload(access_upload_by_user(request.user, pk)))  # type: ignore[arg-type]

    @extend_schema(request={"application/octet-stream": bytes},
                   parameters=[OpenApiParameter("offset", int, required=True,
                                                description="Where this chunk starts.")],
                   responses={200: UploadOutput, **error_responses(409, 415)})
    def put(self, request: Request, pk: str) -> Response:
        session = access_upload_by_user(request.user, pk)  # type: ignore[arg-type]
        if request.content_type.split(";")[0].strip().lower() != "application/octet-stream":
            raise DomainError("unsupported_media_type",
                              _("Send the chunk as raw bytes (Content-Type: "
                                "application/octet-stream)."), status=415)
        try:
            offset = int(request.query_params.get("offset", ""))
        except ValueError as exc:
            raise ImageInvalid("bad_offset", "Give the chunk's offset as ?offset=N.") from exc
        body = request.stream or io.BytesIO()  # DRF gives no stream for an empty body
        session = upload_append(session=session, offset=offset, body=body)  # type: ignore[arg-type]
        return Response(upload_payload(session))


class UploadCompleteApi(APIView):
    throttle_scope = "uploads"

    @extend_schema(request=None, responses={201: ImageOutput, **error_responses(400, 409)})
    def post(self, request: Request, pk: str) -> Response:
        session = access_upload_by_user(request.user, pk)  # type: ignore[arg-type]
        image = upload_complete(session=session)
        return Response(ImageOutput(image).data, status=status.HTTP_201_CREATED)


SubmissionOutput = inline_serializer("Submission", fields={
    "id": serializers.IntegerField(), "challenge": serializers.CharField(),
    "phase": serializers.CharField(), "team": serializers.CharField(),
    "image": serializers.CharField(), "status": serializers.CharField(),
    "failure_reason": serializers.CharField(allow_null=True),
    "failure_detail": serializers.CharField(allow_null=True),
    "exit_code": serializers.IntegerField(allow_null=True),
    "created": serializers.DateTimeField(),
    "finished": serializers.DateTimeField(allow_null=True),
    "queue_position": serializers.IntegerField(
        allow_null=True, help_text="While queued: its place (1 = next) among the submissions "
        "waiting for the same kind of worker, all teams counted; otherwise null."),
    "estimated_start": serializers.DateTimeField(
        allow_null=True, help_text="While queued: roughly when it should start, from the "
        "queue's recent run times; null when queued runs have no history to go by."),
    "scores": serializers.DictField(allow_null=True),
    "scores_withheld": serializers.BooleanField(),
    "logs": serializers.CharField(allow_null=True),
})


class SubmissionListCreateApi(APIView):
    throttle_scope = "submissions"

    class SubmissionCreateInput(serializers.Serializer):
        challenge = serializers.SlugField()
        phase = serializers.SlugField()
        team = serializers.SlugField()
        image = serializers.CharField(help_text="image record id or image digest (sha256:...)")

    @extend_schema(responses=serializers.ListSerializer(child=SubmissionOutput),
                   operation_id="v1_submissions_list")
    def get(self, request: Request) -> Response:
        return Response(submission_team_views(list(submissions_of_user(request.user)[:200])))

    @extend_schema(request=SubmissionCreateInput,
                   responses={201: SubmissionOutput, **error_responses(403, 404, 409)})
    def post(self, request: Request) -> Response:
        data = self.SubmissionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        phase = access_phase_by_user(request.user, values["challenge"], values["phase"])
        team = _team_for(request.user, values["team"])
        ref = values["image"]
        by_pk = ref.isascii() and ref.isdigit()  # str.isdigit() alone takes "²", which int() refuses
        query = Q(image_id=ref) | Q(pk=int(ref)) if by_pk else Q(image_id=ref)
        image = get_object_or_404(AlgorithmImage.objects.filter(team=team), query)
        submission = submission_create(user=request.user, team=team,  # type: ignore[arg-type]
                                       phase=phase, image=image)
        return Response(submission_team_views([submission])[0], status=status.HTTP_201_CREATED)


class SubmissionCancelApi(APIView):
    @extend_schema(request=None, responses={200: SubmissionOutput, **error_responses(403, 409)})
    def post(self, request: Request, pk: int) -> Response:
        submission = access_submission_by_user(request.user, pk)
        submission = submission_cancel(user=request.user, submission=submission)  # type: ignore[arg-type]
        return Response(submission_team_views([submission])[0])


class SubmissionDetailApi(APIView):
    @extend_schema(responses=SubmissionOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(submission_team_views([access_submission_by_user(request.user, pk)])[0])


QuotaOutput = inline_serializer("Quota", fields={
    "challenge": serializers.CharField(), "phase": serializers.CharField(),
    "team": serializers.CharField(), "limit": serializers.IntegerField(),
    "used": serializers.IntegerField(), "left": serializers.IntegerField(),
    "window_hours": serializers.IntegerField(),
    "next_frees_at": serializers.DateTimeField(
        allow_null=True, help_text="When the oldest counted submission leaves the window."),
})


class QuotaApi(APIView):
    """What is left of a team's quota on a phase, for the team's members. Failures caused by
    the platform and cancelled submissions never count."""

    class QuotaInput(serializers.Serializer):
        team = serializers.SlugField(help_text="The team's slug; you must be one of its members.")

    @extend_schema(parameters=[QuotaInput],
                   responses={200: QuotaOutput, **error_responses(400, 403, 404)})
    def get(self, request: Request, slug: str, phase: str) -> Response:
        data = self.QuotaInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        phase_obj = access_phase_by_user(request.user, slug, phase)
        team = _team_for(request.user, data.validated_data["team"])
        quota = quota_of(phase_obj, team)
        return Response({
            "challenge": slug, "phase": phase, "team": team.slug, "limit": quota.limit,
            "used": quota.used, "left": quota.left, "window_hours": quota.window_hours,
            "next_frees_at": quota.next_frees_at,
        })


LeaderboardOutput = inline_serializer("Leaderboard", fields={
    "challenge": serializers.CharField(), "phase": serializers.CharField(),
    "primary_metric": serializers.CharField(), "ranking_method": serializers.CharField(),
    "spec_version": serializers.IntegerField(), "truth_version": serializers.IntegerField(),
    "columns": serializers.ListField(child=serializers.DictField()),
    "stability": serializers.DictField(),
    "entries": serializers.ListField(child=serializers.DictField()),
    "references": serializers.ListField(child=serializers.DictField(), help_text=(
        "Published human reference rows (reader studies): never ranked; each covers n_cases.")),
    "count": serializers.IntegerField(help_text="Entries in the whole board."),
    "offset": serializers.IntegerField(), "limit": serializers.IntegerField(),
})


class LeaderboardPageInput(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)


def leaderboard_payload(board: Leaderboard) -> dict[str, Any]:
    return {
        "challenge": board.phase.challenge.slug, "phase": board.phase.slug,
        "primary_metric": board.primary, "ranking_method": board.ranking_method,
        "spec_version": board.spec_version, "truth_version": board.truth_version,
        "columns": [{"key": k, "direction": d} for k, d in board.columns],
        "stability": board.stability,
        "entries": [entry.__dict__ for entry in board.entries],
        "references": [{"name": r.name, "kind": r.kind, "n_cases": r.n_cases,
                        "metrics": {c["key"]: {k: c.get(k) for k in ("value", "ci_low", "ci_high")}
                                    for c in r.cells}} for r in board.references],
    }


class LeaderboardApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(parameters=[LeaderboardPageInput],
                   responses={200: LeaderboardOutput, **error_responses(400, 403)})
    def get(self, request: Request, slug: str, phase: str) -> HttpResponse:
        """`limit` entries from `offset` (ranked order; 100 by default, at most 1,000). The
        whole board is built once per leaderboard version (`leaderboard_cached`), the same for
        everyone who may see it; a request renders only its page."""
        page = LeaderboardPageInput(data=request.query_params)
        page.is_valid(raise_exception=True)
        offset, limit = page.validated_data["offset"], page.validated_data["limit"]
        phase_obj = access_phase_by_user(request.user, slug, phase)
        head, entries = leaderboard_cached(request.user, phase_obj, f"api:{slug}:{phase}",
                                           _rendered_parts)
        body = b"".join([head[:-1], b',"entries":[', b",".join(entries[offset:offset + limit]),
                         b'],"count":%d,"offset":%d,"limit":%d}' % (len(entries), offset, limit)])
        return HttpResponse(body, content_type="application/json")


def _rendered_parts(board: Leaderboard) -> tuple[bytes, list[bytes]]:
    """The board's JSON rendered once, as the object without its entries and each entry on its
    own, so that a page of it is joined, not rendered, per request."""
    payload = leaderboard_payload(board)
    entries = [JSONRenderer().render(entry) for entry in payload.pop("entries")]
    return JSONRenderer().render(payload), entries


SnapshotOutput = inline_serializer("LeaderboardSnapshot", fields={
    "id": serializers.IntegerField(), "created": serializers.DateTimeField(),
    "spec_version": serializers.IntegerField(), "truth_version": serializers.IntegerField(),
    "entries": serializers.ListField(child=serializers.DictField()),
    "ranking": serializers.DictField(),
})


def snapshot_payload(snapshot: LeaderboardSnapshot) -> dict[str, Any]:
    return {"id": snapshot.pk, "created": snapshot.created, "spec_version": snapshot.spec_version,
            "truth_version": snapshot.truth_version, "entries": snapshot.entries,
            "ranking": snapshot.ranking}


class SnapshotListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=serializers.ListSerializer(child=SnapshotOutput))
    def get(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = access_phase_by_user(request.user, slug, phase)
        if not leaderboard_visible(request.user, phase_obj):
            return Response([])  # the society hid the results again
        return Response([snapshot_payload(s) for s in phase_obj.snapshots.all()])


class PublishApi(APIView):
    @extend_schema(request=None, responses={201: SnapshotOutput, **error_responses(403)})
    def post(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = access_phase_by_user(request.user, slug, phase)
        snapshot = phase_publish(phase=phase_obj, actor=request.user)  # type: ignore[arg-type]
        return Response(snapshot_payload(snapshot), status=status.HTTP_201_CREATED)


class ReevaluateApi(APIView):
    @extend_schema(request=None, responses={202: inline_serializer(
        "ReevaluateQueued", fields={"queued": serializers.BooleanField()}), **error_responses(403)})
    def post(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = access_phase_by_user(request.user, slug, phase)
        phase_reevaluate_request(phase=phase_obj, actor=request.user)  # type: ignore[arg-type]
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


SpecOutput = inline_serializer("MetricSpec", fields={
    "version": serializers.IntegerField(), "spec": serializers.DictField(),
})


class SpecApi(APIView):
    """The challenge's metric spec: readable by whoever sees the challenge; admins replace it."""

    permission_classes = [AllowAny]

    @extend_schema(responses=SpecOutput)
    def get(self, request: Request, slug: str) -> Response:
        challenge = access_challenge_by_user(request.user, slug)
        return Response({"version": challenge.metric_version, "spec": spec_dict_of(challenge)})

    @extend_schema(request={"application/json": OpenApiTypes.OBJECT},
                   responses={200: SpecOutput, **error_responses(403)})
    def put(self, request: Request, slug: str) -> Response:
        challenge = access_challenge_by_user(request.user, slug)
        if not can_manage_society(request.user, challenge.society):
            raise Forbidden("not_society_admin", "Only the society's admins may do this.")
        if not isinstance(request.data, dict):
            raise SpecRejected("bad_spec", "The spec must be a JSON object.")
        challenge = challenge_spec_update(challenge=challenge, spec=request.data,
                                          actor=request.user)  # type: ignore[arg-type]
        return Response({"version": challenge.metric_version, "spec": spec_dict_of(challenge)})
