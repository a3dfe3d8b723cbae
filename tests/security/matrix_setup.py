"""Request bodies and effect probes of the guided challenge set-up's matrix entries (kept apart
from test_permission_matrix.py, which other features extend too)."""

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from PIL import Image

from accounts.models import TeamInvitation
from challenges.models import Case, Challenge, Phase
from evaluation.models import Submission
from tests.security.matrix_world import MatrixWorld

_PHASE = {"title": "Renamed phase", "visibility": "hidden", "opens_at": "", "closes_at": "",
          "submission_limit": 5, "limit_window_hours": 24, "wall_seconds": 600,
          "memory_mb": 2048, "cpus": 1, "gpus": 0, "output_mb": 64, "pids": 256,
          "output_files": 10_000, "shards": 1, "leaderboard_visibility": "live"}
_BASICS = {"title": "Renamed", "description": "", "modality": "CT",
           "task_type": "binary-classification", "labels": "absent\npresent",
           "positive_label": "present", "registration_mode": "approval"}


def _cases_zip() -> ContentFile:
    image = io.BytesIO()
    Image.fromarray((np.arange(64).reshape(8, 8) * 3).astype(np.uint8), mode="L").save(
        image, format="PNG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("matrix-001.png", image.getvalue())
    return ContentFile(archive.getvalue(), name="cases.zip")


def _predictions(w: MatrixWorld) -> ContentFile:
    scores = {case_id: {"score": 0.5} for case_id in w.hidden.cases.values_list("case_id",
                                                                                 flat=True)}
    return ContentFile(json.dumps(scores).encode(), name="predictions.json")


SETUP_BODIES: dict[str, Callable[[MatrixWorld], dict[str, Any]]] = {
    "challenge_basics": lambda w: {"data": {**_BASICS, "society": w.challenge.society_id,
                                            "slug": "matrix-new"}},
    "basics_edit": lambda w: {"data": _BASICS},
    "metrics_form": lambda w: {"data": {
        "metrics": ["auroc", "brier"], "primary": "auroc", "resamples": 200, "confidence": 0.9,
        "seed": 3, "ranking_method": "aggregate-then-rank", "ranking_alpha": 0.05}},
    "phase_form": lambda w: {"data": {f"new-{k}": v for k, v in
                                      {**_PHASE, "slug": "extra"}.items()}},
    "phase_edit": lambda w: {"data": _PHASE},
    "cases_zip": lambda w: {"data": {"phase": "sanity", "cases": _cases_zip()}},
    "preview_json": lambda w: {"data": {"phase": w.hidden.slug, "predictions": _predictions(w)}},
    # The same steps through the API (JSON, or multipart for files).
    "challenge_create_json": lambda w: {"content_type": "application/json", "data": {
        **_BASICS, "labels": ["absent", "present"], "society": "jrs", "slug": "matrix-api"}},
    "basics_patch_json": lambda w: {"content_type": "application/json",
                                    "data": {"title": "Renamed"}},
    "phase_create_json": lambda w: {"content_type": "application/json",
                                    "data": {"slug": "extra-api", "title": "Extra"}},
    "phase_patch_json": lambda w: {"content_type": "application/json",
                                   "data": {"title": "Renamed phase"}},
    "cases_zip_api": lambda w: {"data": {"cases": _cases_zip()}},
    "preview_file_api": lambda w: {"data": {"predictions": _predictions(w)}},
}

SETUP_EFFECTS: dict[str, Callable[[MatrixWorld], Any]] = {
    "challenge_created": lambda w: Challenge.objects.count(),
    "challenge_title": lambda w: Challenge.objects.get(pk=w.challenge.pk).title,
    "phase_added": lambda w: Phase.objects.filter(challenge=w.challenge).count(),
    "phase_title": lambda w: Phase.objects.get(pk=w.hidden.pk).title,
    "cases_imported": lambda w: Case.objects.count(),
    "draft_published": lambda w: Challenge.objects.get(
        slug=w.url_values["draft_challenge"]).is_published,
    "results_hidden": lambda w: Phase.objects.get(pk=w.hidden.pk).results_published,
    "submission_rerun": lambda w: Submission.objects.get(
        pk=w.url_values["failed_submission"]).status,
}


# Team invitations (tests/security/matrix.py: INVITATION).
SETUP_BODIES |= {
    "invite_form": lambda w: {"data": {"invitee": "carol", "role": "member"}},
    "invite_json": lambda w: {"content_type": "application/json", "data": {
        "invitee": "carol", "role": "member"}},
}
SETUP_EFFECTS |= {
    "invitations": lambda w: TeamInvitation.objects.count(),
    "invitation_status": lambda w: TeamInvitation.objects.get(
        pk=w.url_values["invitation"]).status,
}
