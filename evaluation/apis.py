"""REST API v1 for images, submissions and leaderboards. Thin: services and selectors decide."""

from typing import Any

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Team
from accounts.permissions import is_team_member
from challenges.selectors import access_phase_by_user
from evaluation.errors import ImageInvalid, NotATeamMember
from evaluation.models import AlgorithmImage
from evaluation.selectors import (
    access_submission_by_user,
    images_of_user,
    leaderboard_for,
    submission_team_view,
    submissions_of_user,
)
from evaluation.services import image_upload, submission_create


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


class ImageListCreateApi(APIView):
    parser_classes = [MultiPartParser]

    class Input(serializers.Serializer):
        team = serializers.SlugField()
        file = serializers.FileField()

    @extend_schema(responses=ImageOutput(many=True))
    def get(self, request: Request) -> Response:
        images = images_of_user(request.user)
        return Response(ImageOutput(images, many=True).data)

    @extend_schema(request=Input, responses={201: ImageOutput})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        if not data.is_valid():
            raise ImageInvalid("bad_request", "Send a team slug and a docker save tarball as file.")
        team = _team_for(request.user, data.validated_data["team"])
        image = image_upload(team=team, user=request.user,  # type: ignore[arg-type]
                             source=data.validated_data["file"])
        return Response(ImageOutput(image).data, status=status.HTTP_201_CREATED)


SubmissionOutput = inline_serializer("Submission", fields={
    "id": serializers.IntegerField(), "challenge": serializers.CharField(),
    "phase": serializers.CharField(), "team": serializers.CharField(),
    "image": serializers.CharField(), "status": serializers.CharField(),
    "failure_reason": serializers.CharField(allow_null=True),
    "failure_detail": serializers.CharField(allow_null=True),
    "exit_code": serializers.IntegerField(allow_null=True),
    "scores": serializers.DictField(allow_null=True),
    "scores_withheld": serializers.BooleanField(),
    "logs": serializers.CharField(allow_null=True),
})


class SubmissionListCreateApi(APIView):
    class Input(serializers.Serializer):
        challenge = serializers.SlugField()
        phase = serializers.SlugField()
        team = serializers.SlugField()
        image = serializers.CharField(help_text="image record id or image digest (sha256:...)")

    @extend_schema(responses=SubmissionOutput)
    def get(self, request: Request) -> Response:
        return Response([submission_team_view(s) for s in submissions_of_user(request.user)[:200]])

    @extend_schema(request=Input, responses={201: SubmissionOutput})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        phase = access_phase_by_user(request.user, values["challenge"], values["phase"])
        team = _team_for(request.user, values["team"])
        ref = values["image"]
        query = Q(image_id=ref) | Q(pk=int(ref)) if ref.isdigit() else Q(image_id=ref)
        image = get_object_or_404(AlgorithmImage.objects.filter(team=team), query)
        submission = submission_create(user=request.user, team=team,  # type: ignore[arg-type]
                                       phase=phase, image=image)
        return Response(submission_team_view(submission), status=status.HTTP_201_CREATED)


class SubmissionDetailApi(APIView):
    @extend_schema(responses=SubmissionOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(submission_team_view(access_submission_by_user(request.user, pk)))


LeaderboardOutput = inline_serializer("LeaderboardEntry", fields={
    "rank": serializers.IntegerField(), "team": serializers.CharField(),
    "team_name": serializers.CharField(), "submission_id": serializers.IntegerField(),
    "value": serializers.FloatField(allow_null=True),
    "ci_low": serializers.FloatField(allow_null=True),
    "ci_high": serializers.FloatField(allow_null=True),
    "n_cases": serializers.IntegerField(), "metrics": serializers.DictField(),
})


class LeaderboardApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=LeaderboardOutput)
    def get(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = access_phase_by_user(request.user, slug, phase)
        entries = leaderboard_for(request.user, phase_obj)
        return Response({
            "challenge": slug, "phase": phase,
            "primary_metric": phase_obj.challenge.primary_metric,
            "entries": [entry.__dict__ for entry in entries],
        })
