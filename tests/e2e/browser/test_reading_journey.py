"""A reader study in the browser: a physician opens their reading list and answers two cases;
the society admin sees their progress and the agreement with a second reader; a team member is
refused the same pages.

Real Chromium, gunicorn and database (tests/e2e/browser/conftest.py). The list (the phantom's
hidden `test` phase, its first three cases) and the second reader's reads are made through the
services in this process; the first reader's answers go through the pages.
"""


import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from accounts.models import SocietyRole
from challenges.models import Phase
from review.models import Read
from review.services_reading import read_record, readers_assign, reading_list_create
from tests import factories
from tests.e2e.browser.conftest import CHALLENGE, log_in, society_admin
from tests.e2e.browser.test_review_journey import wait_for_image

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


@pytest.fixture(scope="module")
def reading_setup(browser_world, django_db_blocker):
    with django_db_blocker.unblock():
        phase = Phase.objects.get(challenge=browser_world.challenge, slug="test")
        case_ids = sorted(phase.cases.values_list("case_id", flat=True))[:3]
        society = browser_world.challenge.society
        admin, admin_device = society_admin(browser_world, "reading-admin")
        first = factories.society_member(society, SocietyRole.PHYSICIAN, "dr-ito")
        device = TOTPDevice.objects.create(user=first, name="phone", confirmed=True)
        second = factories.society_member(society, SocietyRole.PHYSICIAN, "dr-sato")
        reading_list = reading_list_create(actor=admin, phase=phase, title="Lesion panel",
                                           case_ids=case_ids)
        readers_assign(actor=admin, reading_list=reading_list, usernames=["dr-ito", "dr-sato"])
        for case in phase.cases.filter(case_id__in=case_ids[:2]):
            read_record(actor=second, reading_list=reading_list, case=case,
                        answer={"label": "present"})
        return {"list": reading_list, "cases": case_ids, "device": device,
                "admin_device": admin_device, "physician": first}


def test_a_physician_reads_two_cases_and_the_admin_sees_progress_and_agreement(
        page, browser, browser_world, reading_setup, shots, page_errors):
    reading_list, cases = reading_setup["list"], reading_setup["cases"]
    list_path = f"/review/challenges/{CHALLENGE}/test/reading/{reading_list.pk}/"
    log_in(page, "dr-ito", device=reading_setup["device"])
    page.get_by_role("link", name="Review", exact=True).click()
    page.get_by_role("link", name="My reading lists").click()
    expect(page.locator("main table")).to_contain_text("Lesion panel")
    expect(page.locator("main [data-progress]")).to_contain_text("0 of 3 read")
    shots(page, "my reading lists")

    page.get_by_role("link", name="Read the next case").click()
    expect(page.locator("main h1")).to_contain_text(cases[0])
    wait_for_image(page)
    shots(page, "first case")
    page.locator('main input[name="label"][value="present"]').check()
    page.locator('main input[name="confidence"]').fill("0.8")
    page.get_by_role("button", name="Save and go to the next case").click()
    expect(page.locator("main .message.success")).to_contain_text(cases[0])
    expect(page.locator("main h1")).to_contain_text(cases[1])
    wait_for_image(page)
    page.locator('main input[name="label"][value="absent"]').check()
    page.get_by_role("button", name="Save and go to the next case").click()
    expect(page.locator("main h1")).to_contain_text(cases[2])
    shots(page, "third case")
    page.goto("/review/reading/")
    expect(page.locator("main [data-progress]")).to_contain_text("2 of 3 read")
    assert page_errors.messages == []  # no script error, no CSP refusal
    reads = {r.case.case_id: r.answer for r in Read.objects.filter(
        reader=reading_setup["physician"]).select_related("case")}
    assert reads == {cases[0]: {"label": "present", "confidence": 0.8},
                     cases[1]: {"label": "absent"}}

    admin = browser.new_context(base_url=browser_world.url, locale="en-US").new_page()
    log_in(admin, "reading-admin", device=reading_setup["admin_device"])
    admin.goto(list_path)
    expect(admin.locator('main tr[data-reader="1"]')).to_contain_text("2 of 3 read")
    expect(admin.locator('main tr[data-reader="2"]')).to_contain_text("2 of 3 read")
    # Both read the first two cases: present/present and absent/present. Cohen's kappa:
    # p_o = 1/2, p_e = 1/2·1 + 1/2·0 = 1/2 -> 0.
    expect(admin.locator("main [data-agreement]")).to_contain_text("Cohen's kappa over the 2")
    expect(admin.locator("main [data-agreement]")).to_contain_text("0.000")
    expect(admin.locator("main [data-unresolved]")).to_contain_text(cases[1])  # a tie
    shots(admin, "admin sees progress and agreement")
    admin.context.close()

    member = browser.new_context(base_url=browser_world.url, locale="en-US").new_page()
    log_in(member, "alice")
    for url in [list_path, list_path + f"cases/{cases[0]}/", "/review/reading/"]:
        response = member.goto(url)
        assert response is not None and response.status == 404, (url, response.status)
    member.context.close()


