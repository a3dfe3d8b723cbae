"""Where a submission stands: its place in its queue, a start estimate from the queue's run
history (none without history), the quota left (platform failures and cancellations never
count), the live status panel, and nothing about other teams but a count."""

from datetime import timedelta

import pytest
from django.utils import timezone

from evaluation.models import CaseResult, RunRecord, Submission
from evaluation.selectors.queue import queue_places, quota_of
from evaluation.services.submissions import submissions_counted
from tests import factories

OTHER_CHALLENGE = "other-society-stroke"


def submit(phase, team, user, *, status="queued", image_id="sha256:" + "ab" * 32, **fields):
    image = (team.images.filter(image_id=image_id).first()
             or factories.image_record(team, user, image_id))
    return Submission.objects.create(phase=phase, team=team, image=image, submitted_by=user,
                                     status=status, **fields)


def finished_run(phase, team, user, *, duration_s, node):
    submission = submit(phase, team, user, status="succeeded", node=node,
                        started_at=timezone.now() - timedelta(minutes=5),
                        finished_at=timezone.now())
    RunRecord.objects.create(submission=submission, verdict="completed", exit_code=0,
                             duration_s=duration_s, node=node)
    return submission


@pytest.fixture
def other_world(world):
    """Team B's submissions to a challenge of another society, on the same CPU queue."""
    society = factories.SocietyFactory(slug="jsp")
    phase = factories.PhaseFactory(challenge__society=society,
                                   challenge__slug=OTHER_CHALLENGE, slug="secret-phase")
    return phase


def test_positions_count_every_team_on_the_same_queue_in_order_of_creation(
        world, other_world, django_assert_max_num_queries):
    gpu = factories.PhaseFactory(challenge=world.phase.challenge, slug="gpu", gpus=1)
    theirs = submit(other_world, world.other_team, world.outsider)
    mine_first = submit(world.phase, world.team, world.member)
    on_gpu = submit(gpu, world.team, world.member)
    submit(world.phase, world.team, world.member, status="running")  # not waiting any more
    submit(world.phase, world.team, world.member, status="failed")
    mine_second = submit(world.phase, world.team, world.member)
    finished = submit(world.phase, world.team, world.member, status="succeeded")
    rows = list(Submission.objects.select_related("phase").filter(
        pk__in=[theirs.pk, mine_first.pk, on_gpu.pk, mine_second.pk, finished.pk]))

    with django_assert_max_num_queries(3):  # the positions, and each queue's run history
        places = queue_places(rows)

    assert {pk: place.position for pk, place in places.items()} == {
        theirs.pk: 1, mine_first.pk: 2, mine_second.pk: 3, on_gpu.pk: 1}
    assert finished.pk not in places
    assert all(place.estimated_start is None for place in places.values())  # no history yet


def test_the_estimate_uses_the_median_run_time_and_the_workers_seen(world, other_world):
    for duration, node in ((60.0, "cpu-1"), (600.0, "cpu-2"), (60.0, "cpu-1")):
        finished_run(other_world, world.other_team, world.outsider, duration_s=duration,
                     node=node)
    gpu = factories.PhaseFactory(challenge=world.phase.challenge, slug="gpu", gpus=1)
    finished_run(gpu, world.team, world.member, duration_s=9000.0, node="gpu-1")  # other queue
    for _ in range(3):
        submit(other_world, world.other_team, world.outsider)
    mine = submit(world.phase, world.team, world.member)

    before = timezone.now()
    place = queue_places([mine])[mine.pk]
    after = timezone.now()

    # 3 ahead and none running; the median run is 60 s; two CPU workers were seen lately.
    assert place.position == 4
    assert place.estimated_start is not None
    expected = timedelta(seconds=60.0 * 3 / 2)
    assert before + expected <= place.estimated_start <= after + expected


def test_the_api_gives_a_queued_submission_its_place_and_nothing_about_other_teams(
        world, other_world, client):
    finished_run(other_world, world.other_team, world.outsider, duration_s=30.0, node="cpu-1")
    submit(other_world, world.other_team, world.outsider)
    mine = submit(world.phase, world.team, world.member)
    done = submit(world.phase, world.team, world.member, status="succeeded")
    token = factories.api_token_for(world.member)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}

    detail = client.get(f"/api/v1/submissions/{mine.pk}/", **auth)
    listing = client.get("/api/v1/submissions/", **auth)

    assert detail.status_code == 200
    body = detail.json()
    assert body["queue_position"] == 2
    assert body["estimated_start"] is not None
    by_id = {row["id"]: row for row in listing.json()}
    assert by_id[mine.pk]["queue_position"] == 2
    assert (by_id[done.pk]["queue_position"], by_id[done.pk]["estimated_start"]) == (None, None)
    for text in (detail.content.decode(), listing.content.decode()):
        assert "team-b" not in text and "Team-B" not in text
        assert OTHER_CHALLENGE not in text and "secret-phase" not in text


