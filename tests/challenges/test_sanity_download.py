"""Downloading a phase's public cases for local validation; a hidden phase's never leave."""

import hashlib

import pytest
from rest_framework.test import APIClient

from challenges.selectors import cases_for_run
from evaluation.services.staging import manifest_for
from tests import factories


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {factories.api_token_for(user)}")
    return client


@pytest.fixture
def sanity(world):
    phase = factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity", is_hidden=False)
    factories.add_cases(phase, ["present", "absent", "present"], prefix="sample")
    factories.add_cases(world.phase, ["present", "absent"], prefix="hidden")
    return phase


def cases_url(phase: str = "sanity") -> str:
    return f"/api/v1/challenges/lesions/phases/{phase}/cases/"


def test_a_team_member_gets_the_manifest_a_run_gets_and_every_file(world, sanity):
    client = client_for(world.member)

    response = client.get(cases_url())

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["manifest"] == manifest_for(sanity, cases_for_run(sanity))
    assert [f["path"] for f in body["files"]] == [
        "sample-000/image.dcm", "sample-001/image.dcm", "sample-002/image.dcm"]
    for entry in body["files"]:
        download = client.get(entry["url"])
        assert download.status_code == 200
        data = download.getvalue()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["size_bytes"]
    assert client.get(body["files"][1]["url"]).getvalue() == b"sample-1"


@pytest.mark.parametrize("who", ["member", "outsider", "steward", "physician", "anonymous"])
def test_a_hidden_phase_hands_out_no_case_to_anyone(world, sanity, who):
    client = client_for(None if who == "anonymous" else getattr(world, who))
    hidden_file = "/api/v1/challenges/lesions/phases/test/cases/hidden-000/files/image.dcm"

    listing, download = client.get(cases_url("test")), client.get(hidden_file)

    expected = 401 if who == "anonymous" else 403
    assert (listing.status_code, download.status_code) == (expected, expected)
    assert b"hidden-" not in listing.content + download.content
    if who != "anonymous":
        assert listing.json()["code"] == download.json()["code"] == "phase_hidden"


def test_anonymous_callers_must_sign_in_even_for_public_cases(sanity):
    assert client_for().get(cases_url()).status_code == 401


def test_unknown_files_and_invisible_challenges_are_not_found(world, sanity):
    client = client_for(world.member)

    missing = client.get("/api/v1/challenges/lesions/phases/sanity/cases/sample-000/files/x.dcm")
    other_phase_case = client.get(
        "/api/v1/challenges/lesions/phases/sanity/cases/hidden-000/files/image.dcm")
    world.phase.challenge.is_published = False
    world.phase.challenge.save()
    unpublished = client.get(cases_url())

    assert (missing.status_code, missing.json()["code"]) == (404, "case_file_not_found")
    assert other_phase_case.status_code == 404
    assert (unpublished.status_code, unpublished.json()["code"]) == (404, "challenge_not_found")


def test_a_corrupted_public_case_file_is_withheld_not_served(world, sanity, isolated_storage):
    client = client_for(world.member)
    url = "/api/v1/challenges/lesions/phases/sanity/cases/sample-000/files/image.dcm"
    assert client.get(url).status_code == 200
    key = sanity.cases.get(case_id="sample-000").files.get().storage_key
    (isolated_storage / key).write_bytes(b"flipped bits")

    response = client.get(url)

    assert response.status_code == 503
    assert response.json()["code"] == "stored_file_corrupt"
    assert b"flipped bits" not in response.content
