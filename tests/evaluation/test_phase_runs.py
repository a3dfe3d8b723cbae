"""The society's run pages: every team's runs of a phase with logs, resource use and verdicts,
for the owning society and operators only (404 for everyone else), audited when hidden logs show."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import SocietyMembership
from audit.models import AuditEvent
from evaluation.models import RunRecord, RunShard, Submission
from tests import factories

HIDDEN_LOG = "hidden-run-log: case lp-secret-007 looked odd"


def make_run(world, team, member, *, status="succeeded", logs=HIDDEN_LOG, shards=0,
             image_id="sha256:" + "ab" * 32, node="node-1", failure_reason="", exit_code=0):
    image = (factories.image_record(team, member, image_id)
             if not team.images.filter(image_id=image_id).exists()
             else team.images.get(image_id=image_id))
    now = timezone.now()
    submission = Submission.objects.create(
        phase=world.phase, team=team, image=image, submitted_by=member, status=status,
        failure_reason=failure_reason, exit_code=exit_code, attempts=1, node=node,
        started_at=now - timedelta(seconds=30), finished_at=now)
    RunRecord.objects.create(submission=submission, verdict=failure_reason or "completed",
                             exit_code=exit_code, duration_s=12.5, logs=logs, node=node)
    for index in range(shards):
        RunShard.objects.create(submission=submission, index=index, count=shards, state="done",
                                attempts=index + 1, node=f"gpu-node-{index}", verdict="completed",
                                duration_s=3.5 + index, logs="part logs")
    return submission


@pytest.fixture
def admin(world):
    return factories.society_member(world.society, "admin", "chair")


def runs_url(world):
    return f"/challenges/{world.phase.challenge.slug}/{world.phase.slug}/runs/"


def test_the_society_sees_every_teams_runs_and_opens_hidden_logs(world, client, admin):
    mine = make_run(world, world.team, world.member, shards=2)
    theirs = make_run(world, world.other_team, world.outsider, status="failed",
                      failure_reason="exit_code", exit_code=3, image_id="sha256:" + "cd" * 32)
    factories.login_verified(client, admin)

    listing = client.get(runs_url(world))
    detail = client.get(f"{runs_url(world)}{mine.pk}/")

    assert listing.status_code == 200
    html = listing.content.decode()
    assert "team-a" in html and "team-b" in html
    assert "abababababab" in html and "cdcdcdcdcdcd" in html  # short digests
    assert "gpu-node-0, gpu-node-1" in html
    assert HIDDEN_LOG not in html  # the list never carries logs; opening a run does
    assert f"{runs_url(world)}{theirs.pk}/" in html
    assert detail.status_code == 200
    html = detail.content.decode()
    assert HIDDEN_LOG in html
    assert "gpu-node-1" in html and "4.5 s" in html and "1/2" in html and "2/2" in html


@pytest.mark.parametrize("role", ["steward", "physician", "operator"])
def test_other_society_side_roles_see_the_logs_too(world, client, role):
    submission = make_run(world, world.team, world.member)
    user = (factories.UserFactory(username="op", is_staff=True) if role == "operator"
            else getattr(world, role))
    factories.login_verified(client, user)

    assert client.get(runs_url(world)).status_code == 200
    assert HIDDEN_LOG in client.get(f"{runs_url(world)}{submission.pk}/").content.decode()


def test_teams_and_other_societies_get_a_404_and_anonymous_the_sign_in_page(world, client):
    submission = make_run(world, world.team, world.member)
    stranger = factories.society_member(factories.SocietyFactory(slug="jgs"), "physician")
    urls = [runs_url(world), f"{runs_url(world)}{submission.pk}/"]

    anonymous = [client.get(url) for url in urls]
    client.force_login(world.member)  # the submitting team itself
    team = [client.get(url) for url in urls]
    factories.login_verified(client, stranger)
    other_society = [client.get(url) for url in urls]

    assert all(r.status_code == 302 and "/accounts/login/" in r["Location"] for r in anonymous)
    for response in team + other_society:
        assert response.status_code == 404
        assert HIDDEN_LOG not in response.content.decode()
    assert not AuditEvent.objects.filter(action="evaluation.run_logs_viewed").exists()


def test_a_society_role_elsewhere_does_not_open_this_society_through_a_team(world, client):
    """Alice is a physician of another society and a member of the submitting team."""
    submission = make_run(world, world.team, world.member)
    SocietyMembership.objects.create(user=world.member, role="physician",
                                     society=factories.SocietyFactory(slug="jgs"))
    factories.login_verified(client, world.member)

    assert client.get(runs_url(world)).status_code == 404
    assert client.get(f"{runs_url(world)}{submission.pk}/").status_code == 404


def test_a_run_of_another_phase_is_not_found_under_this_one(world, client, admin):
    submission = make_run(world, world.team, world.member)
    factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity", is_hidden=False)
    factories.login_verified(client, admin)

    response = client.get(f"/challenges/{world.phase.challenge.slug}/sanity/runs/"
                          f"{submission.pk}/")

    assert response.status_code == 404


def test_filters_by_status_and_team(world, client, admin):
    ok_a = make_run(world, world.team, world.member)
    failed_a = make_run(world, world.team, world.member, status="failed",
                        failure_reason="timeout")
    ok_b = make_run(world, world.other_team, world.outsider)
    factories.login_verified(client, admin)

    def listed(query):
        html = client.get(runs_url(world) + query).content.decode()
        return {s.pk for s in (ok_a, failed_a, ok_b) if f"runs/{s.pk}/\"" in html}

    assert listed("") == {ok_a.pk, failed_a.pk, ok_b.pk}
    assert listed("?status=failed") == {failed_a.pk}
    assert listed("?team=team-b") == {ok_b.pk}
    assert listed("?status=succeeded&team=team-a") == {ok_a.pk}
    assert listed("?status=not-a-status") == {ok_a.pk, failed_a.pk, ok_b.pk}


def test_fifty_runs_a_page(world, client, admin):
    runs = [make_run(world, world.team, world.member) for _ in range(53)]
    factories.login_verified(client, admin)

    first = client.get(runs_url(world)).content.decode()
    second = client.get(runs_url(world) + "?page=2").content.decode()

    def count(html):
        return sum(f"runs/{s.pk}/\"" in html for s in runs)

    assert count(first) == 50 and count(second) == 3
    assert f"runs/{runs[-1].pk}/\"" in first  # newest first
    assert "page=2" in first and "page=1" in second


def test_each_viewing_of_hidden_logs_is_audited(world, client, admin):
    submission = make_run(world, world.team, world.member)
    factories.login_verified(client, admin)

    client.get(runs_url(world))  # the list shows no logs: nothing to record
    client.get(f"{runs_url(world)}{submission.pk}/")
    client.get(f"{runs_url(world)}{submission.pk}/")

    events = AuditEvent.objects.filter(action="evaluation.run_logs_viewed")
    assert events.count() == 2
    assert {(e.actor_id, e.target_type, e.target_id, e.detail["submission"]) for e in events} == {
        (admin.pk, "submission", str(submission.pk), submission.pk)}


def test_public_phase_logs_are_not_audited(world, client, admin):
    world.phase.is_hidden = False
    world.phase.save()
    submission = make_run(world, world.team, world.member, logs="sanity log")
    factories.login_verified(client, admin)

    assert "sanity log" in client.get(f"{runs_url(world)}{submission.pk}/").content.decode()
    assert not AuditEvent.objects.filter(action="evaluation.run_logs_viewed").exists()


def test_the_query_count_does_not_grow_with_the_rows(world, client, admin):
    make_run(world, world.team, world.member, shards=2)
    factories.login_verified(client, admin)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(runs_url(world)).status_code == 200
        return len(captured)

    few = queries()
    for i in range(6):
        make_run(world, world.other_team if i % 2 else world.team,
                 world.outsider if i % 2 else world.member, shards=i % 3,
                 image_id="sha256:" + f"{i:02d}" * 32)
    assert queries() == few


def test_the_challenge_page_links_to_the_runs_for_the_society_only(world, client, admin):
    url = f"/challenges/{world.phase.challenge.slug}/"
    client.force_login(world.member)
    team_page = client.get(url).content.decode()
    factories.login_verified(client, admin)
    society_page = client.get(url).content.decode()

    assert runs_url(world) not in team_page
    assert runs_url(world) in society_page


def test_the_pages_speak_japanese(world, client, admin):
    submission = make_run(world, world.team, world.member, shards=1)
    factories.login_verified(client, admin)

    listing = client.get(runs_url(world), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    detail = client.get(f"{runs_url(world)}{submission.pk}/",
                        HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    assert "実行一覧" in listing and "終了コード" in listing and "1 件の実行" in listing
    assert f"投稿 {submission.pk} の実行" in detail and "分割実行" in detail


def test_resource_use_is_shown_to_the_society_and_never_to_the_team(world, client, admin):
    """world.phase is hidden: the society sees peak memory and CPU time on the pages and in
    the API; the team's own submission page shows neither."""
    assert world.phase.is_hidden
    submission = make_run(world, world.team, world.member, shards=1)
    RunRecord.objects.filter(submission=submission).update(
        peak_memory_bytes=96 * 1024 * 1024, cpu_seconds=7.25, output_bytes=2048)
    RunShard.objects.filter(submission=submission).update(
        peak_memory_bytes=80 * 1024 * 1024, cpu_seconds=3.75)
    unmeasured = make_run(world, world.other_team, world.outsider,
                          image_id="sha256:" + "cd" * 32)
    factories.login_verified(client, admin)

    listing = client.get(runs_url(world)).content.decode()
    detail = client.get(f"{runs_url(world)}{submission.pk}/").content.decode()
    api_runs = {run["id"]: run for run in client.get(
        f"/api/v1/challenges/{world.phase.challenge.slug}/phases/{world.phase.slug}/runs/"
    ).json()["runs"]}

    assert "96.0\xa0MB" in listing and "7.3 s" in listing
    assert "96.0\xa0MB" in detail and "7.3 s" in detail and "2.0\xa0KB" in detail
    assert "80.0\xa0MB" in detail and "3.8 s" in detail  # the part
    assert api_runs[submission.pk]["peak_memory_bytes"] == 96 * 1024 * 1024
    assert api_runs[submission.pk]["cpu_seconds"] == 7.25
    assert api_runs[submission.pk]["output_bytes"] == 2048
    assert api_runs[submission.pk]["shards"][0]["peak_memory_bytes"] == 80 * 1024 * 1024
    assert api_runs[unmeasured.pk]["peak_memory_bytes"] is None
    assert api_runs[unmeasured.pk]["cpu_seconds"] is None

    client.logout()
    factories.login_verified(client, world.member)
    team_page = client.get(f"/submissions/{submission.pk}/").content.decode()
    assert client.get(f"/submissions/{submission.pk}/").status_code == 200
    assert "96.0\xa0MB" not in team_page and "7.3 s" not in team_page
    assert "Peak memory" not in team_page


