"""REST API v1 for the owning society: publishing a set-up challenge, previewing a sample
predictions.json, hiding published results again, and the phase's runs (list, one run with its
logs, re-running a failed one).

Thin, like `evaluation.apis`: the same selectors and services as the web pages decide (the
wizard's `evaluation.views_wizard`, the run pages of `evaluation.views`). Runs are for the
society's hidden-data roles and operators; everyone else is told they do not exist (404).
"""

import math
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from challenges.apis import ChallengeDetailOutput
from challenges.apis_setup import form_problems, manager_challenge_api, manager_phase_api
from challenges.selectors import access_phase_by_user
from config.api_errors import error_responses
from config.query import QuerySerializer
from config.uploads import uploaded_file_path
from evaluation.errors import SubmissionNotFound
from evaluation.forms import PreviewForm
from evaluation.models import Status, Submission
from evaluation.selectors import (
    RUNS_PER_PAGE,
    phase_run_for_society,
    phase_runs_for_society,
    society_run_view,
)
from evaluation.services.publication import phase_results_hide
from evaluation.services.rerun import submission_rerun
from evaluation.services.setup import challenge_publish_checked, predictions_preview, preview_row


class ChallengePublishApi(APIView):
    @extend_schema(request=None,
                   responses={200: ChallengeDetailOutput, **error_responses(404, 409)})
    def post(self, request: Request, slug: str) -> Response:
        """Publish a set-up challenge, when nothing blocks it (the wizard's review step: a
        usable metric spec and at least one phase; 409 says what is missing). Idempotent."""
        challenge = manager_challenge_api(request.user, slug)
        challenge = challenge_publish_checked(challenge=challenge, actor=request.user)  # type: ignore[arg-type]
        return Response(ChallengeDetailOutput(challenge).data)


PreviewInput = inline_serializer("PreviewInput", fields={
    "predictions": serializers.FileField(
        help_text="A predictions.json with one entry per case of the phase (classification, "
                  "detection), or for segmentation a zip of masks, one per case, named "
                  "<case id>.png, .npy, .nii or .nii.gz (at most 256 MiB)."),
})
PreviewOutput = inline_serializer("PreviewOutput", fields={
    "phase": serializers.CharField(),
    "metrics": serializers.ListField(child=inline_serializer("PreviewMetric", fields={
        "key": serializers.CharField(), "name": serializers.CharField(),
        "kind": serializers.CharField(), "direction": serializers.CharField(),
        "value": serializers.FloatField(allow_null=True),
        "ci_low": serializers.FloatField(allow_null=True),
        "ci_high": serializers.FloatField(allow_null=True),
        "n_cases": serializers.IntegerField(), "n_defined": serializers.IntegerField(),
        "statistic": serializers.CharField(allow_null=True),
        "primary": serializers.BooleanField(),
    })),
})


def _finite(row: dict[str, object]) -> dict[str, object]:
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in row.items()}


class PreviewApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": PreviewInput},
                   responses={200: PreviewOutput, **error_responses(400, 404)})
    def post(self, request: Request, slug: str, phase: str) -> Response:
        """Score sample predictions on the phase's cases, against its current ground truth and
        the current spec: the leaderboard row they would get. A predictions.json, or a zip of
        masks for segmentation, checked as a run's outputs are. Nothing is stored but an audit
        event (it reads the ground truth)."""
        challenge = manager_challenge_api(request.user, slug)
        phase_obj = manager_phase_api(challenge, phase)
        form = PreviewForm({"phase": phase_obj.slug}, request.FILES, challenge=challenge)
        if not form.is_valid():
            raise form_problems(form)
        with uploaded_file_path(form.cleaned_data["predictions"]) as path:
            evaluation = predictions_preview(phase=phase_obj, path=path,
                                             actor=request.user)  # type: ignore[arg-type]
        return Response({"phase": phase_obj.slug,
                         "metrics": [_finite(row) for row in preview_row(evaluation)]})


class UnpublishApi(APIView):
    @extend_schema(request=None, responses={200: inline_serializer(
        "ResultsHidden", fields={"changed": serializers.BooleanField(
            help_text="false when the results were not published.")}), **error_responses(403)})
    def post(self, request: Request, slug: str, phase: str) -> Response:
        """Hide the phase's published results again (society admins and operators): an
        on-publish leaderboard is for the society until the next publication."""
        phase_obj = access_phase_by_user(request.user, slug, phase)
        changed = phase_results_hide(phase=phase_obj, actor=request.user)  # type: ignore[arg-type]
        return Response({"changed": changed})


