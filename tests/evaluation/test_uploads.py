"""Resumable uploads: chunks at the server's offset, resume after a break, then intake."""

from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from rest_framework.test import APIClient

from evaluation.models import AlgorithmImage, UploadSession
from evaluation.services.uploads import part_path, uploads_sweep
from tests.sandbox.tarballs import legacy_tarball


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def put(client, session_id, offset, data):
    return client.put(f"/api/v1/uploads/{session_id}/?offset={offset}", data=data,
                      content_type="application/octet-stream")


def test_an_interrupted_upload_resumes_and_becomes_an_image(world, tmp_path):
    data = legacy_tarball().write(tmp_path / "image.tar").read_bytes()
    client = api(world.member)
    session = client.post("/api/v1/uploads/", {"team": "team-a", "size": len(data)},
                          format="json").json()
    third = len(data) // 3

    assert put(client, session["id"], 0, data[:third]).json()["received"] == third
    wrong = put(client, session["id"], 0, data[third:])  # a client that lost track
    assert (wrong.status_code, wrong.json()["code"]) == (409, "wrong_offset")
    offset = client.get(f"/api/v1/uploads/{session['id']}/").json()["received"]
    early = client.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert (early.status_code, early.json()["code"]) == (409, "upload_incomplete")
    put(client, session["id"], offset, data[offset:2 * third])
    put(client, session["id"], 2 * third, data[2 * third:])
    done = client.post(f"/api/v1/uploads/{session['id']}/complete/")

    assert done.status_code == 201, done.content
    assert AlgorithmImage.objects.get().image_id == done.json()["image_id"]
    assert not part_path(UploadSession.objects.get()).exists()
    again = client.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert again.json()["code"] == "upload_closed"


def test_uploads_are_private_and_bounded(world):
    client = api(world.member)
    session = client.post("/api/v1/uploads/", {"team": "team-a", "size": 4}, format="json").json()

    assert api(world.outsider).get(f"/api/v1/uploads/{session['id']}/").status_code == 404
    assert api(world.outsider).post("/api/v1/uploads/", {"team": "team-a"},
                                    format="json").status_code == 403
    too_big = put(client, session["id"], 0, b"12345")
    assert (too_big.status_code, too_big.json()["code"]) == (400, "too_large")
    assert client.get(f"/api/v1/uploads/{session['id']}/").json()["received"] == 0


def test_a_bad_tarball_fails_at_completion_and_leaves_nothing(world, isolated_storage):
    client = api(world.member)
    session = client.post("/api/v1/uploads/", {"team": "team-a"}, format="json").json()
    put(client, session["id"], 0, b"not a tarball")

    response = client.post(f"/api/v1/uploads/{session['id']}/complete/")

    assert (response.status_code, response.json()["code"]) == (400, "not_an_image")
    assert AlgorithmImage.objects.count() == 0
    assert not list(Path(isolated_storage).rglob("*.tar"))
    assert not UploadSession.objects.exists()


def test_abandoned_uploads_are_swept(world):
    client = api(world.member)
    session = client.post("/api/v1/uploads/", {"team": "team-a"}, format="json").json()
    stale = UploadSession.objects.get()
    UploadSession.objects.filter(pk=stale.pk).update(updated=timezone.now() - timedelta(days=2))

    assert uploads_sweep() == 1
    assert not part_path(stale).exists()
    assert api(world.member).get(f"/api/v1/uploads/{session['id']}/").status_code == 404
