"""Runs that fail for the platform's sake are retried and never counted; stale runs are
recovered by the sweeper; teams can cancel; only declared prediction fields are kept."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from config.errors import DomainError
from evaluation import services
from evaluation.models import CaseResult, FailureReason, Status, Submission
from evaluation.services.runs import runs_sweep
from evaluation.services.submissions import submissions_counted
from sandbox.errors import ImageUnrunnable, SandboxError
from tests import factories
from tests.evaluation.test_submission_flow import predict, submit

pytestmark = pytest.mark.usefixtures("fake_sandbox")


@pytest.fixture
def labelled(world):
    return factories.add_cases(world.phase, ["present", "absent"] * 3)


@pytest.fixture
def flaky_engine():
    """An engine that fails twice, then works."""
    calls = {"n": 0}

    def behaviour(input_dir, output_dir):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise SandboxError("engine hiccup")
        return predict(lambda c: 0.5)(input_dir, output_dir)
    return behaviour


def test_platform_failures_are_retried_until_they_succeed(world, labelled, flaky_engine, settings,
                                                          django_capture_on_commit_callbacks):
    settings.ENCLAVE_RUN_ATTEMPTS = 3
    submission = submit(world, flaky_engine,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED
    assert submission.attempts == 3


def test_platform_failures_stop_after_the_last_attempt_and_never_count(
        world, labelled, flaky_engine, settings, django_capture_on_commit_callbacks):
    settings.ENCLAVE_RUN_ATTEMPTS = 2
    submission = submit(world, flaky_engine,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.status, submission.failure_reason) == (Status.FAILED,
                                                              FailureReason.PLATFORM_ERROR)
    assert submissions_counted(world.phase, world.team) == 0


def test_an_image_that_breaks_a_run_rule_is_the_teams_failure(world, labelled,
                                                              django_capture_on_commit_callbacks):
    def root_alias(input_dir, output_dir):
        raise ImageUnrunnable("uid 0 alias")

    submission = submit(world, root_alias,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.failure_reason, submission.attempts) == (FailureReason.IMAGE_INVALID, 1)
    assert "uid 0" not in submission.failure_detail


def test_only_declared_prediction_fields_are_kept(world, labelled,
                                                 django_capture_on_commit_callbacks):
    def smuggler(input_dir, output_dir):
        manifest = json.loads((input_dir / "manifest.json").read_text())
        (output_dir / "predictions.json").write_text(json.dumps({
            c["id"]: {"score": 0.5, "stolen": "bytes of the hidden case"}
            for c in manifest["cases"]}))
        return 0

    submission = submit(world, smuggler,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED
    assert all(r.prediction == {"score": 0.5} for r in CaseResult.objects.all())


def stale_running(world, minutes_ago=10, attempts=1):
    image = (world.team.images.first()
             or factories.image_record(world.team, world.member))
    then = timezone.now() - timedelta(minutes=minutes_ago)
    return Submission.objects.create(phase=world.phase, team=world.team, image=image,
                                     submitted_by=world.member, status=Status.RUNNING,
                                     heartbeat_at=then, attempts=attempts, node="lost-node")


def test_the_sweeper_requeues_a_run_whose_worker_died(world, labelled, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    requeued = []
    monkeypatch.setattr("evaluation.tasks.enqueue_run",
                        lambda pk, queue, **kw: requeued.append(pk))
    lost = stale_running(world)
    live = stale_running(world, minutes_ago=0)

    with django_capture_on_commit_callbacks(execute=True):
        counts = runs_sweep(stale_after_s=60)

    lost.refresh_from_db()
    live.refresh_from_db()
    assert counts == {"requeued": 1, "failed": 0}
    assert (lost.status, lost.node) == (Status.QUEUED, "")
    assert requeued == [lost.pk]
    assert live.status == Status.RUNNING


def test_the_sweeper_fails_a_run_out_of_attempts(world, labelled, settings):
    settings.ENCLAVE_RUN_ATTEMPTS = 2
    lost = stale_running(world, attempts=2)

    assert runs_sweep(stale_after_s=60) == {"requeued": 0, "failed": 1}
    lost.refresh_from_db()
    assert (lost.status, lost.failure_reason) == (Status.FAILED, FailureReason.PLATFORM_ERROR)


def test_a_team_cancels_a_queued_submission_and_it_never_runs_or_counts(world, labelled):
    image = factories.image_record(world.team, world.member)
    submission = services.submission_create(user=world.member, team=world.team,
                                            phase=world.phase, image=image)
    client = APIClient()
    client.force_authenticate(world.outsider)
    assert client.post(f"/api/v1/submissions/{submission.pk}/cancel/").status_code == 404
    client.force_authenticate(world.member)

    response = client.post(f"/api/v1/submissions/{submission.pk}/cancel/")

    assert response.json()["status"] == "cancelled"
    services.submission_execute(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == Status.CANCELLED and submission.attempts == 0
    assert submissions_counted(world.phase, world.team) == 0
    again = client.post(f"/api/v1/submissions/{submission.pk}/cancel/")
    assert (again.status_code, again.json()["code"]) == (409, "already_finished")


def test_cancelling_during_a_run_drops_its_outputs(world, labelled,
                                                   django_capture_on_commit_callbacks):
    def cancelled_meanwhile(input_dir, output_dir):
        Submission.objects.update(status=Status.CANCELLED)
        return predict(lambda c: 0.9)(input_dir, output_dir)

    submission = submit(world, cancelled_meanwhile,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.CANCELLED
    assert not CaseResult.objects.exists()
    with pytest.raises(DomainError):
        services.submission_cancel(user=world.member, submission=submission)


def test_a_corrupted_case_file_is_never_served(world, labelled, isolated_storage, settings,
                                               django_capture_on_commit_callbacks):
    settings.ENCLAVE_RUN_ATTEMPTS = 1
    victim = world.phase.cases.first().files.first()
    (isolated_storage / victim.storage_key).write_bytes(b"tampered")
    seen = []

    def reader(input_dir, output_dir):
        seen.append(True)
        return predict(lambda c: 0.5)(input_dir, output_dir)

    submission = submit(world, reader,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.status, submission.failure_reason) == (Status.FAILED,
                                                              FailureReason.PLATFORM_ERROR)
    assert seen == []
    assert not list((isolated_storage.parent / "runs" / "cache").rglob(victim.sha256))


def test_the_node_cache_is_filled_once_and_linked_into_runs(world, labelled, settings,
                                                           django_capture_on_commit_callbacks):
    from pathlib import Path

    inodes = []

    def inspector(input_dir, output_dir):
        manifest = json.loads((input_dir / "manifest.json").read_text())
        first = input_dir / manifest["cases"][0]["files"][0]
        inodes.append(first.stat().st_ino)
        return predict(lambda c: 0.5)(input_dir, output_dir)

    for n in range(2):
        submit(world, inspector, image_id="sha256:" + f"{n:02d}" * 32,
               django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    cache = Path(settings.SANDBOX_WORK_ROOT) / "cache"
    assert len(list(cache.rglob("*"))) > 0
    assert inodes[0] == inodes[1]


def test_cancel_button_on_the_submission_page(world, labelled, client):
    image = factories.image_record(world.team, world.member)
    submission = services.submission_create(user=world.member, team=world.team,
                                            phase=world.phase, image=image)
    client.force_login(world.member)
    assert "Cancel" in client.get(f"/submissions/{submission.pk}/").content.decode()

    client.post(f"/submissions/{submission.pk}/cancel/")

    submission.refresh_from_db()
    assert submission.status == Status.CANCELLED
    client.force_login(world.outsider)
    assert client.post(f"/submissions/{submission.pk}/cancel/").status_code == 404


def test_after_a_run_the_node_evicts_images_but_never_needed_ones(
        world, labelled, monkeypatch, settings, django_capture_on_commit_callbacks):
    from sandbox.backends.fake import FakeBackend

    calls = []
    monkeypatch.setattr(FakeBackend, "evict",
                        lambda self, keep_bytes, keep_ids, **kw: calls.append((keep_bytes, keep_ids)))
    settings.SANDBOX_IMAGE_CACHE_BYTES = 123
    waiting = factories.image_record(world.team, world.member, "sha256:" + "77" * 32)
    Submission.objects.create(phase=world.phase, team=world.team, image=waiting,
                              submitted_by=world.member)

    submit(world, predict(lambda c: 0.5),
           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert calls and calls[0][0] == 123
    assert waiting.image_id in calls[0][1]


def test_a_sharded_phase_runs_disjoint_parts_and_merges_them(world, labelled,
                                                             django_capture_on_commit_callbacks):
    world.phase.shards = 3
    world.phase.save()
    seen: list[list[str]] = []

    def shard(input_dir, output_dir):
        manifest = json.loads((input_dir / "manifest.json").read_text())
        seen.append(sorted(c["id"] for c in manifest["cases"]))
        print(f"shard with {len(manifest['cases'])} cases")
        return predict(lambda c: 0.9 if int(c[-3:]) % 2 == 0 else 0.1)(input_dir, output_dir)

    submission = submit(world, shard,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED
    assert len(seen) == 3 and sorted(c for part in seen for c in part) == sorted(
        world.phase.cases.values_list("case_id", flat=True))
    assert CaseResult.objects.filter(submission=submission).count() == 6
    assert submission.run.logs.count("[shard ") == 3


def test_one_failing_shard_fails_the_run(world, labelled, django_capture_on_commit_callbacks):
    world.phase.shards = 2
    world.phase.save()

    def second_fails(input_dir, output_dir):
        manifest = json.loads((input_dir / "manifest.json").read_text())
        if manifest["cases"][0]["id"].endswith("001"):
            return 3
        return predict(lambda c: 0.5)(input_dir, output_dir)

    submission = submit(world, second_fails,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.failure_reason, submission.failure_detail) == (FailureReason.EXIT_CODE,
                                                                      "exit code 3")


def test_a_record_waits_for_the_database_and_a_refused_one_becomes_a_platform_failure(monkeypatch):
    from django.db import IntegrityError, OperationalError

    from evaluation.services import runs

    monkeypatch.setattr(runs.time, "sleep", lambda s: None)
    calls: list[str] = []

    def flaky() -> None:
        calls.append("record")
        if len(calls) <= 2:
            raise OperationalError("server closed the connection unexpectedly")

    runs.record_durably(flaky, lambda: calls.append("fallback"), what="a run")
    assert calls == ["record", "record", "record"]

    def refused() -> None:
        raise IntegrityError("value too long")

    calls.clear()
    runs.record_durably(refused, lambda: calls.append("fallback"), what="a run")
    assert calls == ["fallback"]

    def gone() -> None:
        raise OperationalError("no database")

    with pytest.raises(OperationalError):
        runs.record_durably(gone, lambda: calls.append("fallback"), what="a run")