def test_a_society_member_on_a_team_never_sees_that_teams_runs(world, client):
    """Conflict of interest: the physician is also on team-a; team-a's hidden logs must not
    reach team-a through the society's pages (list, page and API), other teams' runs do show."""
    conflicted = factories.team_member(world.team, "dr-on-team-a")
    SocietyMembership.objects.create(user=conflicted, society=world.society, role="physician")
    own = make_run(world, world.team, world.member)
    other = make_run(world, world.other_team, world.outsider, image_id="sha256:" + "cd" * 32)
    factories.login_verified(client, conflicted)

    listing = client.get(runs_url(world)).content.decode()
    assert f"{runs_url(world)}{other.pk}/" in listing
    assert f"{runs_url(world)}{own.pk}/" not in listing
    assert client.get(f"{runs_url(world)}{own.pk}/").status_code == 404
    api = factories.api_client_for(conflicted)
    base = (f"/api/v1/challenges/{world.phase.challenge.slug}/phases/{world.phase.slug}/runs/")
    assert api.get(f"{base}{own.pk}/").status_code == 404
    assert [r["id"] for r in api.get(base).json()["runs"]] == [other.pk]
    assert not AuditEvent.objects.filter(action="evaluation.run_logs_viewed",
                                         target_id=own.pk).exists()
