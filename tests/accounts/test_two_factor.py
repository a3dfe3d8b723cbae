"""Two-factor authentication: society roles and operators set up and verify a TOTP device before
any other page works; team members may opt in; wrong codes are refused and audited."""

import re
import time
from binascii import unhexlify
from urllib.parse import urlparse

import pytest
from django.test import Client
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.views import SETUP_KEY_SESSION
from audit.models import AuditEvent
from audit.services import audit_verify_chain
from tests import factories

PASSWORD = factories.PASSWORD
SETUP = "/accounts/two-factor/setup/"
VERIFY = "/accounts/two-factor/verify/"
CHALLENGE = "/challenges/lesions/"


def code_now(key: bytes) -> str:
    return f"{totp(key):06d}"


def code_next_step(key: bytes) -> str:
    """The code of the next 30-second step: accepted (tolerance 1) and not yet used."""
    generator = TOTP(key)
    generator.time = time.time() + generator.step
    return f"{generator.token():06d}"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def sign_in(client: Client, username: str):
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return response


def path_of(response) -> str:
    return urlparse(response["Location"]).path


def setup_device(client: Client) -> bytes:
    """Open the setup page and confirm the shown secret with its current code; return the key."""
    page = client.get(SETUP)
    assert page.status_code == 200
    key = unhexlify(client.session[SETUP_KEY_SESSION])
    confirmed = client.post(SETUP, {"code": code_now(key), "next": CHALLENGE})
    assert (confirmed.status_code, confirmed["Location"]) == (302, CHALLENGE)
    return key


@pytest.fixture
def operator(db):
    return factories.UserFactory(username="operator", is_staff=True)


