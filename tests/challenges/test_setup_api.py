"""The guided challenge set-up through REST API v1: the wizard's rules and services, JSON errors,
society admins and operators only, and nothing stored from a refused request."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from audit.models import AuditEvent
from challenges.models import Case, Challenge, GroundTruth, Phase
from evaluation.models import Result, Submission
from tests import factories
from tests.challenges.test_wizard import cases_zip, labels_csv

pytestmark = pytest.mark.django_db

API = "/api/v1/challenges/"


client_for = factories.api_client_for


@pytest.fixture
def api(admin):
    return client_for(admin)


def draft(world, slug: str = "polyps", **fields: object) -> Challenge:
    return factories.ChallengeFactory(society=world.society, slug=slug, is_published=False,
                                      **fields)


def basics(**overrides: object) -> dict[str, object]:
    return {"society": "jrs", "slug": "polyps", "title": "Polyp detection",
            "description": "Find them.", "modality": "endoscopy",
            "task_type": "binary-classification", "labels": ["absent", "present"],
            "positive_label": "present", "registration_mode": "open", **overrides}


def predictions(scores: dict[str, float]) -> SimpleUploadedFile:
    data = json.dumps({case_id: {"score": s} for case_id, s in scores.items()}).encode()
    return SimpleUploadedFile("predictions.json", data, content_type="application/json")


def is_error(response, status: int, code: str | None = None) -> bool:
    body = response.json()
    return (response.status_code == status and {"code", "detail"} <= set(body)
            and (code is None or body["code"] == code))


# --- challenges --------------------------------------------------------------------------

def test_an_admin_creates_a_draft_of_their_society(world, api, admin):
    response = api.post(API, basics(), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["is_published"] is False and response.json()["phases"] == []
    challenge = Challenge.objects.get(slug="polyps")
    assert (challenge.society, challenge.labels, challenge.registration_mode) == (
        world.society, ["absent", "present"], "open")
    assert AuditEvent.objects.filter(action="challenge.create", actor=admin).count() == 1


@pytest.mark.parametrize(("body", "field"), [
    (basics(positive_label="maybe"), "positive_label"),
    (basics(labels=["only-one"]), "labels"),
    (basics(task_type="astrology"), "task_type"),
    (basics(slug="not a slug"), "slug"),
    (basics(society="jsp"), "society"),  # a society the admin does not administer
])
def test_bad_basics_get_the_forms_problems_and_store_nothing(world, api, body, field):
    factories.SocietyFactory(slug="jsp")
    response = api.post(API, body, format="json")

    assert is_error(response, 400, "invalid")
    assert field in response.json()["fields"]
    assert not Challenge.objects.filter(slug__in=["polyps", "not a slug"]).exists()


def test_unknown_fields_and_taken_slugs_are_refused(world, api):
    assert is_error(api.post(API, {**basics(), "is_published": True}, format="json"), 400,
                    "bad_field")
    draft(world, "polyps")
    assert is_error(api.post(API, basics(), format="json"), 400, "invalid")
    assert Challenge.objects.filter(slug="polyps").count() == 1


@pytest.mark.parametrize("role", ["steward", "physician", "member"])
def test_only_admins_and_operators_create(world, role):
    response = client_for(getattr(world, role)).post(API, basics(), format="json")
    assert is_error(response, 403)
    assert not Challenge.objects.filter(slug="polyps").exists()


def test_an_operator_creates_for_any_society(world):
    operator = factories.UserFactory(username="op", is_staff=True)
    assert client_for(operator).post(API, basics(), format="json").status_code == 201


def test_patch_changes_some_basics_checked_with_the_stored_ones(world, api, admin):
    challenge = draft(world)
    response = api.patch(f"{API}{challenge.slug}/", {"title": "New title"}, format="json")
    assert response.status_code == 200 and response.json()["title"] == "New title"
    assert Challenge.objects.get(pk=challenge.pk).title == "New title"

    # A positive label outside the stored labels: the merged values are checked.
    response = api.patch(f"{API}{challenge.slug}/", {"positive_label": "maybe"}, format="json")
    assert is_error(response, 400, "invalid")
    assert Challenge.objects.get(pk=challenge.pk).positive_label == "present"


def test_the_task_is_frozen_once_published_or_with_truth(world, api):
    challenge = world.phase.challenge  # published
    response = api.patch(f"{API}{challenge.slug}/", {"labels": ["no", "yes"],
                                                     "positive_label": "yes"}, format="json")
    assert is_error(response, 409, "task_fixed")
    assert Challenge.objects.get(pk=challenge.pk).labels == ["absent", "present"]

    unpublished = draft(world, "with-truth")
    factories.add_cases(factories.PhaseFactory(challenge=unpublished), ["present"])
    response = api.patch(f"{API}with-truth/", {"labels": ["no", "yes"],
                                                "positive_label": "yes"}, format="json")
    assert is_error(response, 409, "task_fixed")
    assert Challenge.objects.get(pk=unpublished.pk).labels == ["absent", "present"]


@pytest.mark.parametrize("role", ["steward", "physician", "member"])
def test_others_may_not_patch_and_are_told_nothing(world, role):
    challenge = draft(world)
    response = client_for(getattr(world, role)).patch(f"{API}{challenge.slug}/", {"title": "x"},
                                                      format="json")
    assert is_error(response, 404)
    assert Challenge.objects.get(pk=challenge.pk).title == "A challenge"


def test_patch_needs_a_signed_in_caller_while_get_stays_public(world):
    anonymous = APIClient()
    slug = world.phase.challenge.slug
    assert anonymous.get(f"{API}{slug}/").status_code == 200
    assert anonymous.patch(f"{API}{slug}/", {"title": "x"}, format="json").status_code == 401


def test_publish_runs_the_wizards_checks(world, api, admin):
    challenge = draft(world)
    response = api.post(f"{API}{challenge.slug}/publish/")
    assert is_error(response, 409, "not_ready")  # no phase yet
    assert Challenge.objects.get(pk=challenge.pk).is_published is False

    factories.PhaseFactory(challenge=challenge)
    response = api.post(f"{API}{challenge.slug}/publish/")
    assert response.status_code == 200 and response.json()["is_published"] is True
    assert AuditEvent.objects.filter(action="challenge.publish", actor=admin).count() == 1


def test_publish_is_refused_to_stewards(world):
    challenge = draft(world)
    factories.PhaseFactory(challenge=challenge)
    response = client_for(world.steward).post(f"{API}{challenge.slug}/publish/")
    assert is_error(response, 404)
    assert Challenge.objects.get(pk=challenge.pk).is_published is False


# --- phases ------------------------------------------------------------------------------

def test_phases_are_listed_and_added_with_the_wizards_defaults(world, api):
    challenge = draft(world)
    response = api.post(f"{API}{challenge.slug}/phases/", {
        "slug": "sanity", "title": "Sanity", "is_hidden": False, "shards": 2,
        "opens_at": "2030-01-01T09:00:00Z", "closes_at": None}, format="json")

    assert response.status_code == 201, response.json()
    phase = Phase.objects.get(challenge=challenge, slug="sanity")
    assert (phase.is_hidden, phase.shards, phase.submission_limit, phase.wall_seconds) == (
        False, 2, 5, 600)
    assert phase.opens_at is not None and phase.closes_at is None
    listed = api.get(f"{API}{challenge.slug}/phases/").json()
    assert [p["slug"] for p in listed] == ["sanity"] and listed[0]["n_cases"] == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"slug": "x", "title": "X", "memory_mb": 1}, "memory_mb"),
    ({"slug": "x", "title": "X", "opens_at": "2030-02-01T00:00:00Z",
      "closes_at": "2030-01-01T00:00:00Z"}, "closes_at"),
    ({"slug": "x", "title": "X", "leaderboard_visibility": "always"}, "leaderboard_visibility"),
    ({"slug": "x"}, "title"),
])
def test_bad_phase_settings_store_nothing(world, api, body, field):
    challenge = draft(world)
    response = api.post(f"{API}{challenge.slug}/phases/", body, format="json")
    assert is_error(response, 400, "invalid") and field in response.json()["fields"]
    assert not Phase.objects.filter(challenge=challenge).exists()


def test_a_phase_slug_is_unique_in_its_challenge(world, api):
    slug = world.phase.challenge.slug
    response = api.post(f"{API}{slug}/phases/", {"slug": "test", "title": "T"}, format="json")
    assert is_error(response, 400, "slug_taken")


def test_patch_changes_phase_settings(world, api, admin):
    phase = world.phase
    url = f"{API}{phase.challenge.slug}/phases/{phase.slug}/"
    response = api.patch(url, {"wall_seconds": 1200, "cpus": 2.5, "title": "Final"},
                         format="json")
    assert response.status_code == 200, response.json()
    phase.refresh_from_db()
    assert (phase.wall_seconds, phase.cpus, phase.title) == (1200, 2.5, "Final")
    assert AuditEvent.objects.filter(action="phase.update", actor=admin).count() == 1

    assert is_error(api.patch(url, {"slug": "renamed"}, format="json"), 400, "bad_field")
    assert is_error(api.patch(url, {"wall_seconds": 0}, format="json"), 400, "invalid")
    assert Phase.objects.get(pk=phase.pk).wall_seconds == 1200


def test_a_hidden_phase_with_cases_stays_hidden(world, api):
    phase = world.phase
    factories.add_cases(phase, ["present"])
    response = api.patch(f"{API}{phase.challenge.slug}/phases/{phase.slug}/",
                         {"is_hidden": False}, format="json")
    assert is_error(response, 409, "hidden_cases")
    assert Phase.objects.get(pk=phase.pk).is_hidden is True


@pytest.mark.parametrize("role", ["steward", "physician", "member"])
def test_others_may_not_add_or_change_phases(world, role):
    client, phase = client_for(getattr(world, role)), world.phase
    slug = phase.challenge.slug
    assert is_error(client.post(f"{API}{slug}/phases/", {"slug": "x", "title": "X"},
                                format="json"), 404)
    assert is_error(client.patch(f"{API}{slug}/phases/test/", {"title": "X"}, format="json"),
                    404)
    assert Phase.objects.filter(challenge=phase.challenge).count() == 1
    assert Phase.objects.get(pk=phase.pk).title == "Test"


# --- the case import ---------------------------------------------------------------------

def import_url(phase: Phase) -> str:
    return f"{API}{phase.challenge.slug}/phases/{phase.slug}/cases/import/"


def test_import_stores_cases_and_labels_and_reports(world, api, admin):
    response = api.post(import_url(world.phase), {
        "cases": cases_zip(["a-001", "a-002"]),
        "labels": labels_csv({"a-001": "present", "a-002": "absent"})}, format="multipart")

    assert response.status_code == 201, response.json()
    assert response.json() == {"phase": "test", "created": 2, "unchanged": 0, "labelled": 2,
                               "held": 0}
    assert Case.objects.filter(phase=world.phase).count() == 2
    assert GroundTruth.objects.filter(case__phase=world.phase).count() == 2

    again = api.post(import_url(world.phase), {"cases": cases_zip(["a-001"])},
                     format="multipart")
    assert again.status_code == 201 and again.json()["unchanged"] == 1


@pytest.mark.parametrize(("files", "field"), [
    ({"cases": SimpleUploadedFile("cases.zip", b"not a zip")}, "cases"),
    ({}, "cases"),
])
def test_bad_files_are_refused_with_nothing_stored(world, api, files, field):
    response = api.post(import_url(world.phase), files, format="multipart")
    assert is_error(response, 400, "invalid") and field in response.json()["fields"]
    assert not Case.objects.exists()


def test_labels_for_unknown_cases_refuse_the_whole_import(world, api):
    response = api.post(import_url(world.phase), {
        "cases": cases_zip(["a-001"]), "labels": labels_csv({"zzz": "present"})},
        format="multipart")
    assert is_error(response, 400, "import_rejected")
    assert not Case.objects.exists()


@pytest.mark.parametrize("role", ["steward", "physician", "member"])
def test_the_import_is_for_admins_and_operators_as_on_the_web(world, role):
    response = client_for(getattr(world, role)).post(
        import_url(world.phase), {"cases": cases_zip(["a-001"])}, format="multipart")
    assert is_error(response, 404)
    assert not Case.objects.exists()


def test_the_public_cases_list_still_answers_get(world):
    phase = factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity",
                                   is_hidden=False)
    factories.add_cases(phase, ["present"])
    response = client_for(world.member).get(f"{API}{world.phase.challenge.slug}/phases/sanity/cases/")
    assert response.status_code == 200 and len(response.json()["files"]) == 1


def test_the_import_is_throttled_like_uploads(world, api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "uploads": "1/hour"}}
    assert api.post(import_url(world.phase), {"cases": cases_zip(["a-001"])},
                    format="multipart").status_code == 201
    response = api.post(import_url(world.phase), {"cases": cases_zip(["a-002"])},
                        format="multipart")
    assert is_error(response, 429, "throttled")
    assert Case.objects.count() == 1


# --- the preview -------------------------------------------------------------------------

def preview_url(phase: Phase) -> str:
    return f"{API}{phase.challenge.slug}/phases/{phase.slug}/preview/"


def test_the_preview_gives_the_leaderboard_row_and_stores_nothing(world, api):
    factories.add_cases(world.phase, ["present", "absent", "present", "absent"])
    response = api.post(preview_url(world.phase), {"predictions": predictions(
        {"case-000": 0.9, "case-001": 0.2, "case-002": 0.8, "case-003": 0.4})},
        format="multipart")

    assert response.status_code == 200, response.json()
    metrics = response.json()["metrics"]
    assert metrics[0]["primary"] is True and metrics[0]["value"] == pytest.approx(1.0)
    assert not Submission.objects.exists() and not Result.objects.exists()
    assert AuditEvent.objects.filter(action="phase.preview").count() == 1


@pytest.mark.parametrize(("content", "error"), [
    (b'{"case-000": {"score": 0.9}}', "predictions.json lacks 3 of 4 cases"),
    (b"[1, 2", "not valid JSON"),
])
def test_bad_sample_predictions_get_the_contract_rule(world, api, content, error):
    factories.add_cases(world.phase, ["present", "absent", "present", "absent"])
    response = api.post(preview_url(world.phase), {
        "predictions": SimpleUploadedFile("predictions.json", content)}, format="multipart")
    assert response.status_code == 400 and error in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="phase.preview").exists()


def test_the_preview_is_for_admins_only(world):
    factories.add_cases(world.phase, ["present"])
    response = client_for(world.physician).post(preview_url(world.phase), {
        "predictions": predictions({"case-000": 0.5})}, format="multipart")
    assert is_error(response, 404)
    assert not AuditEvent.objects.filter(action="phase.preview").exists()
