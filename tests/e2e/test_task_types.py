"""Segmentation and detection for real: the phantom's cases with exact masks and lesion centres
(examples/phantom_truth.py) -> the example images (examples/segmentation, examples/detection)
uploaded and submitted through the API -> a real Celery worker runs them in the docker sandbox ->
masks and points collected and scored -> the leaderboard.
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import SocietyRole
from challenges.models import Challenge
from challenges.services import challenge_create, phase_create
from challenges.truths import load_mask
from evaluation.models import CaseResult, Result
from evaluation.services.specs import challenge_spec_update, default_spec
from examples.phantom import build_phantom
from examples.phantom_truth import write_truth
from tests import factories
from tests.e2e.conftest import ROOT, wait_until_final

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

N_TEST = 8


def example_tar(name: str) -> Path:
    subprocess.run([str(ROOT / "examples" / "build.sh"), name], check=True)
    return ROOT / "examples" / "build" / f"{name}.tar"


@pytest.fixture(scope="session")
def segmentation_tar(docker_client) -> Path:
    return example_tar("segmentation")


@pytest.fixture(scope="session")
def detection_tar(docker_client) -> Path:
    return example_tar("detection")


def task_world(tmp_path: Path, task_type: str, labels: list[str]) -> APIClient:
    """A published challenge of `task_type` with a public sanity phase (3 cases) and a hidden
    test phase (N_TEST cases), their ground truth imported by the import command, team-a
    registered; the API client of its member alice."""
    society = factories.SocietyFactory(slug="jrs")
    factories.society_member(society, SocietyRole.STEWARD, "jrs-steward")
    team = factories.TeamFactory(slug="team-a")
    alice = factories.team_member(team, "alice")
    challenge = challenge_create(society=society, slug="phantom-" + task_type, title=task_type,
                                 labels=labels, task_type=task_type, is_published=True)
    spec = default_spec(task_type, labels) | {"spacing_mm": [1.0, 1.0]}  # files without spacing
    challenge_spec_update(challenge=challenge, spec=spec)
    factories.register_team(challenge, team)
    phase_create(challenge=challenge, slug="sanity", title="Sanity", is_hidden=False,
                 wall_seconds=120)
    phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True, wall_seconds=120)
    phantom = build_phantom(tmp_path / "phantom", n_sanity=3, n_test=N_TEST)
    for phase, folder in (("sanity", phantom.sanity_dir), ("test", phantom.test_dir)):
        truth = write_truth(tmp_path / "phantom", phase)
        option, path = ("--masks", truth.masks_dir) if task_type == "segmentation" else (
            "--lesions", truth.points)
        call_command("import_cases", "--challenge", challenge.slug, "--phase", phase, option,
                     str(path), str(folder))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {factories.api_token_for(alice)}")
    return client


def submit(client: APIClient, tarball: Path, challenge: str, phase: str) -> int:
    with tarball.open("rb") as fh:
        image = client.post("/api/v1/images/", {"team": "team-a", "file": fh},
                            format="multipart")
    assert image.status_code == 201, image.content
    submission = client.post("/api/v1/submissions/", {
        "challenge": challenge, "phase": phase, "team": "team-a",
        "image": image.json()["image_id"]}, format="json")
    assert submission.status_code == 201, submission.content
    return submission.json()["id"]


def leaderboard(challenge: str) -> dict:
    return APIClient().get(f"/api/v1/challenges/{challenge}/phases/test/leaderboard/").json()


def test_the_segmentation_example_runs_on_hidden_cases_and_reaches_the_leaderboard(
        celery_worker, tmp_path, segmentation_tar):
    client = task_world(tmp_path, "segmentation", ["background", "lesion"])

    final = wait_until_final(client, submit(client, segmentation_tar, "phantom-segmentation",
                                            "test"))

    assert final["status"] == "succeeded", final
    dice = final["scores"]["dice"]
    assert 0.0 <= dice["ci_low"] <= dice["value"] <= dice["ci_high"] <= 1.0
    assert dice["value"] > 0.3  # the example finds most lesions and leaves most empty cases empty
    assert final["logs"] is None  # a hidden phase: never the container's output
    rows = CaseResult.objects.filter(submission_id=final["id"]).select_related("case")
    assert rows.count() == N_TEST
    for row in rows:
        mask = load_mask(row.prediction["mask"])
        assert mask.shape == tuple(row.case.shape) and set(np.unique(mask)) <= {0, 1}
        assert 0.0 <= row.values["dice"] <= 1.0
    board = leaderboard("phantom-segmentation")
    assert board["primary_metric"] == "dice"
    assert [(e["rank"], e["team"], e["value"]) for e in board["entries"]] == [
        (1, "team-a", dice["value"])]


def test_the_detection_example_runs_on_hidden_cases_and_reaches_the_leaderboard(
        celery_worker, tmp_path, detection_tar):
    client = task_world(tmp_path, "detection", ["lesion"])

    final = wait_until_final(client, submit(client, detection_tar, "phantom-detection", "test"))

    assert final["status"] == "succeeded", final
    froc = final["scores"]["froc"]
    assert 0.0 <= froc["ci_low"] <= froc["value"] <= froc["ci_high"] <= 1.0
    assert final["scores"]["ap"]["value"] is not None
    assert final["logs"] is None
    result = Result.objects.get(submission_id=final["id"], is_current=True)
    assert result.n_cases == N_TEST
    lesions = sum(row.values["lesions"] for row in CaseResult.objects.filter(
        submission_id=final["id"]))
    assert lesions == N_TEST // 2  # the phantom: half the cases have one lesion
    board = leaderboard("phantom-detection")
    assert board["primary_metric"] == "froc"
    assert [(e["team"], e["value"]) for e in board["entries"]] == [("team-a", froc["value"])]
    assert Challenge.objects.get(slug="phantom-detection").metric_version == 2
