"""Rate limits on submissions and image uploads: 429 with a JSON reason after the scope's rate,
per user and scope, writes only, shared by the web forms, documented in the OpenAPI schema."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from config.throttling import throttled_message
from evaluation.models import Submission, UploadSession
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
RATES = {"submissions": "2/hour", "uploads": "2/hour", "upload_chunks": "3/hour"}


@pytest.fixture(autouse=True)
def small_rates(settings) -> None:
    """Tiny rates (the counters start empty in every test: tests/conftest.py isolated_cache)."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": RATES}


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def submission_body(world) -> dict[str, str]:
    factories.add_cases(world.phase, ["present", "absent"])
    image = factories.image_record(world.team, world.member)
    world.phase.submission_limit = 100
    world.phase.save()
    return {"challenge": "lesions", "phase": "test", "team": "team-a", "image": image.image_id}


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled"
    assert body["detail"].startswith("Too many requests. Please try again in ")
    assert 0 < int(response["Retry-After"]) <= 3600


def test_submissions_beyond_the_rate_get_429_with_a_reason(world, submission_body):
    member = api(world.member)

    answers = [member.post("/api/v1/submissions/", submission_body, format="json")
               for _ in range(3)]

    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_throttled(answers[2])
    assert Submission.objects.count() == 2
    # reads are not limited, and the limit is the user's own
    assert member.get("/api/v1/submissions/").status_code == 200
    assert member.get(f"/api/v1/submissions/{answers[0].json()['id']}/").status_code == 200
    not_member = api(world.outsider).post("/api/v1/submissions/", submission_body,
                                             format="json")
    assert not_member.status_code == 403  # refused for its own reason, not throttled


def test_refused_submissions_count_too(world, submission_body):
    """A burst of bad requests is what a rate limit is for."""
    member = api(world.member)
    bad = {**submission_body, "phase": "nope"}

    answers = [member.post("/api/v1/submissions/", bad, format="json").status_code
               for _ in range(3)]

    assert answers == [404, 404, 429]


def test_the_throttle_message_speaks_japanese(world, submission_body):
    member = api(world.member)
    for _ in range(3):
        response = member.post("/api/v1/submissions/", submission_body, format="json",
                               HTTP_ACCEPT_LANGUAGE="ja")

    assert response.status_code == 429
    assert "リクエストが多すぎます" in response.json()["detail"]


def test_upload_starts_and_chunks_have_their_own_limits(world):
    member = api(world.member)
    starts = [member.post("/api/v1/uploads/", {"team": "team-a", "size": 8}, format="json")
              for _ in range(3)]
    session = starts[0].json()["id"]
    chunks = [member.put(f"/api/v1/uploads/{session}/?offset={offset}", data=b"ab",
                         content_type="application/octet-stream") for offset in (0, 2, 4, 6)]

    assert [s.status_code for s in starts[:2]] == [201, 201]
    assert_throttled(starts[2])
    assert UploadSession.objects.count() == 2
    assert [c.status_code for c in chunks[:3]] == [200, 200, 200]
    assert_throttled(chunks[3])
    progress = member.get(f"/api/v1/uploads/{session}/")
    assert (progress.status_code, progress.json()["received"]) == (200, 6)
    # completing counts as an upload, like starting one
    assert_throttled(member.post(f"/api/v1/uploads/{session}/complete/"))
    assert api(world.outsider).post("/api/v1/uploads/", {"team": "team-b"},
                                    format="json").status_code == 201


def test_whole_image_uploads_share_the_upload_limit(world, tmp_path):
    member = api(world.member)
    member.post("/api/v1/uploads/", {"team": "team-a"}, format="json")
    member.post("/api/v1/uploads/", {"team": "team-a"}, format="json")
    tarball = tmp_path / "image.tar"
    tarball.write_bytes(b"not read: the throttle answers first")

    with tarball.open("rb") as fh:
        response = member.post("/api/v1/images/", {"team": "team-a", "file": fh},
                               format="multipart")

    assert_throttled(response)
    assert member.get("/api/v1/images/").status_code == 200


