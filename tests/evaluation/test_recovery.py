"""Messages a broker lost are sent again: a queued submission no worker claimed and a scoring
submission never scored end in exactly one verdict, scored once, however often they are re-sent."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation import services
from evaluation.models import Result, Status, Submission
from evaluation.services.recovery import broker_queue_length, stalled_requeue
from sandbox.backends.fake import FakeBackend
from tests import factories
from tests.evaluation.test_submission_flow import IMAGE_ID, predict

pytestmark = pytest.mark.usefixtures("fake_sandbox")


@pytest.fixture
def labelled(world):
    return factories.add_cases(world.phase, ["present", "absent"] * 3)


@pytest.fixture
def sent(monkeypatch):
    """The messages sent, instead of a broker: ("run" | "score", submission id)."""
    messages: list[tuple[str, int]] = []
    monkeypatch.setattr("evaluation.tasks.enqueue_run",
                        lambda pk, queue, **_: messages.append(("run", pk)))
    monkeypatch.setattr("evaluation.tasks.enqueue_score",
                        lambda pk: messages.append(("score", pk)))
    monkeypatch.setattr("evaluation.tasks.enqueue_shard",
                        lambda pk, queue, **_: messages.append(("part", pk)))
    return messages


def submission_in(world, status: str, *, minutes_ago: float = 30) -> Submission:
    image = world.team.images.first() or factories.image_record(world.team, world.member,
                                                                 IMAGE_ID)
    submission = Submission.objects.create(phase=world.phase, team=world.team, image=image,
                                           submitted_by=world.member, status=status)
    then = timezone.now() - timedelta(minutes=minutes_ago)
    beat = then if status == Status.SCORING else None
    Submission.objects.filter(pk=submission.pk).update(created=then, heartbeat_at=beat)
    return submission


def empty_broker(queue: str) -> int:
    return 0


def test_lost_run_and_score_messages_are_sent_again(world, labelled, sent):
    queued, scoring = submission_in(world, Status.QUEUED), submission_in(world, Status.SCORING)
    fresh = submission_in(world, Status.QUEUED, minutes_ago=0)

    counts = stalled_requeue(stalled_after_s=60, queue_length=empty_broker)

    assert counts == {"queued": 1, "scoring": 1, "parts": 0}
    assert sorted(sent) == sorted([("run", queued.pk), ("score", scoring.pk)])
    assert ("run", fresh.pk) not in sent


def test_a_queue_that_still_holds_its_messages_is_not_topped_up(world, labelled, sent):
    older, newer = submission_in(world, Status.QUEUED, minutes_ago=30), submission_in(
        world, Status.QUEUED, minutes_ago=20)
    submission_in(world, Status.SUCCEEDED)  # waits on nothing

    assert stalled_requeue(stalled_after_s=60, queue_length=lambda queue: 2) == {
        "queued": 0, "scoring": 0, "parts": 0}
    assert stalled_requeue(stalled_after_s=60, queue_length=lambda queue: 1) == {
        "queued": 1, "scoring": 0, "parts": 0}
    assert sent == [("run", older.pk)]  # the oldest is the one a FIFO queue lost
    assert newer.pk not in [pk for _, pk in sent]


def test_final_and_running_submissions_are_left_alone(world, labelled, sent):
    for status in (Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED):
        submission_in(world, status)

    assert stalled_requeue(stalled_after_s=60, queue_length=empty_broker) == {
        "queued": 0, "scoring": 0, "parts": 0}
    assert sent == []


def test_a_resent_submission_runs_once_and_is_scored_once(
        world, labelled, monkeypatch, django_capture_on_commit_callbacks):
    FakeBackend.register(IMAGE_ID, predict(lambda case_id: 0.5))
    image = factories.image_record(world.team, world.member, IMAGE_ID)
    monkeypatch.setattr("evaluation.tasks.enqueue_run", lambda pk, queue, **_: None)  # lost
    submission = services.submission_create(user=world.member, team=world.team,
                                            phase=world.phase, image=image)
    Submission.objects.filter(pk=submission.pk).update(
        created=timezone.now() - timedelta(minutes=30))
    runs: list[int] = []

    def run_twice(pk, queue, **_):  # a re-sent message, then a late duplicate of it
        runs.append(pk)
        services.submission_execute(submission_id=pk)
        services.submission_execute(submission_id=pk)

    def score_twice(pk):
        services.submission_score(submission_id=pk)
        services.submission_score(submission_id=pk)

    monkeypatch.setattr("evaluation.tasks.enqueue_run", run_twice)
    monkeypatch.setattr("evaluation.tasks.enqueue_score", score_twice)

    with django_capture_on_commit_callbacks(execute=True):
        counts = stalled_requeue(stalled_after_s=60, queue_length=empty_broker)

    submission.refresh_from_db()
    assert counts["queued"] == 1 and runs == [submission.pk]
    assert (submission.status, submission.attempts) == (Status.SUCCEEDED, 1)
    assert Result.objects.filter(submission=submission).count() == 1
    assert stalled_requeue(stalled_after_s=60, queue_length=empty_broker) == {
        "queued": 0, "scoring": 0, "parts": 0}


def test_a_submission_scored_meanwhile_is_not_scored_again(world, labelled, sent):
    scoring = submission_in(world, Status.SCORING)
    Submission.objects.filter(pk=scoring.pk).update(status=Status.SUCCEEDED)

    services.submission_score(submission_id=scoring.pk)  # a duplicate score message

    assert not Result.objects.filter(submission=scoring).exists()
    assert Submission.objects.get(pk=scoring.pk).status == Status.SUCCEEDED


def test_the_broker_reports_how_many_messages_wait():
    """Against the configured broker (the filesystem broker, or Redis under `make test`)."""
    from config.celery import app

    queue = f"enclave-test-{uuid.uuid4().hex[:12]}"
    assert broker_queue_length(queue) == 0
    with app.connection_for_write() as conn:
        simple = conn.SimpleQueue(queue)
        try:
            simple.put({"n": 1})
            simple.put({"n": 2})
            assert broker_queue_length(queue) == 2
            simple.get(timeout=5).ack()
            assert broker_queue_length(queue) == 1
        finally:
            simple.clear()
            simple.close()


def test_a_lost_part_of_a_sharded_run_is_sent_again(world, labelled, sent):
    from evaluation.models import RunShard

    running = submission_in(world, Status.RUNNING)
    lost, taken = (RunShard.objects.create(submission=running, index=i, count=2) for i in range(2))
    RunShard.objects.filter(pk=taken.pk).update(state=RunShard.State.RUNNING)
    RunShard.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(minutes=30))

    assert stalled_requeue(stalled_after_s=60, queue_length=lambda queue: 1) == {
        "queued": 0, "scoring": 0, "parts": 0}  # the broker still holds a message for it
    assert stalled_requeue(stalled_after_s=60, queue_length=empty_broker) == {
        "queued": 0, "scoring": 0, "parts": 1}
    assert sent == [("part", lost.pk)]
