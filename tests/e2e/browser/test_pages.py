"""The main pages as anyone would meet them: labelled controls, one h1, a language, the keyboard,
a 360 px wide phone screen, no script or style refused by the Content-Security-Policy, and the
Japanese interface.

One world (conftest.py) with one finished submission of the team `team-a` on the public phase, so
that the leaderboard and the submission page show real rows.
"""

import re
import time

import pytest
from django.utils import translation
from playwright.sync_api import Page, expect

from challenges.models import Phase
from evaluation.models import FINAL_STATUSES, Status, Submission
from evaluation.services import submission_create
from evaluation.services.images import image_upload_path
from tests import factories
from tests.e2e.browser.conftest import CHALLENGE, log_in
from tests.e2e.test_scale_out import slow_image

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

NARROW = {"width": 360, "height": 740}
# roles whose elements a user operates or follows: each needs an accessible name
NAMED_ROLES = {"textbox", "combobox", "listbox", "checkbox", "radio", "spinbutton", "searchbox",
               "slider", "switch", "button", "link", "img"}
SNAPSHOT_LINE = re.compile(r'^\s*- (?P<role>[a-z]+)(?P<name> "[^"]+")?')
MAIN_CONTROLS = "main :is(input:not([type=hidden]), select, textarea, button):not(:disabled)"


@pytest.fixture(scope="module")
def finished_submission(browser_world, docker_client, tmp_path_factory) -> int:
    """A succeeded run of an image that answers 0.5 everywhere, on the public phase."""
    tarball = slow_image(docker_client, tmp_path_factory, 0)
    image = image_upload_path(team=browser_world.team, user=browser_world.member, path=tarball)
    phase = Phase.objects.get(challenge=browser_world.challenge, slug="sanity")
    submission = submission_create(user=browser_world.member, team=browser_world.team,
                                   phase=phase, image=image)
    deadline = time.monotonic() + 300
    while (status := Submission.objects.get(pk=submission.pk).status) not in FINAL_STATUSES:
        assert time.monotonic() < deadline, f"submission still {status}"
        time.sleep(0.5)
    assert status == Status.SUCCEEDED
    return submission.pk


def unnamed_controls(page: Page) -> list[str]:
    """Controls, links and images without an accessible name, as the browser computes them."""
    lines = page.locator("body").aria_snapshot().splitlines()
    return [line.strip() for line in lines
            if (m := SNAPSHOT_LINE.match(line)) and m["role"] in NAMED_ROLES and not m["name"]]


def unreachable_by_tab(page: Page) -> list[str]:
    """The visible controls in <main> that pressing Tab from the top of the page never focuses."""
    probes = page.evaluate("""(selector) => {
        const found = [];
        for (const el of document.querySelectorAll(selector)) {
            if (!el.getClientRects().length) continue;
            el.dataset.tabProbe = String(found.length);
            found.push(el.outerHTML.slice(0, 80));
        }
        return found;
    }""", MAIN_CONTROLS)
    stops = page.evaluate("document.querySelectorAll('a[href], button, input, select, textarea').length")
    reached = set()
    for _ in range(stops + 3):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement && document.activeElement.dataset.tabProbe"))
    return [html for i, html in enumerate(probes) if str(i) not in reached]


def wider_than_the_screen(page: Page) -> list[str]:
    """Elements that reach past the right edge of the viewport, outside any box that scrolls or
    clips them (what makes a page scroll sideways)."""
    return page.evaluate("""() => {
        const width = window.innerWidth, out = [];
        const walk = (parent) => {
            for (const el of parent.children) {
                const box = el.getBoundingClientRect();
                if (box.right > width + 1 && box.width > 0) {
                    out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                             + ' ' + Math.round(box.right) + 'px');
                } else if (getComputedStyle(el).overflowX === 'visible') {
                    walk(el);  // a box that scrolls or clips keeps what it holds inside
                }
            }
        };
        walk(document.body);
        return out.slice(0, 8);
    }""")


PAGES = {
    "login": ("/accounts/login/", False),
    "challenges": ("/", True),
    "challenge": (f"/challenges/{CHALLENGE}/", True),
    "leaderboard": (f"/challenges/{CHALLENGE}/sanity/leaderboard/", True),
    "submit": (f"/challenges/{CHALLENGE}/sanity/submit/", True),
    "submission": ("/submissions/{submission}/", True),
    "my-submissions": ("/submissions/", True),
    "images": ("/images/upload/", True),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_a_main_page_is_labelled_reachable_by_keyboard_and_fits_a_phone(
        name, page, page_errors, shots, finished_submission):
    path, signed_in = PAGES[name]
    if signed_in:
        log_in(page, "alice")
    page.goto(path.format(submission=finished_submission))
    expect(page.locator("main")).to_be_visible()
    shots(page, f"{name} wide")

    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("h1")).to_have_count(1)
    assert unnamed_controls(page) == []
    if name in ("login", "submit", "images"):  # the pages whose purpose is a form
        assert page.locator(MAIN_CONTROLS).count() >= 2
    assert unreachable_by_tab(page) == []

    page.set_viewport_size(NARROW)
    page.reload()
    shots(page, f"{name} 360px")
    assert wider_than_the_screen(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page_errors.messages == []  # nothing refused by the CSP, no script errors


def test_signing_in_and_submitting_work_with_the_keyboard_alone(page, shots, finished_submission):
    page.goto("/accounts/login/")
    page.locator('input[name="username"]').focus()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(factories.PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=re.compile("alice"))).to_be_visible()

    page.goto(f"/challenges/{CHALLENGE}/sanity/submit/")
    submit = page.locator('main form button[type="submit"]')
    for _ in range(40):
        page.keyboard.press("Tab")
        if submit.evaluate("el => el === document.activeElement"):
            break
    shots(page, "submit button focused")
    page.keyboard.press("Enter")
    expect(page.locator("main .message.success")).to_be_visible()
    shots(page, "submitted")


def test_switching_to_japanese_shows_the_pages_in_japanese(page, shots, finished_submission):
    with translation.override("ja"):
        challenges, phases = translation.gettext("Challenges"), translation.gettext("Phases")
    assert challenges != "Challenges"  # the catalogue is compiled

    page.goto("/")
    expect(page.locator("h1")).to_have_text("Challenges")
    page.get_by_role("combobox", name="Language").select_option("ja")  # submits by itself
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("h1")).to_have_text(challenges)
    shots(page, "challenges in japanese")

    page.get_by_role("link", name="Lesion phantom").click()
    expect(page.locator("main h2").first).to_have_text(phases)
    page.set_viewport_size(NARROW)
    page.reload()
    shots(page, "challenge in japanese 360px")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.locator('header select[name="language"]').select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main h2").first).to_have_text("Phases")