_SHARD_FIELDS = ("index", "count", "state", "node", "verdict", "exit_code", "duration_s",
                 "failure_reason", "failure_detail", "output_error", "peak_memory_bytes",
                 "cpu_seconds", "output_bytes")


def run_payload(submission: Submission) -> dict[str, Any]:
    """`society_run_view` as JSON: the run's fields (never its logs) and its parts."""
    view = society_run_view(submission)
    view["shards"] = [{name: getattr(shard, name) for name in _SHARD_FIELDS}
                      for shard in view["shards"]]
    view["failure_code"] = submission.failure_reason or None
    return view


RunOutput = inline_serializer("SocietyRun", fields={
    "id": serializers.IntegerField(), "team": serializers.CharField(),
    "image": serializers.CharField(), "image_short": serializers.CharField(),
    "status": serializers.CharField(), "status_label": serializers.CharField(),
    "verdict": serializers.CharField(),
    "failure_code": serializers.CharField(allow_null=True),
    "failure_reason": serializers.CharField(help_text="The reason, in words."),
    "failure_detail": serializers.CharField(), "output_error": serializers.CharField(),
    "exit_code": serializers.IntegerField(allow_null=True),
    "attempts": serializers.IntegerField(),
    "nodes": serializers.ListField(child=serializers.CharField()),
    "duration_s": serializers.FloatField(allow_null=True),
    "peak_memory_bytes": serializers.IntegerField(
        allow_null=True, help_text="Peak memory of the container (sampled); null when unknown."),
    "cpu_seconds": serializers.FloatField(
        allow_null=True, help_text="CPU time of the container (sampled); null when unknown."),
    "output_bytes": serializers.IntegerField(
        allow_null=True, help_text="Bytes collected from /output; null when unknown."),
    "created": serializers.DateTimeField(), "finished": serializers.DateTimeField(allow_null=True),
    "shards": serializers.ListField(child=serializers.DictField()),
})
RunListOutput = inline_serializer("SocietyRunPage", fields={
    "count": serializers.IntegerField(), "offset": serializers.IntegerField(),
    "limit": serializers.IntegerField(), "runs": serializers.ListField(child=RunOutput),
})
RunDetailOutput = inline_serializer("SocietyRunDetail", fields={
    **RunOutput.fields,  # type: ignore[attr-defined]
    "logs": serializers.CharField(allow_null=True, help_text="null before the run ends."),
})


class RunListInput(QuerySerializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    team = serializers.SlugField(required=False, help_text="Only this team's runs.")
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=RUNS_PER_PAGE)


class PhaseRunListApi(APIView):
    @extend_schema(parameters=[RunListInput], operation_id="v1_challenges_phases_runs_list",
                   responses={200: RunListOutput, **error_responses(400, 404)})
    def get(self, request: Request, slug: str, phase: str) -> Response:
        """Every run of the phase, all teams, newest first (the web's runs page), without
        logs: the owning society's roles and operators; 404 for everyone else."""
        query = RunListInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        phase_obj = access_phase_by_user(request.user, slug, phase)
        runs = phase_runs_for_society(request.user, phase_obj, status=values.get("status", ""),
                                      team=values.get("team", ""))
        offset, limit = values["offset"], values["limit"]
        return Response({"count": runs.count(), "offset": offset, "limit": limit,
                         "runs": [run_payload(s) for s in runs[offset:offset + limit]]})


class PhaseRunDetailApi(APIView):
    @extend_schema(responses={200: RunDetailOutput, **error_responses(404)})
    def get(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        """One run with its full logs (the web's run page); reading a hidden phase's logs is
        audited (`evaluation.run_logs_viewed`)."""
        phase_obj = access_phase_by_user(request.user, slug, phase)
        submission = phase_run_for_society(request.user, phase_obj, pk)
        run = getattr(submission, "run", None)
        return Response({**run_payload(submission),
                         "logs": run.logs if run is not None else None})


class RunRerunApi(APIView):
    @extend_schema(request=None, responses={202: RunOutput, **error_responses(403, 404, 409)})
    def post(self, request: Request, slug: str, phase: str, pk: int) -> Response:
        """Queue a failed run again: the same image on the same phase, as a new attempt that
        takes nothing from the team's quota (society admins and operators; audited
        `submission.rerun`). 409 unless the submission failed."""
        phase_obj = access_phase_by_user(request.user, slug, phase)
        runs = phase_runs_for_society(request.user, phase_obj)  # reads no logs: not audited
        submission = runs.filter(pk=pk).first()
        if submission is None:
            raise SubmissionNotFound("submission_not_found", _("No such submission."))
        submission_rerun(submission=submission, actor=request.user)  # type: ignore[arg-type]
        return Response(run_payload(runs.get(pk=pk)), status=202)
