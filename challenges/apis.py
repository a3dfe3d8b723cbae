"""REST API v1 for challenges and phases (read-only, public for published challenges)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenges.selectors import (
    access_challenge_by_user,
    challenges_visible_to,
    phase_is_open,
    phases_of,
)


class PhaseOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    is_hidden = serializers.BooleanField()
    is_open = serializers.SerializerMethodField()
    opens_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    n_cases = serializers.IntegerField()
    submission_limit = serializers.IntegerField()
    limit_window_hours = serializers.IntegerField()
    wall_seconds = serializers.IntegerField()
    memory_mb = serializers.IntegerField()
    cpus = serializers.FloatField()
    gpus = serializers.IntegerField()
    output_mb = serializers.IntegerField()
    pids = serializers.IntegerField()
    output_files = serializers.IntegerField()
    shards = serializers.IntegerField()
    leaderboard_visibility = serializers.CharField()
    results_published = serializers.BooleanField()

    def get_is_open(self, phase) -> bool:  # type: ignore[no-untyped-def]
        return phase_is_open(phase)


class ChallengeOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    society = serializers.CharField(source="society.slug")
    description = serializers.CharField()
    modality = serializers.CharField()
    task_type = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    positive_label = serializers.CharField()
    metric_version = serializers.IntegerField()
    is_published = serializers.BooleanField()


class ChallengeDetailOutput(ChallengeOutput):
    phases = serializers.SerializerMethodField()

    def get_phases(self, challenge) -> list[dict]:  # type: ignore[no-untyped-def]
        return PhaseOutput(phases_of(challenge), many=True).data  # type: ignore[return-value]


class ChallengeListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=ChallengeOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(ChallengeOutput(challenges_visible_to(request.user), many=True).data)


class ChallengeDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=ChallengeDetailOutput)
    def get(self, request: Request, slug: str) -> Response:
        challenge = access_challenge_by_user(request.user, slug)
        return Response(ChallengeDetailOutput(challenge).data)
