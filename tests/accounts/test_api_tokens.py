"""API tokens: hashed at rest, expire, can be revoked by their owner only, and are obtained with
password plus one-time code; failures never tell whether a user exists."""

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import ApiToken
from audit.models import AuditEvent
from tests import factories

PASSWORD = factories.PASSWORD
OBTAIN = "/api/v1/auth/token/"


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def current_code(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"


def obtain(**data):
    return APIClient().post(OBTAIN, data, format="json")


def test_a_token_works_and_only_its_hash_is_stored(world):
    key = factories.api_token_for(world.member)

    listed = with_key(key).get("/api/v1/tokens/")

    assert listed.status_code == 200
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = [str(getattr(token, f.attname)) for f in ApiToken._meta.concrete_fields]
    assert not any(key in value for value in stored)
    assert key.startswith(token.prefix) and len(token.prefix) < len(key) // 4
    assert [t["prefix"] for t in listed.json()] == [token.prefix]
    assert "key" not in listed.json()[0] and "key_hash" not in listed.json()[0]
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.expires_at - token.created == pytest.approx(timedelta(days=90),
                                                             abs=timedelta(minutes=1))


def test_an_expired_token_is_refused_with_401(world):
    key = factories.api_token_for(world.member, days=1)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = with_key(key).get("/api/v1/submissions/")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_revoked_token_is_refused_with_401(world):
    key = factories.api_token_for(world.member)
    client = with_key(key)
    token_id = client.get("/api/v1/tokens/").json()[0]["id"]

    assert client.delete(f"/api/v1/tokens/{token_id}/").status_code == 204
    response = client.get("/api/v1/submissions/")

    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert ApiToken.objects.get().revoked_at is not None
    assert list(AuditEvent.objects.values_list("action", flat=True)) == [
        "accounts.api_token_created", "accounts.api_token_revoked"]


def test_an_unknown_key_is_refused_with_401(world):
    response = with_key("not-a-key").get("/api/v1/submissions/")
    assert (response.status_code, response.json()["detail"]) == (401, "Invalid API token.")


def test_no_one_can_revoke_or_list_another_users_token(world):
    victim_key = factories.api_token_for(world.member)
    victim_token = ApiToken.objects.get()
    attacker = with_key(factories.api_token_for(world.outsider))

    refused = attacker.delete(f"/api/v1/tokens/{victim_token.pk}/")

    assert refused.status_code == 404
    assert victim_token.pk not in [t["id"] for t in attacker.get("/api/v1/tokens/").json()]
    victim_token.refresh_from_db()
    assert victim_token.revoked_at is None
    assert with_key(victim_key).get("/api/v1/submissions/").status_code == 200


def test_a_team_member_obtains_a_token_with_the_password(world):
    response = obtain(username="alice", password=PASSWORD, name="laptop", days=7)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["state"]) == ("laptop", "active")
    assert with_key(body["key"]).get("/api/v1/submissions/").status_code == 200
    assert "key" not in with_key(body["key"]).get("/api/v1/tokens/").json()[0]


def test_failed_token_requests_do_not_tell_whether_the_user_exists(world, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the wrong code must not delay the right one
    device = TOTPDevice.objects.create(user=world.physician, name="default", confirmed=True)

    no_user = obtain(username="nobody-here", password=PASSWORD)
    bad_password = obtain(username="alice", password=PASSWORD + "x")
    no_code = obtain(username="doctor", password=PASSWORD)
    bad_code = obtain(username="doctor", password=PASSWORD,
                      otp=f"{(int(current_code(device)) + 1) % 1_000_000:06d}")
    good = obtain(username="doctor", password=PASSWORD, otp=current_code(device))

    assert no_user.status_code == 401
    assert no_user.json()["code"] == "invalid_credentials"
    for failed in (bad_password, no_code, bad_code):
        assert (failed.status_code, failed.json()) == (no_user.status_code, no_user.json())
    assert good.status_code == 201
    assert ApiToken.objects.filter(user=world.physician).count() == 1
    assert AuditEvent.objects.filter(action="accounts.otp_verify_failed",
                                     actor=world.physician).count() == 2


def test_a_two_factor_user_without_a_device_is_told_to_set_it_up(world):
    response = obtain(username="doctor", password=PASSWORD)

    assert response.status_code == 403
    assert "Set up two-factor authentication" in response.json()["detail"]
    assert not ApiToken.objects.exists()


def test_a_token_lives_at_most_the_configured_days(world, settings):
    settings.ENCLAVE_API_TOKEN_MAX_DAYS = 30

    response = obtain(username="alice", password=PASSWORD, days=31)

    assert response.status_code == 400 and "30 days" in response.json()["detail"]


def test_a_token_of_an_unverified_physician_works_but_their_session_does_not(world):
    device = TOTPDevice.objects.create(user=world.physician, name="default", confirmed=True)
    key = obtain(username="doctor", password=PASSWORD, otp=current_code(device)).json()["key"]
    session = APIClient()
    session.force_login(world.physician)

    assert session.get("/api/v1/tokens/").status_code == 403
    assert with_key(key).get("/api/v1/tokens/").status_code == 200


def test_the_web_page_shows_a_new_key_once_and_revokes(world):
    client = Client()
    client.force_login(world.member)

    created = client.post("/accounts/tokens/", {"name": "lab server", "days": 30})
    token = ApiToken.objects.get()
    page = created.content.decode()
    key = page.split('<code class="token-key">')[1].split("</code>")[0]

    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in client.get("/accounts/tokens/").content.decode()
    client.post(f"/accounts/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert with_key(key).get("/api/v1/tokens/").status_code == 401

    alice_key = factories.api_token_for(world.member)
    alice_token = ApiToken.objects.get(revoked_at__isnull=True)
    other = Client()
    other.force_login(world.outsider)
    refused = other.post(f"/accounts/tokens/{alice_token.pk}/revoke/", follow=True)
    assert "No such API token" in refused.content.decode()
    assert with_key(alice_key).get("/api/v1/tokens/").status_code == 200