@pytest.mark.parametrize("who", ["physician", "steward", "operator", "society-admin"])
def test_hidden_data_roles_must_set_up_then_verify_before_any_page(world, who, request, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the wrong code below must not delay the right one
    user = {"physician": world.physician, "steward": world.steward,
            "operator": request.getfixturevalue("operator"),
            "society-admin": factories.society_member(world.society, "admin", "sadmin")}[who]
    client = Client()

    after_login = client.get(sign_in(client, user.username)["Location"])
    blocked = client.get(CHALLENGE)
    api_blocked = client.get("/api/v1/challenges/lesions/")

    assert path_of(after_login) == SETUP
    assert path_of(blocked) == SETUP and "next=%2Fchallenges%2Flesions%2F" in blocked["Location"]
    assert api_blocked.status_code == 403 and api_blocked.json()["code"] == "two_factor_required"
    page = client.get(SETUP).content.decode()
    assert "<svg" in page and "otpauth" not in page  # QR code inline, no script, no link
    secret = re.search(r"<code>([A-Z2-7 ]+)</code>", page)
    assert secret is not None and len(secret.group(1).replace(" ", "")) == 32

    key = setup_device(client)
    assert client.get(CHALLENGE).status_code == 200

    client.post("/accounts/logout/")
    sign_in(client, user.username)
    assert path_of(client.get(CHALLENGE)) == VERIFY
    refused = client.post(VERIFY, {"code": wrong(code_now(key))})
    assert refused.status_code == 200 and "not correct" in refused.content.decode()
    assert path_of(client.get(CHALLENGE)) == VERIFY

    through = client.post(VERIFY, {"code": code_next_step(key), "next": CHALLENGE})
    assert (through.status_code, through["Location"]) == (302, CHALLENGE)
    assert client.get(CHALLENGE).status_code == 200
    actions = list(AuditEvent.objects.filter(actor=user).values_list("action", flat=True))
    assert actions == ["accounts.otp_device_confirmed", "accounts.otp_verify_failed"]
    assert audit_verify_chain() is None


def test_a_wrong_setup_code_stores_no_device(world):
    client = Client()
    sign_in(client, world.physician.username)
    client.get(SETUP)
    key = unhexlify(client.session[SETUP_KEY_SESSION])

    refused = client.post(SETUP, {"code": wrong(code_now(key))})
    malformed = client.post(SETUP, {"code": "12ab"})

    assert "not correct" in refused.content.decode()
    assert "Enter the 6 digits" in malformed.content.decode()
    assert not TOTPDevice.objects.filter(user=world.physician).exists()
    assert path_of(client.get(CHALLENGE)) == SETUP


def test_the_setup_code_cannot_be_replayed_to_sign_in(world):
    client = Client()
    sign_in(client, world.steward.username)
    client.get(SETUP)
    key = unhexlify(client.session[SETUP_KEY_SESSION])
    used = code_now(key)
    client.post(SETUP, {"code": used})
    client.post("/accounts/logout/")
    sign_in(client, world.steward.username)

    replayed = client.post(VERIFY, {"code": used})

    assert "already used" in replayed.content.decode()
    assert path_of(client.get(CHALLENGE)) == VERIFY


def test_repeated_wrong_codes_are_throttled_with_a_clear_message(world, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1000  # after one failure, the next try waits 1000 s
    client = Client()
    sign_in(client, world.physician.username)
    key = setup_device(client)
    client.post("/accounts/logout/")
    sign_in(client, world.physician.username)

    client.post(VERIFY, {"code": wrong(code_next_step(key))})
    throttled = client.post(VERIFY, {"code": code_next_step(key)})

    assert "Too many wrong codes" in throttled.content.decode()
    assert path_of(client.get(CHALLENGE)) == VERIFY
    assert AuditEvent.objects.filter(action="accounts.otp_verify_failed").count() == 2


def test_a_team_member_is_not_forced_but_may_opt_in(world):
    client = Client()
    sign_in(client, world.member.username)
    assert client.get(CHALLENGE).status_code == 200
    assert client.get("/accounts/tokens/").status_code == 200

    key = setup_device(client)
    client.post("/accounts/logout/")
    sign_in(client, world.member.username)

    assert path_of(client.get(CHALLENGE)) == VERIFY
    client.post(VERIFY, {"code": code_next_step(key)})
    assert client.get(CHALLENGE).status_code == 200


def test_open_pages_stay_reachable_before_verifying(world):
    client = Client()
    sign_in(client, world.physician.username)

    assert client.get("/static/enclave.css").status_code == 200
    assert client.post("/i18n/setlang/", {"language": "ja", "next": "/"}).status_code == 302
    assert client.get(SETUP).status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get(CHALLENGE).status_code == 200  # anonymous again: the public page


def test_a_society_admin_resets_a_members_device_and_the_member_sets_up_again(world, operator):
    admin = factories.society_member(world.society, "admin", "sadmin")
    factories.login_verified(admin_client := Client(), admin)
    member_client = Client()
    factories.login_verified(member_client, world.physician)
    assert member_client.get(CHALLENGE).status_code == 200

    done = admin_client.post("/accounts/two-factor/reset/", {"username": "doctor"}, follow=True)

    assert "was reset" in done.content.decode()
    assert not TOTPDevice.objects.filter(user=world.physician).exists()
    assert path_of(member_client.get(CHALLENGE)) == SETUP
    event = AuditEvent.objects.get(action="accounts.otp_device_reset")
    assert (event.actor_id, event.target_id) == (admin.pk, str(world.physician.pk))

    refused = admin_client.post("/accounts/two-factor/reset/", {"username": "operator"},
                                follow=True)
    assert "Only operators and the admins" in refused.content.decode()
    team_client = Client()
    team_client.force_login(world.member)
    assert team_client.get("/accounts/two-factor/reset/").status_code == 403


def test_the_two_factor_pages_speak_japanese(world):
    client = Client(HTTP_ACCEPT_LANGUAGE="ja")
    sign_in(client, world.physician.username)

    page = client.get(SETUP).content.decode()
    key = unhexlify(client.session[SETUP_KEY_SESSION])
    refused = client.post(SETUP, {"code": wrong(code_now(key))}).content.decode()

    assert "二要素認証の設定" in page and "シークレット" in page
    assert "コードが正しくありません" in refused
