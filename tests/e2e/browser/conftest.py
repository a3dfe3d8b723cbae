"""Browser journeys: the Debian Chromium, driven by Playwright's sync API, against a real server.

One world per test module (`browser_world`): the test database (committed to, flushed when the
module ends), `gunicorn config.wsgi` on a loopback port, one real `celery worker` process with the
docker engine, and the phantom challenge `lesion-phantom` with a public `sanity` and a hidden `test`
phase, a team `team-a` with the member `alice` (password sign-in) and a society admin `jrs-admin`
(password + TOTP). The tests of a module share it: keep what one journey creates out of another's
assertions.

Each test gets a fresh browser context (no cookies, English, a fixed 1280x900 viewport) and
`shots(page, "step")`, which saves a full-page screenshot as
`$ENCLAVE_ARTIFACTS_DIR/<test>-<nn>-<step>.png` (default `.var/artifacts/screenshots/`).
Chromium is /usr/bin/chromium (ENCLAVE_CHROMIUM overrides); Playwright never downloads a browser.
"""

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from accounts.models import SocietyRole, Team, User
from challenges.models import Challenge
from challenges.services import challenge_create, phase_create
from examples.phantom import build_phantom
from tests import factories
from tests.e2e.conftest import Workers
from tests.e2e.faults import Gunicorn

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("ENCLAVE_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 900}
CHALLENGE = "lesion-phantom"
FINAL_STATUSES = ("succeeded", "failed", "cancelled")


def artifacts_dir() -> Path:
    path = Path(os.environ.get("ENCLAVE_ARTIFACTS_DIR") or ROOT / ".var" / "artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class BrowserWorld:
    url: str
    challenge: Challenge
    team: Team
    member: User
    admin: User
    admin_device: TOTPDevice
    workers: Workers
    server: Gunicorn
    media: Path


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_for_other_sessions_to_end(timeout: float = 30) -> None:
    """PostgreSQL notices a killed client a moment later; the test database is dropped at the
    end of the session only when nobody else is connected."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.2)


def _populate(root: Path) -> dict[str, Any]:
    society = factories.SocietyFactory(slug="jrs", name="Japan Radiology Society")
    admin = factories.society_member(society, SocietyRole.ADMIN, "jrs-admin")
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    team = factories.TeamFactory(slug="team-a", name="Team A")
    member = factories.team_member(team, "alice")
    challenge = challenge_create(society=society, slug=CHALLENGE, title="Lesion phantom",
                                 labels=["absent", "present"], positive_label="present",
                                 modality="CT", is_published=True,
                                 description="Find the round lesion in each CT slice.")
    for slug, title, hidden in [("sanity", "Sanity", False), ("test", "Test", True)]:
        phase_create(challenge=challenge, slug=slug, title=title, is_hidden=hidden,
                     wall_seconds=120, submission_limit=20)
    phantom = build_phantom(root / "phantom", n_sanity=4, n_test=8)
    for phase, folder, labels in [("sanity", phantom.sanity_dir, phantom.sanity_labels),
                                  ("test", phantom.test_dir, phantom.test_labels)]:
        call_command("import_cases", "--challenge", CHALLENGE, "--phase", phase,
                     "--labels", str(labels), str(folder), verbosity=0)
    factories.register_team(challenge, team)  # only an approved team may submit
    return {"challenge": challenge, "team": team, "member": member, "admin": admin,
            "admin_device": device}


@pytest.fixture(scope="module")
def browser_world(django_db_setup, django_db_blocker, docker_client,
                  tmp_path_factory) -> Iterator[BrowserWorld]:
    from config.celery import app

    root = tmp_path_factory.mktemp("browser-world")
    media, secrets, runs = root / "media", root / "secrets", root / "runs"
    storages = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                            "OPTIONS": {"location": str(media)}},
                "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}}
    with django_db_blocker.unblock(), override_settings(
            STORAGES=storages, SANDBOX_WORK_ROOT=str(runs), SECRETS_DIR=secrets):
        from django.conf import settings

        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "ENCLAVE_MEDIA_ROOT": str(media),
            "ENCLAVE_SECRETS_DIR": str(secrets),
            "SANDBOX_WORK_ROOT": str(runs),
            "SANDBOX_BACKEND": "sandbox.backends.docker.DockerBackend",
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        workers, server = Workers(env=env, log_dir=root), Gunicorn(env=env, log_dir=root)
        try:
            made = _populate(root)
            app.control.purge()
            workers.start("node-a")
            server.start()
            yield BrowserWorld(url=server.url, workers=workers, server=server, media=media, **made)
        finally:
            server.kill()
            workers.stop_all()
            _wait_for_other_sessions_to_end()
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def transactional_db(browser_world, django_db_blocker) -> Iterator[None]:
    """Overrides pytest-django's: the module's world stays committed between its tests (a
    fixture of this name is also what makes pytest-django create the test database).

    While Playwright's event loop runs, the test's code gets a database connection of its own
    (Django keeps connections per context); it is closed after each test."""
    with django_db_blocker.unblock():
        yield
        connections.close_all()


@pytest.fixture(autouse=True)
def isolated_storage(browser_world, transactional_db) -> Path:
    """The module's storage, shared with its server and worker (overrides tests/conftest.py's)."""
    return browser_world.media


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium. Playwright's sync API keeps an event loop running in this thread, so
    Django's guard against database calls from async code is lifted while it runs."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright: Playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             chromium_sandbox=False)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class PageErrors:
    """Console errors, uncaught exceptions and HTTP errors of a page (CSP refusals show up here)."""

    messages: list[str] = field(default_factory=list)


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser, browser_world, page_errors) -> Iterator[Page]:
    context = browser.new_context(base_url=browser_world.url, viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and page_errors.messages.append(
        f"{m.text} ({m.location.get('url', '')})"))
    page.on("pageerror", lambda exc: page_errors.messages.append(str(exc)))
    page.on("response", lambda r: r.status >= 400 and page_errors.messages.append(
        f"HTTP {r.status} {r.request.method} {r.url}"))
    yield page
    context.close()


@dataclass
class Shots:
    directory: Path
    prefix: str
    taken: list[Path] = field(default_factory=list)

    def __call__(self, page: Page, step: str) -> Path:
        name = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.directory / f"{self.prefix}-{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def shots(request) -> Shots:
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_")).strip("-")
    directory = artifacts_dir()
    for old in directory.glob(f"{prefix}-[0-9][0-9]-*.png"):
        old.unlink()
    return Shots(directory=directory, prefix=prefix)


def society_admin(world: BrowserWorld, username: str) -> tuple[User, TOTPDevice]:
    """Another admin of the world's society, with a confirmed TOTP device of their own (a code
    is accepted once: journeys that each sign an admin in do not wait for the next one)."""
    user = factories.society_member(world.challenge.society, SocietyRole.ADMIN, username)
    return user, TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


# --- what a user does ----------------------------------------------------------------------------

def current_code(device: TOTPDevice) -> str:
    """The device's code now; waits for the next step when this one was used already (a TOTP
    code is accepted once)."""
    device.refresh_from_db()
    while True:
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        if device.last_t is None or totp.t() > device.last_t:
            return f"{totp.token():0{device.digits}d}"
        time.sleep(1)


def log_in(page: Page, username: str, *, device: TOTPDevice | None = None,
           password: str = factories.PASSWORD) -> None:
    """Sign in through the login form (and the two-factor page when `device` is given)."""
    page.goto("/accounts/login/")
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    page.locator('main form button[type="submit"]').click()
    if device is not None:
        expect(page).to_have_url(re.compile(r"/accounts/two-factor/verify/"))
        page.locator('input[name="code"]').fill(current_code(device))
        page.locator('main form button[type="submit"]').click()
    expect(page.get_by_role("button", name=re.compile(re.escape(username)))).to_be_visible()


def status_of(page: Page) -> str:
    """The submission page's status, as the page shows it."""
    label = page.locator("main dt").filter(has_text=re.compile(r"^\s*Status\s*$"))
    return label.locator("xpath=following-sibling::dd[1]").inner_text().strip().lower()