def test_the_web_submit_form_shares_the_submission_limit(world, submission_body):
    image = world.team.images.get()
    api(world.member).post("/api/v1/submissions/", submission_body, format="json")
    client = Client()
    client.force_login(world.member)
    form = {"team": "team-a", "image": image.pk}

    second = client.post("/challenges/lesions/test/submit/", form)
    third = client.post("/challenges/lesions/test/submit/", form, follow=True)

    assert second.status_code == 302
    assert third.status_code == 200
    assert "Too many requests. Please try again in " in third.content.decode()
    assert Submission.objects.count() == 2
    assert client.get("/challenges/lesions/test/submit/").status_code == 200


def test_the_web_upload_form_shares_the_upload_limit(world):
    member = api(world.member)
    for _ in range(2):
        member.post("/api/v1/uploads/", {"team": "team-a"}, format="json")
    client = Client()
    client.force_login(world.member)

    response = client.post("/images/upload/", {"team": "team-a"})

    assert "Too many requests. Please try again in " in response.content.decode()


def test_the_schema_documents_429_on_throttled_operations_only(db, client):
    paths = json.loads(client.get("/api/schema/?format=json").content)["paths"]

    def documented(path: str, method: str) -> bool:
        return "429" in paths[path][method]["responses"]

    assert documented("/api/v1/submissions/", "post")
    assert documented("/api/v1/uploads/", "post")
    assert documented("/api/v1/uploads/{id}/", "put")
    assert documented("/api/v1/uploads/{id}/complete/", "post")
    assert documented("/api/v1/images/", "post")
    assert not documented("/api/v1/submissions/", "get")
    assert not documented("/api/v1/uploads/{id}/", "get")
    assert not documented("/api/v1/submissions/{id}/cancel/", "post")
    body = paths["/api/v1/submissions/"]["post"]["responses"]["429"]
    assert body["content"]["application/json"]["schema"]["required"] == ["code", "detail"]


def test_rates_and_the_shared_cache_come_from_the_environment(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")},
           "ENCLAVE_VAR_DIR": str(tmp_path), "ENCLAVE_RATE_SUBMISSIONS": "7/day",
           "ENCLAVE_CACHE_URL": "redis://127.0.0.1:6379/14"}
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'], s.CACHES['default']]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True,
                            env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    rates, cache = json.loads(result.stdout.strip().splitlines()[-1])

    assert rates["submissions"] == "7/day"
    assert rates["uploads"] == "60/hour"
    assert cache == {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                     "LOCATION": "redis://127.0.0.1:6379/14"}


@pytest.mark.parametrize(("seconds", "message"), [
    (None, "Too many requests. Please try again later."),
    (1, "Too many requests. Please try again in 1 second."),
    (119, "Too many requests. Please try again in 119 seconds."),
    (3541, "Too many requests. Please try again in 60 minutes."),
])
def test_the_message_says_how_long_to_wait(seconds, message):
    assert throttled_message(seconds) == message


def _redis_url() -> str:
    for url in (os.environ.get("ENCLAVE_CACHE_URL", ""), django_settings.CELERY_BROKER_URL):
        if url.startswith(("redis://", "rediss://")):
            return url
    return ""


@pytest.mark.skipif(not _redis_url(), reason="no Redis configured (ENCLAVE_CACHE_URL or a redis "
                                             "CELERY_BROKER_URL); CI runs this against its Redis")
def test_counters_live_in_a_shared_redis_cache(world, submission_body, settings):
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": _redis_url(), "KEY_PREFIX": prefix}}
    member = api(world.member)
    try:
        answers = [member.post("/api/v1/submissions/", submission_body, format="json")
                   for _ in range(3)]
        stored = redis.Redis.from_url(_redis_url()).keys(f"{prefix}:*")

        assert [a.status_code for a in answers[:2]] == [201, 201]
        assert_throttled(answers[2])
        assert [k.decode() if isinstance(k, bytes) else k for k in stored] == [
            f"{prefix}:1:throttle_submissions_{world.member.pk}"]
    finally:
        cache.delete(f"throttle_submissions_{world.member.pk}")  # never clear(): a shared db
