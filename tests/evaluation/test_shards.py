"""Sharded runs with the fake sandbox: each part is its own task, retried on its own, swept on
its own, and the run is merged exactly once by the part that finishes last."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation import services
from evaluation.models import FailureReason, Result, RunShard, Status, Submission
from evaluation.services.runs import runs_sweep
from evaluation.services.shards import shard_execute
from sandbox.backends.fake import FakeBackend
from sandbox.errors import SandboxError
from tests import factories
from tests.evaluation.test_submission_flow import IMAGE_ID, predict, submit

pytestmark = pytest.mark.usefixtures("fake_sandbox")
State = RunShard.State


@pytest.fixture
def sharded(world):
    factories.add_cases(world.phase, ["present", "absent"] * 3)
    world.phase.shards = 3
    world.phase.save()
    return world


def first_case(input_dir) -> str:
    return json.loads((input_dir / "manifest.json").read_text())["cases"][0]["id"]


def test_each_part_is_recorded_and_the_run_is_merged_once(sharded,
                                                          django_capture_on_commit_callbacks):
    submission = submit(sharded, predict(lambda c: 0.9 if int(c[-3:]) % 2 == 0 else 0.1),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED
    shards = list(submission.shards.order_by("index"))
    assert [(s.index, s.count, s.state, s.attempts) for s in shards] == [
        (0, 3, State.DONE, 1), (1, 3, State.DONE, 1), (2, 3, State.DONE, 1)]
    assert all(s.predictions is None for s in shards)  # merged, then dropped from the parts
    assert Result.objects.filter(submission=submission).count() == 1
    assert submission.case_results.count() == 6
    assert submission.run.logs.count("[shard ") == 3


def test_a_platform_failure_retries_only_that_part(sharded, settings,
                                                   django_capture_on_commit_callbacks):
    settings.ENCLAVE_RUN_ATTEMPTS = 3
    failures = {"left": 1}

    def second_part_hiccups(input_dir, output_dir):
        if first_case(input_dir) == "case-001" and failures["left"]:
            failures["left"] -= 1
            raise SandboxError("engine hiccup")
        return predict(lambda c: 0.5)(input_dir, output_dir)

    submission = submit(sharded, second_part_hiccups,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED
    assert submission.attempts == 1
    assert list(submission.shards.order_by("index").values_list("attempts", flat=True)) == [1, 2, 1]


def test_a_failed_part_fails_the_run_and_skips_the_parts_still_queued(
        sharded, django_capture_on_commit_callbacks):
    ran: list[str] = []

    def first_part_fails(input_dir, output_dir):
        ran.append(first_case(input_dir))
        if first_case(input_dir) == "case-000":
            print("traceback with a hidden value")
            return 3
        return predict(lambda c: 0.5)(input_dir, output_dir)

    submission = submit(sharded, first_part_fails,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert (submission.status, submission.failure_reason, submission.failure_detail) == (
        Status.FAILED, FailureReason.EXIT_CODE, "exit code 3")
    assert ran == ["case-000"]
    assert list(submission.shards.order_by("index").values_list("state", flat=True)) == [
        State.FAILED, State.SKIPPED, State.SKIPPED]
    assert not Result.objects.filter(submission=submission).exists()


@pytest.fixture
def dispatched(sharded, monkeypatch, django_capture_on_commit_callbacks):
    """A sharded submission claimed and split, its parts queued but not yet run."""
    queued: list[int] = []
    monkeypatch.setattr("evaluation.tasks.enqueue_shard", lambda pk, queue, **_: queued.append(pk))
    FakeBackend.register(IMAGE_ID, predict(lambda c: 0.5))
    image = factories.image_record(sharded.team, sharded.member, IMAGE_ID)
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(user=sharded.member, team=sharded.team,
                                                phase=sharded.phase, image=image)
    return submission, queued


def test_the_sweeper_requeues_a_part_whose_worker_died_not_the_whole_run(
        dispatched, django_capture_on_commit_callbacks):
    submission, queued = dispatched
    assert len(queued) == 3
    long_ago = timezone.now() - timedelta(hours=1)
    RunShard.objects.filter(pk=queued[0]).update(state=State.RUNNING, attempts=1, node="dead",
                                                 heartbeat_at=long_ago)
    Submission.objects.filter(pk=submission.pk).update(heartbeat_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        counts = runs_sweep()

    assert counts == {"requeued": 1, "failed": 0}
    assert queued[3:] == [queued[0]]
    shard = RunShard.objects.get(pk=queued[0])
    assert (shard.state, shard.node) == (State.QUEUED, "")
    assert Submission.objects.get(pk=submission.pk).status == Status.RUNNING
    with django_capture_on_commit_callbacks(execute=True):
        for pk in queued[:3]:
            shard_execute(shard_id=pk)
    final = Submission.objects.get(pk=submission.pk)
    assert final.status == Status.SUCCEEDED
    assert Result.objects.filter(submission=final).count() == 1


def test_a_part_that_keeps_dying_fails_the_run_as_a_platform_error(dispatched, settings,
                                                                   django_capture_on_commit_callbacks):
    submission, queued = dispatched
    settings.ENCLAVE_RUN_ATTEMPTS = 1
    RunShard.objects.filter(pk=queued[0]).update(
        state=State.RUNNING, attempts=1, heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        for pk in queued[1:]:
            shard_execute(shard_id=pk)
        assert runs_sweep() == {"requeued": 0, "failed": 1}

    final = Submission.objects.get(pk=submission.pk)
    assert (final.status, final.failure_reason) == (Status.FAILED, FailureReason.PLATFORM_ERROR)


def test_a_cancelled_sharded_run_drops_its_parts(dispatched, django_capture_on_commit_callbacks):
    submission, queued = dispatched
    with django_capture_on_commit_callbacks(execute=True):
        shard_execute(shard_id=queued[0])
        services.submission_cancel(user=submission.submitted_by, submission=submission)
        for pk in queued[1:]:
            shard_execute(shard_id=pk)

    final = Submission.objects.get(pk=submission.pk)
    assert final.status == Status.CANCELLED
    assert list(final.shards.order_by("index").values_list("state", flat=True)) == [
        State.DONE, State.SKIPPED, State.SKIPPED]
    assert not final.shards.filter(predictions__isnull=False).exists()
    assert not Result.objects.filter(submission=final).exists()


def test_the_merged_run_sums_cpu_time_and_keeps_the_largest_memory_peak() -> None:
    from evaluation.models import RunShard as Shard
    from evaluation.services.shards import _merged_outcome

    parts = [Shard(index=0, count=3, state="done", verdict="completed", duration_s=2.0,
                   peak_memory_bytes=100, cpu_seconds=1.5, output_bytes=10),
             Shard(index=1, count=3, state="done", verdict="completed", duration_s=3.0,
                   peak_memory_bytes=300, cpu_seconds=2.0, output_bytes=20),
             Shard(index=2, count=3, state="done", verdict="completed", duration_s=1.0)]
    outcome, failure = _merged_outcome(parts)
    assert failure is None
    assert outcome.peak_memory_bytes == 300
    assert outcome.cpu_seconds == 3.5
    assert outcome.output_bytes == 30
    unmeasured, _ = _merged_outcome(parts[2:])
    assert unmeasured.peak_memory_bytes is None and unmeasured.cpu_seconds is None