def wait_until_final(page: Page, *, reload: bool = True, timeout: float = 300) -> str:
    """Watch the submission page until its status is final; returns it. A page that refreshes
    itself (its status panel has data-refresh-url) is left to do so; with `reload=False` the
    page must get there by itself, otherwise it is reloaded as a user would."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(PlaywrightError):  # the page may be reloading itself
            status = status_of(page)
            if status and status.split()[0] in FINAL_STATUSES:
                return status.split()[0]
            if reload and page.locator("[data-refresh-url]").count() == 0:
                page.reload()
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url}: not final after {timeout} s")
        page.wait_for_timeout(500)


def submission_id_after_submit(page: Page) -> int:
    """The id of the submission just made: from the page it led to, or its confirmation."""
    if match := re.search(r"/submissions/(\d+)/", page.url):
        return int(match.group(1))
    message = page.locator("main .message.success").first.inner_text()
    match = re.search(r"\d+", message)
    assert match, f"no submission number in {message!r}"
    return int(match.group())


def submit_via_web(page: Page, phase: str, image: str) -> int:
    """From the challenge page, open the phase's submit form, choose `image` (text in its
    option) and submit; returns the new submission's id."""
    page.goto(f"/challenges/{CHALLENGE}/")
    row = page.locator("main tr").filter(has=page.locator("code", has_text=re.compile(f"^{phase}$")))
    row.get_by_role("link", name=re.compile("submit", re.I)).click()
    expect(page).to_have_url(re.compile(f"/challenges/{CHALLENGE}/{phase}/submit/"))
    select = page.locator('main select[name="image"]')
    option = select.locator("option").filter(has_text=image).first
    select.select_option(value=option.get_attribute("value"))
    page.locator('main form button[type="submit"]').click()
    page.wait_for_load_state()
    return submission_id_after_submit(page)
