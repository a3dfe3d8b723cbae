"""The submission lifecycle with the fake sandbox: queue -> run -> score -> leaderboard.

Unit tests: the Celery hand-off is replaced by a direct call (the end-to-end tests in tests/e2e
use a real worker and a real docker engine).
"""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from config.errors import DomainError
from evaluation import services
from evaluation.models import FailureReason, Result, Status, Submission
from evaluation.selectors import leaderboard_for, submission_team_view
from sandbox.backends.fake import FakeBackend
from tests import factories

IMAGE_ID = "sha256:" + "cd" * 32


pytestmark = pytest.mark.usefixtures("fake_sandbox")


def predict(scores_by_case):
    """A fake image that writes predictions from a function of the case id."""
    def behaviour(input_dir: Path, output_dir: Path) -> int:
        manifest = json.loads((input_dir / "manifest.json").read_text())
        predictions = {c["id"]: {"score": scores_by_case(c["id"])} for c in manifest["cases"]}
        (output_dir / "predictions.json").write_text(json.dumps(predictions))
        print("secret-ish log line from the container")
        return 0
    return behaviour


def submit(world, image_behaviour, *, team=None, user=None, image_id=IMAGE_ID,
           django_capture_on_commit_callbacks):
    team, user = team or world.team, user or world.member
    FakeBackend.register(image_id, image_behaviour)
    image = factories.image_record(team, user, image_id)
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(user=user, team=team, phase=world.phase,
                                                image=image)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def labelled(world):
    return factories.add_cases(world.phase, ["present", "absent"] * 5)


def perfect(case_id: str) -> float:
    return 1.0 if int(case_id[-3:]) % 2 == 0 else 0.0


