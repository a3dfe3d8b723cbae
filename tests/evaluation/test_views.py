"""Web pages: what each visitor sees, and what a team may never see."""

from evaluation.models import CaseResult, Result, RunRecord, Submission
from tests import factories


def finished_submission(world, *, logs="container said: lp-test-001 looks positive"):
    factories.add_cases(world.phase, ["present", "absent"])
    image = factories.image_record(world.team, world.member)
    submission = Submission.objects.create(phase=world.phase, team=world.team, image=image,
                                           submitted_by=world.member, status="succeeded")
    RunRecord.objects.create(submission=submission, verdict="completed", exit_code=0,
                             duration_s=1.0, logs=logs)
    for case in world.phase.cases.all():
        CaseResult.objects.create(submission=submission, case=case,
                                  prediction={"score": 0.123456}, values={})
    metrics = {"primary": "auroc",
               "metrics": {"auroc": {"value": 0.75, "ci_low": 0.5, "ci_high": 0.9},
                           "sensitivity": {"value": 0.5}, "specificity": {"value": 1.0},
                           "accuracy": {"value": 0.75}}}
    Result.objects.create(submission=submission, phase=world.phase, team=world.team,
                          spec_version=1, truth_version=1,
                          metrics=metrics, primary_value=0.75, primary_ci_low=0.5,
                          primary_ci_high=0.9, n_cases=2)
    return submission


def test_team_pages_show_scores_but_never_hidden_logs_or_predictions(world, client):
    submission = finished_submission(world)
    client.force_login(world.member)

    pages = [client.get("/submissions/"), client.get(f"/submissions/{submission.pk}/")]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "0.750" in html
        assert "lp-test-001 looks positive" not in html
        assert "0.123456" not in html


def test_another_team_cannot_open_the_submission_page(world, client):
    submission = finished_submission(world)
    client.force_login(world.outsider)

    assert client.get(f"/submissions/{submission.pk}/").status_code == 404
    assert "0.750" not in client.get("/submissions/").content.decode()


def test_leaderboard_page_shows_the_interval(world, client):
    finished_submission(world)

    html = client.get("/challenges/lesions/test/leaderboard/").content.decode()

    assert "0.750" in html and "0.500 – 0.900" in html


def test_submit_page_queues_a_submission(world, client, monkeypatch):
    queued = []
    monkeypatch.setattr("evaluation.tasks.enqueue_run", lambda pk, queue, **_: queued.append(queue))
    factories.add_cases(world.phase, ["present"])
    image = factories.image_record(world.team, world.member)
    client.force_login(world.member)

    assert client.get("/challenges/lesions/test/submit/").status_code == 200
    response = client.post("/challenges/lesions/test/submit/",
                           {"team": "team-a", "image": image.pk})

    assert response.status_code == 302
    assert Submission.objects.get().status == "queued"


def test_submit_page_refuses_with_a_message(world, client):
    factories.add_cases(world.phase, ["present"])
    image = factories.image_record(world.team, world.member)
    client.force_login(world.outsider)

    response = client.post("/challenges/lesions/test/submit/",
                           {"team": "team-a", "image": image.pk}, follow=True)

    assert Submission.objects.count() == 0
    assert "Choose one of your teams" in response.content.decode()


def test_pages_speak_japanese(world, client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    assert "チャレンジ" in html
    assert 'lang="ja"' in html


def test_my_submissions_takes_the_same_queries_for_one_or_many(world, client,
                                                                django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    finished_submission(world)
    client.force_login(world.member)
    with CaptureQueriesContext(connection) as one:
        client.get("/submissions/")
    image = world.team.images.first()
    for _ in range(5):
        Submission.objects.create(phase=world.phase, team=world.team, image=image,
                                  submitted_by=world.member, status="succeeded")

    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get("/submissions/")
