"""Browser-side hardening: the Content-Security-Policy and pages that need nothing inline, security
headers, CSRF, cookie and HTTPS settings, login lockout (django-axes) and password strength."""

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authentication import SessionAuthentication
from rest_framework.settings import api_settings

from accounts.services import api_token_create, user_ensure
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
WEAK_PASSWORD, DEMO_PASSWORD = "demo", "enclave-demo"  # examples/demo_world.py's default
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
EXPECTED_CSP = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "frame-ancestors": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
}


def csp_of(response) -> dict[str, set[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: set(values) for name, *values in directives}


class InlineCodeFinder(HTMLParser):
    """Everything a strict CSP would block or that needs 'unsafe-inline': inline scripts, event
    handler attributes, style attributes and elements, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style=...>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower(
            ).startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")
        if tag == "style":
            self.found.append("<style>")
        if tag == "script" and "src" not in values and values.get("type") != "application/json":
            self._in_inline_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.found.append(f"<script>{data.strip()[:40]}")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Users in these tests log in for real; the default hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def inline_code_in(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.found


def test_the_finder_finds_what_a_strict_policy_blocks():
    html = ('<script>alert(1)</script><select onchange="go()"></select><p style="x"></p>'
            '<a href="javascript:void(0)">x</a><style>p{}</style>'
            '<script src="/static/enclave.js" defer></script>'
            '<script type="application/json" id="data">{"a": 1}</script>')

    assert len(inline_code_in(html)) == 5


# --- Content-Security-Policy --------------------------------------------------------------------

@pytest.fixture
def visitors(hostile_world) -> dict[str, tuple[Client, list[str]]]:
    """The main pages, by who looks at them (society roles must set up two-factor sign-in first)."""
    world = hostile_world.base
    public = ["/", "/challenges/lesions/", "/challenges/lesions/test/leaderboard/",
              "/challenges/lesions/sanity/leaderboard/"]
    member = [*public, "/challenges/lesions/sanity/submit/", "/submissions/",
              f"/submissions/{hostile_world.finished[0].pk}/", "/images/upload/",
              "/accounts/tokens/"]
    clients = {}
    for who, user in [("member", world.member), ("admin", hostile_world.admin),
                      ("physician", world.physician), ("anonymous", None)]:
        clients[who] = Client()
        if user is not None:
            clients[who].force_login(user)
    return {"anonymous": (clients["anonymous"], [*public, "/accounts/login/"]),
            "member": (clients["member"], member),
            "admin": (clients["admin"], ["/accounts/two-factor/setup/"]),
            "physician": (clients["physician"], ["/accounts/two-factor/setup/"])}


def test_pages_carry_the_policy_and_nothing_inline(visitors):
    seen = 0
    for who, (client, urls) in visitors.items():
        for url in urls:
            response = client.get(url)

            assert response.status_code == 200, (who, url, response.status_code)
            assert csp_of(response) == EXPECTED_CSP, url
            assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
            assert inline_code_in(response.content.decode()) == [], (who, url)
            seen += 1
    assert seen == 16


def test_the_leaderboard_draws_its_plots_as_same_origin_images(hostile_world, client):
    html = client.get("/challenges/lesions/sanity/leaderboard/").content.decode()
    plot = re.search(r'<img src="(/challenges/lesions/sanity/leaderboard/blob\.svg)"', html)

    assert plot, "the sanity leaderboard shows its blob plot"
    svg = client.get(plot.group(1))
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert "script-src" not in svg["Content-Security-Policy"]  # the plot's own, stricter policy
    assert svg["Content-Security-Policy"].startswith("default-src 'none'")


def test_no_template_has_inline_script_handlers_or_styles():
    """Every template, rendered by a test or not (CSP blocks these in the browser)."""
    templates = [p for d in TEMPLATE_DIRS for p in d.rglob("*.html")]
    offending = {str(p.relative_to(ROOT)): inline_code_in(p.read_text()) for p in templates}

    assert len(templates) >= 10
    assert {path: found for path, found in offending.items() if found} == {}


def test_the_language_selector_works_without_inline_code(client, db):
    html = client.get("/").content.decode()

    assert re.search(r'<script src="/static/enclave\.js" defer>', html)
    assert "<select name=\"language\" data-submit-on-change" in html
    assert re.search(r"<noscript><button type=\"submit\">", html)  # works without JavaScript
    assert "data-submit-on-change" in (ROOT / "static" / "enclave.js").read_text()
    switched = client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
    assert switched.status_code == 302
    assert 'lang="ja"' in client.get("/").content.decode()


# --- headers, CSRF, cookies, HTTPS ---------------------------------------------------------------

def test_security_headers_on_a_page(client, db):
    response = client.get("/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_forms_without_the_csrf_token_are_refused(world):
    anonymous, member = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    member.force_login(world.member)

    login = anonymous.post("/accounts/login/", {"username": "alice", "password": "pw-for-tests"})
    submit = member.post("/challenges/lesions/test/submit/", {"team": "team-a", "image": 1})
    api = member.post("/api/v1/submissions/", {"challenge": "lesions"},
                      content_type="application/json")  # session-authenticated API call

    assert (login.status_code, submit.status_code, api.status_code) == (403, 403, 403)


def _callbacks(resolver: URLResolver):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _callbacks(entry)
        elif isinstance(entry, URLPattern):
            yield entry.callback


def test_only_api_views_skip_django_csrf_and_they_use_drf_session_csrf():
    """DRF's APIView.as_view() is csrf_exempt and SessionAuthentication enforces CSRF itself
    (checked above); no other view may be exempt."""
    exempt = [cb for cb in _callbacks(get_resolver()) if getattr(cb, "csrf_exempt", False)]
    not_api = [f"{cb.__module__}.{cb.__name__}" for cb in exempt if not hasattr(cb, "cls")]

    assert exempt, "the API views are found"
    assert not_api == []
    assert SessionAuthentication in api_settings.DEFAULT_AUTHENTICATION_CLASSES


def test_session_cookie_is_httponly_lax_and_short_lived(world, client):
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-for-tests"})
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]

    assert response.status_code == 302
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # plain http by default (the embedded demo)
    assert 0 < int(cookie["max-age"]) <= 24 * 3600


def _deploy_check(tmp_path: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("ENCLAVE_", "DJANGO_"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, capture_output=True,
        text=True, env={**clean, "ENCLAVE_VAR_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "x" * 60,
                        **env}, check=False)
    return result.stdout + result.stderr


def test_plain_http_by_default(tmp_path):
    warnings = _deploy_check(tmp_path)

    for warning in ("security.W004", "security.W012", "security.W016"):  # HSTS, secure cookies
        assert warning in warnings


@pytest.mark.parametrize("switch", ["ENCLAVE_HTTPS", "ENCLAVE_SECURE_COOKIES"])
def test_https_deployments_get_secure_cookies_and_hsts(tmp_path, switch):
    warnings = _deploy_check(tmp_path, **{switch: "1"})

    for warning in ("security.W004", "security.W012", "security.W016"):
        assert warning not in warnings
    assert "security.W008" in warnings  # the redirect to https is left to the proxy by default


def test_https_redirect_can_be_turned_on(tmp_path):
    assert "security.W008" not in _deploy_check(tmp_path, ENCLAVE_HTTPS="1",
                                                ENCLAVE_SSL_REDIRECT="1")


# --- login lockout (django-axes) -----------------------------------------------------------------

def _login(client: Client, username: str, password: str, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_a_few_wrong_passwords_then_the_right_one_log_in(world, client):
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "alice", "wrong-password").status_code == 200

    assert _login(client, "alice", "pw-for-tests").status_code == 302
    client.logout()
    # the count starts again after a successful login
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "alice", "wrong-password").status_code == 200
    assert _login(client, "alice", "pw-for-tests").status_code == 302


def test_too_many_failures_lock_the_user_name_at_that_address(world, client):
    limit = django_settings.AXES_FAILURE_LIMIT
    answers = [_login(client, "alice", "wrong-password").status_code for _ in range(limit)]
    locked = _login(client, "alice", "pw-for-tests")  # even the right password now

    assert answers == [200] * (limit - 1) + [429]
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "locked for 15 minutes" in html
    assert inline_code_in(html) == []
    assert "_auth_user_id" not in client.session
    # another user name from the same address, and the same user from another address, log in
    assert _login(Client(), "bob", "pw-for-tests").status_code == 302
    assert _login(Client(), "alice", "pw-for-tests", REMOTE_ADDR="10.1.2.3").status_code == 302


def test_the_lockout_page_speaks_japanese(world, client):
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        response = _login(client, "alice", "wrong-password", HTTP_ACCEPT_LANGUAGE="ja")

    assert response.status_code == 429
    assert "15 分間" in response.content.decode()


def test_the_token_endpoint_locks_out_too_with_a_json_answer(world):
    client = Client()
    body = {"username": "alice", "password": "wrong-password"}
    answers = [client.post("/api/v1/auth/token/", body, content_type="application/json")
               for _ in range(django_settings.AXES_FAILURE_LIMIT)]

    assert [a.status_code for a in answers[:-1]] == [401] * (len(answers) - 1)
    assert answers[-1].status_code == 429
    assert answers[-1].json()["code"] == "login_locked_out"
    assert "15 minutes" in answers[-1].json()["detail"]


def test_api_tokens_and_forced_logins_are_untouched_by_the_lockout(world, client):
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        _login(Client(), "alice", "wrong-password")
    _token, key = api_token_create(user=world.member, name="cli")

    by_token = Client().get("/api/v1/submissions/", HTTP_AUTHORIZATION=f"Token {key}")
    client.force_login(world.member)

    assert by_token.status_code == 200
    assert client.get("/submissions/").status_code == 200


# --- passwords -----------------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["short-pw1", "password1234", "123456789012345",
                                      "alice-the-tester"])
def test_weak_passwords_are_rejected(db, password):
    user = factories.UserFactory(username="alice-the-tester")

    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_long_uncommon_password_passes(db):
    validate_password("crane-lantern-97-orbit", factories.UserFactory())


def test_the_demo_password_is_set_without_validation(db):
    """set_password() runs no validators: the demo and operator tooling may set any password."""
    user = user_ensure(username="dr-demo", password=WEAK_PASSWORD)

    assert user.check_password(WEAK_PASSWORD)
    with pytest.raises(ValidationError):
        validate_password(WEAK_PASSWORD, user)
    assert user_ensure(username="dr-demo", password=DEMO_PASSWORD).check_password(DEMO_PASSWORD)
