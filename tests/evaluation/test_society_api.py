"""The owning society's side of REST API v1: hiding published results again, every run of a
phase with its logs (audited), and re-running a failed run with the fake sandbox."""

import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from evaluation import services
from evaluation.models import FailureReason, RunRecord, Status, Submission
from evaluation.selectors.queue import quota_of
from evaluation.services.publication import phase_publish
from sandbox.backends.fake import FakeBackend
from tests import factories

pytestmark = pytest.mark.django_db

IMAGE_ID = "sha256:" + "cd" * 32


client_for = factories.api_client_for


@pytest.fixture
def admin(world):
    return factories.society_member(world.society, "admin", "chair")


def phase_url(world, tail: str) -> str:
    return f"/api/v1/challenges/{world.phase.challenge.slug}/phases/{world.phase.slug}/{tail}"


def good(input_dir: Path, output_dir: Path) -> int:
    manifest = json.loads((input_dir / "manifest.json").read_text())
    scores = {c["id"]: {"score": 1.0 if int(c["id"][-3:]) % 2 == 0 else 0.0}
              for c in manifest["cases"]}
    (output_dir / "predictions.json").write_text(json.dumps(scores))
    print("hidden-run-log: all fine")
    return 0


def crash(input_dir: Path, output_dir: Path) -> int:
    print("hidden-run-log: crashed on lp-secret-007")
    return 3


def submit(world, capture) -> Submission:
    image = (world.team.images.filter(image_id=IMAGE_ID).first()
             or factories.image_record(world.team, world.member, IMAGE_ID))
    with capture(execute=True):
        submission = services.submission_create(user=world.member, team=world.team,
                                                phase=world.phase, image=image)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def labelled(world):
    return factories.add_cases(world.phase, ["present", "absent"] * 2)


# --- hiding results again ----------------------------------------------------------------

def test_an_admin_hides_published_results_again(world, admin):
    phase_publish(phase=world.phase, actor=admin)
    response = client_for(admin).post(phase_url(world, "unpublish/"))
    assert response.status_code == 200 and response.json() == {"changed": True}
    world.phase.refresh_from_db()
    assert world.phase.results_published is False
    assert AuditEvent.objects.filter(action="phase.hide_results", actor=admin).count() == 1
    assert client_for(admin).post(phase_url(world, "unpublish/")).json() == {"changed": False}


@pytest.mark.parametrize("role", ["steward", "physician", "member"])
def test_others_may_not_hide_results(world, admin, role):
    phase_publish(phase=world.phase, actor=admin)
    response = client_for(getattr(world, role)).post(phase_url(world, "unpublish/"))
    assert response.status_code == 403 and response.json()["code"] == "not_society_admin"
    world.phase.refresh_from_db()
    assert world.phase.results_published is True


# --- runs --------------------------------------------------------------------------------

@pytest.mark.usefixtures("fake_sandbox")
def test_the_society_lists_runs_and_reads_audited_logs(world, admin, labelled,
                                                       django_capture_on_commit_callbacks):
    FakeBackend.register(IMAGE_ID, crash)
    failed = submit(world, django_capture_on_commit_callbacks)
    api = client_for(world.physician)

    listed = api.get(phase_url(world, "runs/"))
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 1 and body["runs"][0]["id"] == failed.pk
    assert body["runs"][0]["failure_code"] == "exit_code" and "logs" not in body["runs"][0]
    assert "lp-secret-007" not in listed.content.decode()
    assert not AuditEvent.objects.filter(action="evaluation.run_logs_viewed").exists()

    detail = api.get(phase_url(world, f"runs/{failed.pk}/"))
    assert detail.status_code == 200 and "lp-secret-007" in detail.json()["logs"]
    assert AuditEvent.objects.filter(action="evaluation.run_logs_viewed",
                                     actor=world.physician).count() == 1


@pytest.mark.usefixtures("fake_sandbox")
def test_runs_filter_and_page(world, admin, labelled, django_capture_on_commit_callbacks):
    FakeBackend.register(IMAGE_ID, good)
    for _ in range(3):
        submit(world, django_capture_on_commit_callbacks)
    api = client_for(admin)
    page = api.get(phase_url(world, "runs/") + "?limit=2&offset=1").json()
    assert (page["count"], len(page["runs"])) == (3, 2)
    assert api.get(phase_url(world, "runs/") + "?status=failed").json()["count"] == 0
    assert api.get(phase_url(world, "runs/") + "?team=team-b").json()["count"] == 0
    bad = api.get(phase_url(world, "runs/") + "?status=exploded")
    assert bad.status_code == 400 and "status" in bad.json()["fields"]


