"""REST API v1 for challenges and phases (readable by all for published challenges; society
admins and operators create and edit them, see `challenges.apis_setup`), and the download of a
phase's public (not hidden) cases for local validation."""

from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenges.apis_setup import (
    ChallengeBasicsInput,
    ChallengeCreateInput,
    PhaseCreateInput,
    PhaseSettingsInput,
    challenge_create_from_api,
    challenge_update_from_api,
    manager_challenge_api,
    manager_phase_api,
    phase_create_from_api,
    phase_update_from_api,
)
from challenges.selectors import (
    access_challenge_by_user,
    access_phase_by_user,
    challenges_visible_to,
    input_manifest,
    phase_is_open,
    phases_of,
    public_case_file,
    public_cases_of,
)
from config.api_errors import error_responses
from config.errors import DomainError
from config.integrity import StoredFileCorrupt, open_verified_copy


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


class ReadsOpen(APIView):
    """Reads for anyone the selectors let see the object; writes need a signed-in caller."""

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny() if self.request.method == "GET" else IsAuthenticated()]


class ChallengeListApi(ReadsOpen):
    @extend_schema(responses=ChallengeOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(ChallengeOutput(challenges_visible_to(request.user), many=True).data)

    @extend_schema(request=ChallengeCreateInput,
                   responses={201: ChallengeDetailOutput, **error_responses(400, 403)})
    def post(self, request: Request) -> Response:
        """A new, unpublished challenge of a society you administer (the wizard's first step);
        only its society sees it until it is published."""
        challenge = challenge_create_from_api(request)
        return Response(ChallengeDetailOutput(challenge).data, status=status.HTTP_201_CREATED)


class ChallengeDetailApi(ReadsOpen):
    @extend_schema(responses=ChallengeDetailOutput)
    def get(self, request: Request, slug: str) -> Response:
        challenge = access_challenge_by_user(request.user, slug)
        return Response(ChallengeDetailOutput(challenge).data)

    @extend_schema(request=ChallengeBasicsInput,
                   responses={200: ChallengeDetailOutput, **error_responses(400, 404, 409)})
    def patch(self, request: Request, slug: str) -> Response:
        """Change some of the basics (society admins and operators). The task type and labels
        are fixed once the challenge is published or holds ground truth (409)."""
        challenge = challenge_update_from_api(request, slug)
        return Response(ChallengeDetailOutput(challenge).data)


class PhaseListApi(ReadsOpen):
    """A challenge's phases with all their settings; society admins and operators add one."""

    @extend_schema(responses=PhaseOutput(many=True))
    def get(self, request: Request, slug: str) -> Response:
        challenge = access_challenge_by_user(request.user, slug)
        return Response(PhaseOutput(phases_of(challenge), many=True).data)

    @extend_schema(request=PhaseCreateInput,
                   responses={201: PhaseOutput, **error_responses(400, 404)})
    def post(self, request: Request, slug: str) -> Response:
        """Settings left out take the wizard's defaults."""
        challenge = manager_challenge_api(request.user, slug)
        phase = phase_create_from_api(request, challenge)
        return Response(PhaseOutput(phases_of(challenge).get(pk=phase.pk)).data,
                        status=status.HTTP_201_CREATED)


class PhaseDetailApi(APIView):
    @extend_schema(request=PhaseSettingsInput,
                   responses={200: PhaseOutput, **error_responses(400, 404, 409)})
    def patch(self, request: Request, slug: str, phase: str) -> Response:
        """Change some of a phase's settings (society admins and operators); its short name
        stays, and a hidden phase with cases stays hidden (409)."""
        challenge = manager_challenge_api(request.user, slug)
        updated = phase_update_from_api(request, manager_phase_api(challenge, phase))
        return Response(PhaseOutput(phases_of(challenge).get(pk=updated.pk)).data)


PublicCasesOutput = inline_serializer("PublicCases", fields={
    "manifest": serializers.DictField(help_text="The manifest.json a run finds at /input."),
    "files": serializers.ListField(child=inline_serializer("PublicCaseFile", fields={
        "path": serializers.CharField(help_text="Where the file goes under /input."),
        "sha256": serializers.CharField(), "size_bytes": serializers.IntegerField(),
        "url": serializers.CharField(help_text="Where to download it (an absolute path)."),
    })),
})


class PublicCaseListApi(APIView):
    """A phase's cases as a run gets them at /input — the manifest and every file with its
    SHA-256 — for phases that are not hidden, so that teams can run their image on them
    locally (`enclave validate`). A hidden phase answers 403 to everyone."""

    @extend_schema(responses={200: PublicCasesOutput, **error_responses(403, 404)})
    def get(self, request: Request, slug: str, phase: str) -> Response:
        phase_obj = access_phase_by_user(request.user, slug, phase)
        cases = public_cases_of(phase_obj)
        files = [
            {"path": f"{case.case_id}/{case_file.name}", "sha256": case_file.sha256,
             "size_bytes": case_file.size_bytes,
             "url": reverse("api:public-case-file", kwargs={
                 "slug": slug, "phase": phase, "case_id": case.case_id, "name": case_file.name})}
            for case in cases for case_file in case.files.all()
        ]
        return Response({"manifest": input_manifest(phase_obj, cases), "files": files})


class PublicCaseFileApi(APIView):
    """The bytes of one file of a public case (see PublicCaseListApi)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              **error_responses(403, 404, 503)})
    def get(self, request: Request, slug: str, phase: str, case_id: str,
            name: str) -> FileResponse:
        case_file = public_case_file(access_phase_by_user(request.user, slug, phase), case_id, name)
        try:
            content = open_verified_copy(case_file.storage_key, case_file.sha256)
        except StoredFileCorrupt:
            raise DomainError("stored_file_corrupt", _(
                "This file failed its integrity check and is withheld; the operators have been "
                "told."), status=503) from None
        return FileResponse(content, as_attachment=True, filename=case_file.name,
                            content_type="application/octet-stream")
