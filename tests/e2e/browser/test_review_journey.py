"""A physician's review journey in the browser, and a team member refused the same pages.

Real Chromium, gunicorn and database (tests/e2e/browser/conftest.py). The phantom's hidden `test`
phase gets two scored submissions without running containers: their predictions are stored and
scored by the real metrics engine in this process (the review pages only read what scoring
stored). team-a's always says "absent"-ish; team-b's follows the truth but misses one case with
a lesion, which both miss: the one label-error candidate.
"""

import hashlib
import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.models import SocietyRole
from challenges.models import GroundTruth, Phase
from evaluation.models import Status, Submission
from evaluation.services.scoring import store_predictions, submission_score
from review.models import CaseFlag, CaseVerdict
from tests import factories
from tests.e2e.browser.conftest import CHALLENGE, log_in

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def _scored_submission(phase: Phase, team, user, scores: dict[str, float]) -> Submission:
    image = factories.image_record(team, user, "sha256:" + hashlib.sha256(
        f"review-{team.slug}".encode()).hexdigest())
    submission = Submission.objects.create(phase=phase, team=team, image=image,
                                           submitted_by=user, status=Status.SCORING)
    store_predictions(submission, {case_id: {"score": s} for case_id, s in scores.items()})
    submission_score(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == Status.SUCCEEDED
    return submission


def wait_for_image(page) -> None:
    """Until the case image has loaded and decoded (polled from the test: the page's CSP
    forbids the string evaluation `wait_for_function` would use)."""
    image = page.locator("main img.case-image")
    for _ in range(100):
        if image.evaluate("img => img.complete && img.naturalWidth > 0"):
            return
        page.wait_for_timeout(100)
    raise AssertionError("the case image did not load")


@pytest.fixture(scope="module")
def review_setup(browser_world, django_db_blocker):
    with django_db_blocker.unblock():
        phase = Phase.objects.get(challenge=browser_world.challenge, slug="test")
        truth = dict(GroundTruth.objects.filter(case__phase=phase, version=phase.truth_version)
                     .values_list("case__case_id", "value"))
        case_ids = sorted(truth)
        missed = next(c for c in case_ids if truth[c] == "present")  # both teams miss it
        team_b = factories.TeamFactory(slug="team-b", name="Team B")
        bob = factories.team_member(team_b, "bob")
        factories.register_team(browser_world.challenge, team_b)
        _scored_submission(phase, browser_world.team, browser_world.member,
                           dict.fromkeys(case_ids, 0.2))
        _scored_submission(phase, team_b, bob, {
            c: (0.9 if truth[c] == "present" else 0.1) if c != missed else
            (0.1 if truth[c] == "present" else 0.9) for c in case_ids})
        physician = factories.society_member(browser_world.challenge.society,
                                             SocietyRole.PHYSICIAN, "dr-tanaka")
        device = TOTPDevice.objects.create(user=physician, name="phone", confirmed=True)
        return {"phase": phase, "physician": physician, "device": device, "missed": missed}


def test_a_physician_reviews_a_case_and_a_team_member_is_refused(
        page, browser, browser_world, review_setup, shots, page_errors):
    missed = review_setup["missed"]
    log_in(page, "dr-tanaka", device=review_setup["device"])
    page.get_by_role("link", name="Review", exact=True).click()
    expect(page.locator("main h1")).to_contain_text("Review")
    page.locator("main").get_by_role("link", name="Test").click()
    expect(page).to_have_url(re.compile(f"/review/challenges/{CHALLENGE}/test/"))
    shots(page, "queue worst cases")

    page.get_by_role("link", name="Label-error candidates").click()
    expect(page.locator("main .explanation")).to_contain_text("most algorithms get wrong")
    shots(page, "queue label errors")
    page.locator("main table.queue").get_by_role("link", name=missed).click()
    expect(page.locator("main h1")).to_contain_text(missed)
    image = page.locator("main img.case-image")
    expect(image).to_be_visible()
    wait_for_image(page)
    expect(page.locator("main table.predictions")).to_contain_text("Algorithm A")
    expect(page.locator("main table.predictions")).not_to_contain_text("Team B")  # blinded
    shots(page, "case")

    # window: a preset, then a centre and width, applied through the GET form
    page.locator('main select[name="preset"]').select_option("auto")
    page.locator("main form.window-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"preset=auto"))
    expect(page.locator("main img.case-image")).to_have_attribute("src", re.compile("preset=auto"))
    wait_for_image(page)
    page.locator('main input[name="center"]').fill("-500")
    page.locator('main input[name="width"]').fill("1200")
    page.locator("main form.window-form button[type=submit]").click()
    expect(page.locator("main img.case-image")).to_have_attribute(
        "src", re.compile(r"center=-500.*width=1200"))
    shots(page, "case windowed")

    # overlays: hiding Algorithm A's row at once (script), zooming in
    cells = page.locator('main td[data-overlay="A"]')
    expect(cells.first).not_to_have_class(re.compile(r"\bhidden\b"))
    page.locator('main input[data-overlay-toggle="A"]').uncheck()
    expect(cells.first).to_have_class(re.compile(r"\bhidden\b"))
    page.locator('main input[data-overlay-toggle="A"]').check()
    expect(cells.first).not_to_have_class(re.compile(r"\bhidden\b"))
    page.locator("main [data-zoom-controls] button[data-zoom='2']").click()
    expect(page.locator("#viewer")).to_have_class(re.compile(r"\bzoom-2\b"))
    shots(page, "case zoomed")

    # a verdict on Algorithm B's prediction, then a flag on the ground truth
    form = page.locator("main form.verdict-form").filter(has_text="Algorithm B")
    form.locator('select[name="verdict"]').select_option("incorrect")
    form.locator('input[name="comment"]').fill("misses the lesion")
    form.get_by_role("button", name="Record verdict").click()
    expect(page.locator("main .message.success")).to_contain_text("Verdict on Algorithm B")
    page.locator('main textarea[name="reason"]').fill("The lesion is not visible to me.")
    page.get_by_role("button", name="Flag the ground truth as questionable").click()
    expect(page.locator("main .message.success")).to_contain_text("Case flagged")
    shots(page, "verdict and flag recorded")
    assert page_errors.messages == []  # no script error, no CSP refusal

    verdict = CaseVerdict.objects.get(reviewer=review_setup["physician"])
    assert (verdict.verdict, verdict.comment, verdict.case.case_id) == (
        "incorrect", "misses the lesion", missed)
    assert CaseFlag.objects.get(raised_by=review_setup["physician"]).case.case_id == missed

    case_url = page.url.split("?")[0]
    urls = [f"/review/challenges/{CHALLENGE}/test/", case_url, case_url + "image.png",
            f"/review/challenges/{CHALLENGE}/test/flags/", "/review/"]
    member = browser.new_context(base_url=browser_world.url, locale="en-US").new_page()
    log_in(member, "alice")
    expect(member.get_by_role("link", name="Review", exact=True)).to_have_count(0)
    for url in urls:
        response = member.goto(url)
        assert response is not None and response.status in (403, 404), (url, response.status)
    shots(member, "team member refused")
    member.context.close()
