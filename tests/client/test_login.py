"""`enclave login` against the real token endpoint; the stored configuration and its overrides."""
# ruff: noqa: S105, S106 (made-up tokens)

import io
import json
import stat
from datetime import datetime

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from enclave_client import config as config_store
from enclave_client.api import Api

from accounts.models import ApiToken
from accounts.selectors import api_token_by_key
from tests.factories import PASSWORD


def test_login_stores_a_working_token_readable_by_its_owner_only(live_server, world, cli,
                                                                 config_home, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))

    result = cli("login", "--server", live_server.url + "/", "--username", "alice",
                 "--password-stdin", "--team", "team-a")

    assert result.code == 0, result.err
    path = config_home / "enclave" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert (stored["server"], stored["username"], stored["team"]) == (live_server.url, "alice",
                                                                      "team-a")
    token = ApiToken.objects.get(user=world.member)
    assert api_token_by_key(stored["token"]) == token
    assert Api(stored["server"], stored["token"]).submissions() == []
    assert datetime.fromisoformat(stored["expires"]) == token.expires_at


def test_a_two_factor_user_is_asked_for_the_code_when_the_server_refuses_without(
        live_server, world, cli, config_home, monkeypatch, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the refused code-less try must not delay the code
    device = TOTPDevice.objects.create(user=world.physician, name="default", confirmed=True)
    prompts = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"

    monkeypatch.setattr("builtins.input", answer)
    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSWORD)

    result = cli("login", "--server", live_server.url, "--username", "doctor")

    assert result.code == 0, result.err
    assert len(prompts) == 1 and "6-digit code" in prompts[0]
    assert ApiToken.objects.filter(user=world.physician).count() == 1


def test_a_wrong_password_stores_nothing_and_says_why(live_server, world, cli, config_home,
                                                      monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSWORD + "-wrong")
    monkeypatch.setattr("builtins.input", lambda prompt: "")  # no code to offer

    result = cli("login", "--server", live_server.url, "--username", "alice")

    assert result.code == 1
    assert "not correct" in result.err
    assert not (config_home / "enclave" / "config.json").exists()
    assert not ApiToken.objects.exists()


def test_a_revoked_token_tells_the_user_to_log_in_again(signed_in, world, cli):
    token = ApiToken.objects.get(user=world.member)
    Api(signed_in, _env_token()).request("DELETE", f"tokens/{token.pk}/")

    result = cli("status")

    assert result.code == 1
    assert "revoked" in result.err and "enclave login" in result.err


def test_the_environment_overrides_the_stored_configuration(config_home, monkeypatch):
    config_store.save(config_store.Config(server="https://stored.example", token="stored",
                                          team="team-a"))
    monkeypatch.setenv("ENCLAVE_URL", "https://env.example/")
    monkeypatch.setenv("ENCLAVE_TOKEN", "from-env")

    loaded = config_store.load()

    assert (loaded.server, loaded.token, loaded.team) == ("https://env.example", "from-env",
                                                          "team-a")
    assert config_store.load_stored().token == "stored"


def _env_token() -> str:
    import os

    return os.environ["ENCLAVE_TOKEN"]