def test_the_submission_page_shows_the_place_and_a_refreshing_status_panel(
        world, other_world, client):
    submit(other_world, world.other_team, world.outsider)
    mine = submit(world.phase, world.team, world.member)
    client.force_login(world.member)

    page = client.get(f"/submissions/{mine.pk}/")
    fragment = client.get(f"/submissions/{mine.pk}/status/")

    assert page.status_code == fragment.status_code == 200
    html = page.content.decode()
    assert "Number 2 in the queue" in html
    assert "should start in about" not in html  # no run history: no estimate at all
    assert f'data-refresh-url="/submissions/{mine.pk}/status/"' in html
    assert f'href="/submissions/{mine.pk}/">Refresh</a>' in html  # the no-JavaScript fallback
    assert "<script>" not in html  # the Content-Security-Policy allows no inline script
    part = fragment.content.decode()
    assert part.lstrip().startswith('<section id="submission-status"')
    assert "Number 2 in the queue" in part and "<html" not in part
    assert fragment["Cache-Control"] == "no-store"
    for text in (html, part):
        assert "team-b" not in text and OTHER_CHALLENGE not in text


def test_a_final_submission_panel_stops_refreshing_and_names_its_failure(world, client):
    failed = submit(world.phase, world.team, world.member, status="failed",
                    failure_reason="exit_code", failure_detail="exit code 3", exit_code=3)
    client.force_login(world.member)

    part = client.get(f"/submissions/{failed.pk}/status/").content.decode()

    assert "data-refresh-url" not in part
    assert "the container exited with an error" in part and "exit code 3" in part


def test_the_status_panel_is_no_one_elses(world, client):
    mine = submit(world.phase, world.team, world.member)

    assert client.get(f"/submissions/{mine.pk}/status/").status_code == 302  # sign in first
    client.force_login(world.outsider)
    assert client.get(f"/submissions/{mine.pk}/status/").status_code == 404


def test_quota_left_leaves_out_platform_failures_and_cancellations(world, client):
    world.phase.submission_limit = 5
    world.phase.save()
    first = submit(world.phase, world.team, world.member, status="succeeded")
    submit(world.phase, world.team, world.member, status="failed", failure_reason="exit_code")
    submit(world.phase, world.team, world.member, status="failed",
           failure_reason="platform_error")
    submit(world.phase, world.team, world.member, status="cancelled")
    submit(world.phase, world.other_team, world.outsider, status="succeeded")  # not our quota
    old = submit(world.phase, world.team, world.member, status="succeeded")
    Submission.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(hours=30))
    first.refresh_from_db()

    quota = quota_of(world.phase, world.team)

    assert (quota.used, quota.left, quota.limit) == (2, 3, 5)
    assert quota.used == submissions_counted(world.phase, world.team)  # one definition
    assert quota.next_frees_at == first.created + timedelta(hours=24)

    client.force_login(world.member)
    page = client.get(f"/submissions/{first.pk}/").content.decode()
    submit_page = client.get("/challenges/lesions/test/submit/").content.decode()
    assert "3 of 5 submissions left in this 24-hour window" in page
    assert "3 of 5 submissions left in this 24-hour window" in submit_page

    token = factories.api_token_for(world.member)
    answer = client.get("/api/v1/challenges/lesions/phases/test/quota/?team=team-a",
                        HTTP_AUTHORIZATION=f"Token {token}")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["used"], body["left"], body["limit"], body["window_hours"]) == (2, 3, 5, 24)
    assert body["next_frees_at"] is not None


def test_the_quota_api_is_for_the_teams_members(world, client):
    outsider = {"HTTP_AUTHORIZATION": f"Token {factories.api_token_for(world.outsider)}"}
    member = {"HTTP_AUTHORIZATION": f"Token {factories.api_token_for(world.member)}"}

    refused = client.get("/api/v1/challenges/lesions/phases/test/quota/?team=team-a", **outsider)
    missing = client.get("/api/v1/challenges/lesions/phases/test/quota/", **member)

    assert refused.status_code == 403 and refused.json()["code"] == "not_a_team_member"
    assert missing.status_code == 400 and "team" in missing.json()["fields"]


def test_the_team_sees_its_outputs_on_public_cases_only(world, client):
    sanity = factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity",
                                    is_hidden=False)
    for phase in (sanity, world.phase):
        case = factories.add_cases(phase, ["present"], prefix=f"{phase.slug}-case")[0]
        run = submit(phase, world.team, world.member, status="succeeded")
        RunRecord.objects.create(submission=run, verdict="completed", exit_code=0,
                                 duration_s=1.0, logs=f"log of {phase.slug}")
        CaseResult.objects.create(submission=run, case=case,
                                  prediction={"score": 0.987654 if phase.is_hidden else 0.25})
    public_run, hidden_run = Submission.objects.order_by("created")
    client.force_login(world.member)

    public = client.get(f"/submissions/{public_run.pk}/").content.decode()
    hidden = client.get(f"/submissions/{hidden_run.pk}/").content.decode()

    assert "sanity-case-000" in public and "0.25" in public and "log of sanity" in public
    assert "test-case-000" not in hidden and "0.987654" not in hidden
    assert "log of test" not in hidden


def test_the_panel_speaks_japanese(world, client):
    mine = submit(world.phase, world.team, world.member)
    client.force_login(world.member)

    html = client.get(f"/submissions/{mine.pk}/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    assert "キューの 1 番目" in html
    assert "この 24 時間の枠で残り 4 / 5 件投稿できます" in html
