"""REST API v1: the society's data report of a challenge, the JSON counterpart of the data page
(`challenges.selectors_data`). Thin: the selector decides who may see it and audits the read."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenges.selectors import access_challenge_by_user
from challenges.selectors_data import challenge_data_report

_COUNTS = serializers.DictField(child=serializers.IntegerField())

PhaseDataOutput = inline_serializer("PhaseData", fields={
    "slug": serializers.CharField(), "title": serializers.CharField(),
    "is_hidden": serializers.BooleanField(), "truth_version": serializers.IntegerField(),
    "cases": serializers.IntegerField(), "files": serializers.IntegerField(),
    "bytes": serializers.IntegerField(help_text="Stored (de-identified) bytes."),
    "cases_with_truth": serializers.IntegerField(
        help_text="Cases with ground truth in the current truth version."),
    "labels": _COUNTS, "modalities": _COUNTS, "vendors": _COUNTS,
    "sites": _COUNTS, "deid_actions": _COUNTS,
    "imported_per_day": serializers.DictField(
        child=serializers.IntegerField(), help_text="ISO date -> cases imported that day."),
    "held_pending": serializers.IntegerField(
        help_text="Images held for a data steward's pixel review (burned-in text risk)."),
})
ChallengeDataOutput = inline_serializer("ChallengeData", fields={
    "challenge": serializers.CharField(),
    "phases": serializers.ListField(child=PhaseDataOutput),
})


class ChallengeDataApi(APIView):
    """Per phase: cases, files, bytes, ground-truth coverage and labels, cases by modality,
    vendor and site, de-identification action counts and cases imported per day. For the owning
    society's admins, data stewards and physicians, and operators; 404 for everyone else."""

    permission_classes = [AllowAny]  # the selector answers 404 to everyone else, signed in or not

    @extend_schema(responses=ChallengeDataOutput)
    def get(self, request: Request, slug: str) -> Response:
        challenge = access_challenge_by_user(request.user, slug)
        phases = challenge_data_report(request.user, challenge, via="api")
        return Response({"challenge": challenge.slug, "phases": [p.as_dict() for p in phases]})