@pytest.fixture(scope="module")
def detection_reading(browser_world, django_db_blocker, tmp_path_factory):
    """Two published detection challenges of the world's society, each with one 100 x 200 PNG
    case in a hidden phase on a reading list of dr-kato: `nodules` (lesions are points, the
    default hit criterion) and `masses` (lesions are boxes: the IoU criterion)."""
    from PIL import Image

    from challenges.services import cases_import, challenge_create, phase_create
    from evaluation.services.specs import challenge_spec_update, default_spec

    folder = tmp_path_factory.mktemp("lesion-cases")
    Image.new("L", (200, 100), 40).save(folder / "n-001.png")
    lists = {}
    with django_db_blocker.unblock():
        society = browser_world.challenge.society
        admin, _ = society_admin(browser_world, "lesion-admin")
        reader = factories.society_member(society, SocietyRole.PHYSICIAN, "dr-kato")
        device = TOTPDevice.objects.create(user=reader, name="phone", confirmed=True)
        for slug in ("nodules", "masses"):
            challenge = challenge_create(society=society, slug=slug, title=slug.title(),
                                         labels=["lesion"], task_type="detection",
                                         is_published=True)
            if slug == "masses":
                spec = default_spec("detection", ["lesion"])
                for metric in spec["metrics"]:
                    metric.pop("radius_mm")
                    metric["hit"] = "iou"
                challenge_spec_update(challenge=challenge, spec=spec)
            phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True)
            cases_import(phase=phase, path=folder)
            lists[slug] = reading_list_create(actor=admin, phase=phase, title=f"{slug} marks")
            readers_assign(actor=admin, reading_list=lists[slug], usernames=["dr-kato"])
        return {"lists": lists, "device": device, "reader": reader}


@pytest.mark.parametrize(("slug", "clicks", "typed", "lesions"), [
    ("nodules", [(50, 150), (10, 20)], "50 150\n10 20\n",
     [{"point": [50, 150]}, {"point": [10, 20]}]),
    ("masses", [(30, 60), (10, 20)], "10 20 30 60\n", [{"box": [10, 20, 30, 60]}]),
])
def test_clicking_the_image_marks_the_lesions(page, detection_reading, page_errors, shots,
                                              slug, clicks, typed, lesions):
    reading_list = detection_reading["lists"][slug]
    log_in(page, "dr-kato", device=detection_reading["device"])
    page.goto(f"/review/challenges/{slug}/test/reading/{reading_list.pk}/cases/n-001/")
    wait_for_image(page)
    image = page.locator("main img.case-image")
    area = image.bounding_box()
    assert area is not None

    expect(page.locator("main [data-mark-help]")).to_be_visible()
    for row, column in clicks:  # the centre of that image pixel
        image.click(position={"x": (column + 0.5) / 200 * area["width"],
                              "y": (row + 0.5) / 100 * area["height"]})
    expect(page.locator("#lesions-input")).to_have_value(typed)
    shots(page, f"{slug}: lesions marked by clicking")
    page.get_by_role("button", name="Save and go to the next case").click()

    expect(page.locator("main .message.success").first).to_contain_text("n-001")
    assert page_errors.messages == []
    read = Read.objects.get(reader=detection_reading["reader"], case__phase__challenge__slug=slug)
    assert read.answer["lesions"] == lesions


@pytest.fixture(scope="module")
def segmentation_reading(browser_world, django_db_blocker, tmp_path_factory):
    """A published segmentation challenge `organs` (background, organ) of the world's society:
    one 100 x 200 PNG case in a hidden phase, on a reading list of dr-mori."""
    from PIL import Image

    from challenges.services import cases_import, challenge_create, phase_create

    folder = tmp_path_factory.mktemp("organ-cases")
    Image.new("L", (200, 100), 60).save(folder / "o-001.png")
    with django_db_blocker.unblock():
        society = browser_world.challenge.society
        admin, _ = society_admin(browser_world, "organ-admin")
        reader = factories.society_member(society, SocietyRole.PHYSICIAN, "dr-mori")
        device = TOTPDevice.objects.create(user=reader, name="phone", confirmed=True)
        challenge = challenge_create(society=society, slug="organs", title="Organs",
                                     labels=["background", "organ"], task_type="segmentation",
                                     is_published=True)
        phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True)
        cases_import(phase=phase, path=folder)
        reading_list = reading_list_create(actor=admin, phase=phase, title="Organ outlines")
        readers_assign(actor=admin, reading_list=reading_list, usernames=["dr-mori"])
        return {"list": reading_list, "device": device, "reader": reader}


def test_a_mask_drawn_on_the_image_is_saved_as_the_read(page, segmentation_reading, page_errors,
                                                        shots):
    from challenges.truths import load_mask

    reading_list = segmentation_reading["list"]
    log_in(page, "dr-mori", device=segmentation_reading["device"])
    page.goto(f"/review/challenges/organs/test/reading/{reading_list.pk}/cases/o-001/")
    wait_for_image(page)
    expect(page.locator("main [data-mask-draw]")).to_be_visible()
    page.locator("main [data-mask-brush]").fill("4")
    canvas = page.locator("main canvas.mask-canvas")
    area = canvas.bounding_box()
    assert area is not None

    def at(row: float, column: float) -> tuple[float, float]:
        return (area["x"] + (column + 0.5) / 200 * area["width"],
                area["y"] + (row + 0.5) / 100 * area["height"])

    page.mouse.move(*at(50, 100))
    page.mouse.down()
    for column in range(100, 141, 4):
        page.mouse.move(*at(50, column))
    page.mouse.up()
    expect(page.locator("main [data-mask-count]")).not_to_have_text("Nothing drawn yet.")
    shots(page, "segmentation case with a drawn mask")
    page.get_by_role("button", name="Save and go to the next case").click()

    expect(page.locator("main .message.success").first).to_contain_text("o-001")
    assert page_errors.messages == []
    read = Read.objects.get(reader=segmentation_reading["reader"])
    mask = load_mask(read.answer["mask"])
    assert mask.shape == (100, 200) and set(mask.ravel().tolist()) == {0, 1}
    assert mask[50, 100:141].all() and not mask[:40].any() and not mask[60:].any()
