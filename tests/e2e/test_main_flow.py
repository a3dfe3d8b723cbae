"""The main flow for real: import cases -> upload image -> submit -> run -> score -> leaderboard.

Real docker engine, real images built from the Debian base, a real Celery worker process, and the
REST API as a team uses it.
"""

import io
import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from evaluation.models import CaseResult, RunRecord
from tests.e2e.conftest import upload_and_submit, wait_until_final

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def test_a_real_image_runs_on_hidden_cases_and_reaches_the_leaderboard(celery_worker, phantom_world,
                                                                       weak_baseline_tar):
    client = phantom_world
    submission_id = upload_and_submit(client, weak_baseline_tar, "test")

    final = wait_until_final(client, submission_id)

    assert final["status"] == "succeeded", final
    auroc = final["scores"]["auroc"]
    assert 0.0 <= auroc["ci_low"] <= auroc["value"] <= auroc["ci_high"] <= 1.0
    assert final["logs"] is None  # hidden phase: never the container's output
    assert CaseResult.objects.filter(submission_id=submission_id).count() == 24
    board = APIClient().get("/api/v1/challenges/lesion-phantom/phases/test/leaderboard/").json()
    assert [(e["rank"], e["team"], e["value"]) for e in board["entries"]] == [
        (1, "team-a", auroc["value"])]


def test_a_failing_image_gets_a_reason_and_logs_only_in_sanity(celery_worker, phantom_world, failing_tar):
    client = phantom_world
    hidden = wait_until_final(client, upload_and_submit(client, failing_tar, "test"))
    sanity = wait_until_final(client, upload_and_submit(client, failing_tar, "sanity"))

    for final in (hidden, sanity):
        assert (final["status"], final["failure_reason"], final["exit_code"]) == (
            "failed", "exit_code", 1)
    assert hidden["logs"] is None
    assert "boom from the container" not in json.dumps(hidden)
    assert "boom from the container" in sanity["logs"]
    # the society and operators keep the hidden run's logs
    assert "boom from the container" in RunRecord.objects.get(submission_id=hidden["id"]).logs


def test_the_submit_command_waits_and_shows_only_the_team_view(celery_worker, phantom_world,
                                                                weak_baseline_tar):
    out = io.StringIO()
    call_command("submit", "--challenge", "lesion-phantom", "--phase", "test", "--team", "team-a",
                 "--wait", "--timeout", "600", str(weak_baseline_tar), stdout=out)

    lines = out.getvalue().splitlines()
    final = json.loads("\n".join(lines[1:]))
    assert int(lines[0]) == final["id"]
    assert final["status"] == "succeeded"
    assert final["logs"] is None
    assert set(final) == {"id", "challenge", "phase", "team", "image", "status", "failure_reason",
                          "failure_detail", "exit_code", "created", "finished", "scores",
                          "scores_withheld", "logs", "queue_position", "estimated_start"}


def test_a_sharded_phase_runs_parallel_containers_and_merges_them(celery_worker, phantom_world,
                                                                  weak_baseline_tar):
    from challenges.models import Phase

    Phase.objects.filter(slug="test").update(shards=2)

    final = wait_until_final(phantom_world, upload_and_submit(phantom_world, weak_baseline_tar,
                                                              "test"))

    assert final["status"] == "succeeded", final
    assert CaseResult.objects.filter(submission_id=final["id"]).count() == 24
    assert "[shard 2/2]" in RunRecord.objects.get(submission_id=final["id"]).logs