@pytest.mark.usefixtures("fake_sandbox")
def test_teams_and_strangers_get_a_404(world, labelled, django_capture_on_commit_callbacks):
    FakeBackend.register(IMAGE_ID, crash)
    failed = submit(world, django_capture_on_commit_callbacks)
    stranger = factories.society_member(factories.SocietyFactory(slug="jsp"), "admin", "other")
    for user in (world.member, world.outsider, stranger):
        api = client_for(user)
        for url in (phase_url(world, "runs/"), phase_url(world, f"runs/{failed.pk}/")):
            response = api.get(url)
            assert response.status_code == 404 and "lp-secret-007" not in response.content.decode()
        assert api.post(phase_url(world, f"runs/{failed.pk}/rerun/")).status_code == 404
    assert APIClient().get(phase_url(world, "runs/")).status_code == 401
    assert Submission.objects.get(pk=failed.pk).status == Status.FAILED


# --- re-running a failed run -------------------------------------------------------------

@pytest.mark.usefixtures("fake_sandbox")
def test_a_failed_run_is_run_again_without_taking_quota(world, admin, labelled,
                                                        django_capture_on_commit_callbacks):
    world.phase.submission_limit = 1
    world.phase.save()
    FakeBackend.register(IMAGE_ID, crash)
    failed = submit(world, django_capture_on_commit_callbacks)
    assert failed.failure_reason == FailureReason.EXIT_CODE
    used_before = quota_of(world.phase, world.team).used

    FakeBackend.register(IMAGE_ID, good)  # e.g. the platform's fault, since fixed
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).post(phase_url(world, f"runs/{failed.pk}/rerun/"))

    assert response.status_code == 202, response.json()
    failed.refresh_from_db()
    assert failed.status == Status.SUCCEEDED and failed.failure_reason == ""
    assert failed.attempts == 2
    assert Submission.objects.count() == 1
    assert quota_of(world.phase, world.team).used == used_before == 1
    assert "all fine" in RunRecord.objects.get(submission=failed).logs
    event = AuditEvent.objects.get(action="submission.rerun")
    assert event.actor == admin and event.detail["failure_reason"] == "exit_code"


@pytest.mark.usefixtures("fake_sandbox")
def test_only_failed_runs_are_run_again(world, admin, labelled,
                                        django_capture_on_commit_callbacks):
    FakeBackend.register(IMAGE_ID, good)
    succeeded = submit(world, django_capture_on_commit_callbacks)
    response = client_for(admin).post(phase_url(world, f"runs/{succeeded.pk}/rerun/"))
    assert response.status_code == 409 and response.json()["code"] == "not_failed"
    assert not AuditEvent.objects.filter(action="submission.rerun").exists()


@pytest.mark.usefixtures("fake_sandbox")
@pytest.mark.parametrize("role", ["steward", "physician"])
def test_society_roles_that_do_not_manage_may_not_rerun(world, labelled, role,
                                                        django_capture_on_commit_callbacks):
    FakeBackend.register(IMAGE_ID, crash)
    failed = submit(world, django_capture_on_commit_callbacks)
    response = client_for(getattr(world, role)).post(phase_url(world, f"runs/{failed.pk}/rerun/"))
    assert response.status_code == 403
    assert Submission.objects.get(pk=failed.pk).status == Status.FAILED


@pytest.mark.usefixtures("fake_sandbox")
def test_the_run_page_offers_the_rerun_button_to_admins(world, admin, labelled, client,
                                                        django_capture_on_commit_callbacks):
    FakeBackend.register(IMAGE_ID, crash)
    failed = submit(world, django_capture_on_commit_callbacks)
    page = f"/challenges/{world.phase.challenge.slug}/{world.phase.slug}/runs/{failed.pk}/"
    factories.login_verified(client, world.physician)
    assert "rerun/" not in client.get(page).content.decode()
    client.logout()
    factories.login_verified(client, admin)
    html = client.get(page).content.decode()
    assert f"{page}rerun/" in html and "csrfmiddlewaretoken" in html

    FakeBackend.register(IMAGE_ID, good)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{page}rerun/")
    assert response.status_code == 302 and response["Location"] == page
    assert Submission.objects.get(pk=failed.pk).status == Status.SUCCEEDED
