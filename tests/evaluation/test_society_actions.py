"""Society actions on a phase's runs page: publish and hide results, re-evaluate, export CSV.
POST only, CSRF-protected, for the owning society's admins and operators."""

import csv
import io

import pytest
from django.test import Client

from audit.models import AuditEvent
from challenges.models import Phase
from evaluation.models import LeaderboardSnapshot, Result
from tests import factories
from tests.evaluation.test_submission_flow import predict, submit

pytestmark = pytest.mark.usefixtures("fake_sandbox")


@pytest.fixture
def scored(world, django_capture_on_commit_callbacks):
    """A hidden phase whose leaderboard waits for publication, with two scored teams."""
    Phase.objects.filter(pk=world.phase.pk).update(leaderboard_visibility="on-publish")
    world.phase.refresh_from_db()
    factories.add_cases(world.phase, ["present", "absent"] * 4)
    submit(world, predict(lambda c: 1.0 if int(c[-3:]) % 2 == 0 else 0.0),
           image_id="sha256:" + "0a" * 32,
           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    submit(world, predict(lambda c: [0.3, 0.6, 0.2, 0.9][int(c[-3:]) % 4]),
           team=world.other_team, user=world.outsider, image_id="sha256:" + "0b" * 32,
           django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    return world


@pytest.fixture
def admin(world):
    return factories.society_member(world.society, "admin", "chair")


def url(world, action: str) -> str:
    return f"/challenges/{world.phase.challenge.slug}/{world.phase.slug}/{action}/"


def test_the_runs_page_offers_the_actions_to_admins_only(scored, client, admin):
    factories.login_verified(client, scored.physician)
    assert "Society actions" not in client.get(url(scored, "runs")).content.decode()

    factories.login_verified(client, admin)
    html = client.get(url(scored, "runs")).content.decode()
    assert "Society actions" in html
    for action in ("publish", "reevaluate"):
        assert f'action="{url(scored, action)}"' in html
    assert 'action="' + url(scored, "unpublish") + '"' not in html  # nothing published yet
    assert "leaderboard.csv" in html
    assert html.count('name="csrfmiddlewaretoken"') >= 3


def test_publish_then_hide_from_the_runs_page(scored, client, admin, django_capture_on_commit_callbacks):
    factories.login_verified(client, admin)
    board = f"/challenges/{scored.phase.challenge.slug}/{scored.phase.slug}/leaderboard/"
    outsider = Client()
    outsider.force_login(scored.outsider)
    assert "Team-A" not in outsider.get(board).content.decode()

    published = client.post(url(scored, "publish"), {"next": "runs"})

    assert published.status_code == 302 and published["Location"] == url(scored, "runs")
    assert LeaderboardSnapshot.objects.filter(phase=scored.phase).count() == 1
    assert "Team-A" in outsider.get(board).content.decode()
    page = client.get(url(scored, "runs")).content.decode()
    assert "Results are published" in page and url(scored, "unpublish") in page

    hidden = client.post(url(scored, "unpublish"), {"next": "runs"})

    assert hidden.status_code == 302 and hidden["Location"] == url(scored, "runs")
    assert Phase.objects.get(pk=scored.phase.pk).results_published is False
    assert "Team-A" not in outsider.get(board).content.decode()
    assert LeaderboardSnapshot.objects.filter(phase=scored.phase).count() == 1  # kept
    assert AuditEvent.objects.filter(action="phase.hide_results").count() == 1


def test_reevaluate_from_the_runs_page(scored, client, admin, django_capture_on_commit_callbacks):
    factories.login_verified(client, admin)
    before = Result.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(scored, "reevaluate"), {"next": "runs"})

    assert response.status_code == 302 and response["Location"] == url(scored, "runs")
    assert Result.objects.filter(is_current=True).count() == 2
    assert Result.objects.count() == before  # same spec and truth: re-scored in place
    assert AuditEvent.objects.filter(action="phase.reevaluate").exists()


def test_the_csv_export_has_every_team_with_its_intervals(scored, client, admin):
    factories.login_verified(client, admin)
    response = client.get(f"/challenges/{scored.phase.challenge.slug}/{scored.phase.slug}/"
                          "leaderboard.csv")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["team"] for r in rows] == ["team-a", "team-b"]
    assert {"auroc", "auroc_ci_low", "auroc_ci_high"} <= set(rows[0])


@pytest.mark.parametrize("who", ["physician", "steward", "member", "outsider"])
def test_others_cannot_act(scored, client, who):
    factories.login_verified(client, getattr(scored, who))
    for action in ("publish", "unpublish", "reevaluate"):
        client.post(url(scored, action), {"next": "runs"})
    phase = Phase.objects.get(pk=scored.phase.pk)
    assert phase.results_published is False
    assert not LeaderboardSnapshot.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["phase.publish", "phase.hide_results",
                                                     "phase.reevaluate"]).exists()


def test_actions_are_post_only_and_need_the_csrf_token(scored, admin):
    browser = Client(enforce_csrf_checks=True)
    factories.login_verified(browser, admin)
    assert browser.get(url(scored, "unpublish")).status_code == 405
    assert browser.post(url(scored, "publish"), {"next": "runs"}).status_code == 403
    assert not LeaderboardSnapshot.objects.exists()


def test_hiding_unpublished_results_changes_nothing(scored, client, admin):
    factories.login_verified(client, admin)
    response = client.post(url(scored, "unpublish"))
    assert response.status_code == 302 and response["Location"].endswith("/leaderboard/")
    assert not AuditEvent.objects.filter(action="phase.hide_results").exists()