def test_given_a_good_image_when_submitted_then_it_is_scored_and_ranked(
        world, labelled, django_capture_on_commit_callbacks):
    submission = submit(world, predict(perfect),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.SUCCEEDED
    result = Result.objects.get(submission=submission, is_current=True)
    assert result.primary_value == 1.0
    assert result.metrics["metrics"]["sensitivity"]["value"] == 1.0
    assert submission.case_results.count() == 10
    board = leaderboard_for(world.outsider, world.phase).entries
    assert [(e.rank, e.team, e.value) for e in board] == [(1, "team-a", 1.0)]


def test_hidden_phase_team_view_has_scores_but_no_logs_or_case_results(
        world, labelled, django_capture_on_commit_callbacks):
    submission = submit(world, predict(perfect),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    view = submission_team_view(submission)

    assert view["scores"]["auroc"]["value"] == 1.0
    assert view["logs"] is None
    assert "secret-ish" not in json.dumps(view)
    assert "case_results" not in view and "predictions" not in view


def test_sanity_phase_team_view_shows_logs(world, labelled, django_capture_on_commit_callbacks):
    world.phase.is_hidden = False
    world.phase.save()
    submission = submit(world, predict(perfect),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert "secret-ish log line" in submission_team_view(submission)["logs"]


def test_scores_withheld_until_published(world, labelled, django_capture_on_commit_callbacks):
    world.phase.leaderboard_visibility = "on-publish"
    world.phase.save()
    submission = submit(world, predict(perfect),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    view = submission_team_view(submission)

    assert view["scores"] is None and view["scores_withheld"] is True
    with pytest.raises(DomainError):
        leaderboard_for(world.member, world.phase)
    assert leaderboard_for(world.physician, world.phase).entries[0].value == 1.0


@pytest.mark.parametrize(("behaviour", "reason", "detail"), [
    (lambda i, o: 3, FailureReason.EXIT_CODE, "exit code 3"),
    (lambda i, o: "timeout", FailureReason.TIMEOUT, ""),
    (lambda i, o: "out_of_memory", FailureReason.OUT_OF_MEMORY, ""),
    (lambda i, o: 0, FailureReason.OUTPUT_MISSING, ""),
    (lambda i, o: (o / "predictions.json").write_text("{not json") and 0,
     FailureReason.OUTPUT_INVALID, None),
    (lambda i, o: (o / "predictions.json").write_text('{"case-000": {"score": NaN}}') and 0,
     FailureReason.OUTPUT_INVALID, None),
    (lambda i, o: (o / "predictions.json").write_text('{"case-000": {"score": 0.5}}') and 0,
     FailureReason.OUTPUT_INVALID, "predictions.json lacks 9 of 10 cases"),
])
def test_failures_get_a_categorical_reason(world, labelled, behaviour, reason, detail,
                                           django_capture_on_commit_callbacks):
    submission = submit(world, behaviour,
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.status == Status.FAILED
    assert submission.failure_reason == reason
    if detail is not None:
        assert submission.failure_detail == detail
    assert not Result.objects.filter(submission=submission).exists()


def test_out_of_range_score_names_the_rule_not_the_value(
        world, labelled, django_capture_on_commit_callbacks):
    submission = submit(world, predict(lambda case_id: 7.25),
                        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)

    assert submission.failure_reason == FailureReason.OUTPUT_INVALID
    assert "7.25" not in submission.failure_detail
    assert "[0, 1]" in submission.failure_detail


def test_quota_counts_team_failures_but_not_platform_errors(
        world, labelled, django_capture_on_commit_callbacks):
    world.phase.submission_limit = 1
    world.phase.save()
    first = submit(world, lambda i, o: 1,
                   django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert first.failure_reason == FailureReason.EXIT_CODE

    with pytest.raises(DomainError) as refused:
        services.submission_create(user=world.member, team=world.team, phase=world.phase,
                                   image=first.image)
    assert refused.value.code == "quota_exceeded"

    first.failure_reason = FailureReason.PLATFORM_ERROR
    first.save()
    again = services.submission_create(user=world.member, team=world.team, phase=world.phase,
                                       image=first.image)
    assert again.status == Status.QUEUED


def test_refusals_leave_no_submission(world, labelled):
    image = factories.image_record(world.team, world.member)
    other_image = factories.image_record(world.other_team, world.outsider, "sha256:" + "ef" * 32)
    cases = [
        ({"user": world.outsider, "team": world.team, "image": image}, "not_a_team_member"),
        ({"user": world.member, "team": world.team, "image": other_image}, "image_not_of_team"),
    ]
    for kwargs, code in cases:
        with pytest.raises(DomainError) as refused:
            services.submission_create(phase=world.phase, **kwargs)
        assert refused.value.code == code

    world.phase.closes_at = timezone.now() - timedelta(minutes=1)
    world.phase.save()
    with pytest.raises(DomainError) as closed:
        services.submission_create(user=world.member, team=world.team, phase=world.phase,
                                   image=image)
    assert closed.value.code == "phase_closed"
    assert Submission.objects.count() == 0


def test_phase_without_ground_truth_is_not_ready(world):
    factories.add_cases(world.phase, ["present"])
    world.phase.cases.first().truths.all().delete()
    image = factories.image_record(world.team, world.member)
    with pytest.raises(DomainError) as refused:
        services.submission_create(user=world.member, team=world.team, phase=world.phase,
                                   image=image)
    assert refused.value.code == "phase_not_ready"


def test_leaderboard_keeps_each_teams_best_and_ties_share_a_rank(
        world, labelled, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    submit(world, predict(lambda c: 0.5), image_id="sha256:" + "01" * 32,
           django_capture_on_commit_callbacks=capture)
    submit(world, predict(perfect), image_id="sha256:" + "02" * 32,
           django_capture_on_commit_callbacks=capture)
    submit(world, predict(perfect), team=world.other_team, user=world.outsider,
           image_id="sha256:" + "03" * 32, django_capture_on_commit_callbacks=capture)

    board = leaderboard_for(world.outsider, world.phase).entries

    assert [(e.rank, e.team, e.value) for e in board] == [(1, "team-a", 1.0), (1, "team-b", 1.0)]
