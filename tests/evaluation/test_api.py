"""REST API v1: images, submissions, leaderboards; bad input gets a 4xx with a reason."""

import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from evaluation.models import AlgorithmImage, Submission
from tests import factories
from tests.sandbox.tarballs import legacy_tarball


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {factories.api_token_for(user)}")
    return client


def upload(client: APIClient, path: Path, team: str = "team-a"):
    with path.open("rb") as fh:
        return client.post("/api/v1/images/", {"team": team, "file": fh}, format="multipart")


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def test_a_valid_image_is_recorded_once(world, tmp_path, isolated_storage):
    client = client_for(world.member)
    tarball = legacy_tarball().write(tmp_path / "image.tar")

    first, again = upload(client, tarball), upload(client, tarball)

    assert first.status_code == 201, first.content
    assert first.json()["user"] == "1000"
    assert again.json()["id"] == first.json()["id"]
    assert AlgorithmImage.objects.count() == 1
    assert len(stored_files(isolated_storage)) == 1


@pytest.mark.parametrize(("make", "code"), [
    (lambda p: p.write_bytes(b"this is not a tarball at all") and p, "not_an_image"),
    (lambda p: legacy_tarball(images=2).write(p), "multiple_images"),
    (lambda p: legacy_tarball(user="root").write(p), "root_user"),
    (lambda p: legacy_tarball(user="").write(p), "root_user"),
    (lambda p: legacy_tarball(architecture="arm64").write(p), "wrong_platform"),
])
def test_bad_tarballs_get_a_reason_and_leave_nothing(world, tmp_path, isolated_storage, make,
                                                     code):
    response = upload(client_for(world.member), make(tmp_path / "bad.tar"))

    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert AlgorithmImage.objects.count() == 0
    assert stored_files(isolated_storage) == []


def test_uploading_for_someone_elses_team_is_forbidden(world, tmp_path):
    response = upload(client_for(world.outsider), legacy_tarball().write(tmp_path / "i.tar"))

    assert response.status_code == 403
    assert response.json()["code"] == "not_a_team_member"


def test_submit_refusals_are_4xx_with_reasons(world, tmp_path):
    factories.add_cases(world.phase, ["present", "absent"])
    image = factories.image_record(world.team, world.member)
    member, outsider = client_for(world.member), client_for(world.outsider)
    body = {"challenge": "lesions", "phase": "test", "team": "team-a", "image": image.image_id}

    unknown_phase = member.post("/api/v1/submissions/", {**body, "phase": "nope"}, format="json")
    not_member = outsider.post("/api/v1/submissions/", body, format="json")
    world.phase.submission_limit = 0
    world.phase.save()
    over_quota = member.post("/api/v1/submissions/", body, format="json")

    assert (unknown_phase.status_code, unknown_phase.json()["code"]) == (404, "phase_not_found")
    assert (not_member.status_code, not_member.json()["code"]) == (403, "not_a_team_member")
    assert (over_quota.status_code, over_quota.json()["code"]) == (409, "quota_exceeded")
    assert Submission.objects.count() == 0


def test_a_team_cannot_read_another_teams_submission(world):
    factories.add_cases(world.phase, ["present"])
    image = factories.image_record(world.team, world.member)
    submission = Submission.objects.create(phase=world.phase, team=world.team, image=image,
                                           submitted_by=world.member)

    assert client_for(world.outsider).get(f"/api/v1/submissions/{submission.pk}/").status_code == 404
    assert client_for(world.member).get(f"/api/v1/submissions/{submission.pk}/").status_code == 200


def test_unpublished_challenges_are_invisible_outside_their_society(world):
    world.phase.challenge.is_published = False
    world.phase.challenge.save()

    assert APIClient().get("/api/v1/challenges/lesions/").status_code == 404
    assert client_for(world.member).get("/api/v1/challenges/").json() == []
    assert client_for(world.steward).get("/api/v1/challenges/lesions/").status_code == 200


def test_public_pages_and_schema_answer(world, client):
    assert client.get("/").status_code == 200
    assert client.get("/challenges/lesions/").status_code == 200
    assert client.get("/challenges/lesions/test/leaderboard/").status_code == 200
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/v1/submissions/" in json.loads(schema.content)["paths"]
