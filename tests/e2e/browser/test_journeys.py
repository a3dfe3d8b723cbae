"""A team's journeys in the browser: upload, submit, follow, read the result, on real runs.

Real Chromium, real gunicorn, a real Celery worker running real containers on the docker engine
(see conftest.py). The tests share one world; each uses its own image, so none depends on another.
"""

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
from playwright.sync_api import expect

from examples.phantom import build_phantom
from tests import factories
from tests.e2e.browser.conftest import (
    CHALLENGE,
    ROOT,
    log_in,
    society_admin,
    submit_via_web,
    wait_until_final,
)
from tests.e2e.test_scale_out import slow_image

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

AUROC_WITH_CI = re.compile(r"(\d\.\d{3})\s*\((\d\.\d{3})\s*[–-]\s*(\d\.\d{3})\)")
FAILING_OUTPUT = "boom from the container"


def upload_via_web(page, tarball) -> None:
    page.goto("/images/upload/")
    page.locator('main select[name="team"]').select_option("team-a")
    page.locator('main input[type="file"]').set_input_files(tarball)
    page.locator('main form button[type="submit"]').click()
    expect(page.locator("main .message.success")).to_be_visible(timeout=180_000)


def test_a_team_member_uploads_submits_and_finds_the_team_on_the_leaderboard(
        page, browser_world, shots, weak_baseline_tar):
    log_in(page, "alice")
    shots(page, "signed in")

    upload_via_web(page, weak_baseline_tar)
    expect(page.locator("main table")).to_contain_text("weak-baseline")
    shots(page, "image uploaded")

    sanity = submit_via_web(page, "sanity", "weak-baseline")
    shots(page, "submitted to sanity")
    hidden = submit_via_web(page, "test", "weak-baseline")
    shots(page, "submitted to test")

    page.goto(f"/submissions/{sanity}/")
    shots(page, "sanity submission waiting")
    assert wait_until_final(page, reload=False) == "succeeded"  # the page follows the run itself
    shots(page, "sanity submission finished")
    assert AUROC_WITH_CI.search(page.locator("main").inner_text())
    expect(page.locator("main pre.logs")).to_be_visible()  # the public phase shows its logs

    page.goto(f"/submissions/{hidden}/")
    assert wait_until_final(page) == "succeeded"
    shots(page, "hidden submission finished")
    shown = AUROC_WITH_CI.search(page.locator("main").inner_text())
    assert shown, "no AUROC with its interval on the page"
    value, low, high = map(float, shown.groups())
    assert low <= value <= high
    expect(page.locator("main pre.logs")).to_have_count(0)  # never the logs of hidden runs

    page.goto(f"/challenges/{CHALLENGE}/test/leaderboard/")
    shots(page, "leaderboard")
    row = page.locator("main tbody tr").filter(has_text="Team A")
    expect(row).to_have_count(1)
    headers = [h.strip().lower() for h in page.locator("main thead th").all_inner_texts()]
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[0] == "1"  # the only team ranks first
    auroc = next(i for i, h in enumerate(headers) if h.startswith("auroc"))
    assert tuple(map(float, re.findall(r"\d\.\d{3}", cells[auroc]))) == (value, low, high)


def test_a_failing_image_shows_its_reason_and_no_hidden_logs(page, browser_world, shots,
                                                             failing_tar):
    log_in(page, "alice")
    upload_via_web(page, failing_tar)
    hidden = submit_via_web(page, "test", "exit-one")
    sanity = submit_via_web(page, "sanity", "exit-one")
    shots(page, "submitted")

    page.goto(f"/submissions/{hidden}/")
    assert wait_until_final(page) == "failed"
    shots(page, "hidden submission failed")
    main = page.locator("main").inner_text()
    assert re.search(r"exit.*\b1\b", main, re.I | re.S), main  # the categorical reason: exit code 1
    assert FAILING_OUTPUT not in page.content()
    expect(page.locator("main pre.logs")).to_have_count(0)

    page.goto(f"/submissions/{sanity}/")
    assert wait_until_final(page) == "failed"
    shots(page, "sanity submission failed")
    assert re.search(r"exit.*\b1\b", page.locator("main").inner_text(), re.I | re.S)
    expect(page.locator("main pre.logs")).to_contain_text(FAILING_OUTPUT)


def enclave(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    """The participant CLI as a separate process (`enclave ...` from client/)."""
    return subprocess.run([sys.executable, "-m", "enclave_client", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_an_image_pushed_with_the_cli_is_followed_in_the_browser(
        page, browser_world, shots, docker_client, tmp_path_factory, tmp_path):
    tarball = slow_image(docker_client, tmp_path_factory, 0)  # answers 0.5 for every case
    env = {**os.environ, "PYTHONPATH": str(ROOT / "client"), "ENCLAVE_URL": browser_world.url,
           "ENCLAVE_TOKEN": factories.api_token_for(browser_world.member),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("ENCLAVE_TEAM", None)

    pushed = enclave("push", str(tarball), "--team", "team-a", env=env, cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    image_id = pushed.stdout.strip()
    submitted = enclave("submit", "--challenge", CHALLENGE, "--phase", "sanity", "--image",
                        image_id, "--json", env=env, cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    submission = json.loads(submitted.stdout)["id"]

    log_in(page, "alice")
    page.locator('header a[href="/submissions/"]').click()
    shots(page, "my submissions")
    link = page.locator("main table").get_by_role("link", name=str(submission), exact=True)
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(re.compile(f"/submissions/{submission}/$"))
    assert wait_until_final(page) == "succeeded"
    shots(page, "cli submission finished")
    expect(page.locator("main")).to_contain_text(image_id[:19])
    assert AUROC_WITH_CI.search(page.locator("main").inner_text())


def test_a_team_registers_and_the_society_admin_approves_it(page, browser, browser_world, shots):
    team_b = factories.TeamFactory(slug="team-b", name="Team B")
    factories.team_member(team_b, "bob")
    log_in(page, "bob")
    page.goto(f"/challenges/{CHALLENGE}/")
    panel = page.locator("main #registration")
    form = panel.locator("form").filter(has=page.locator('select[name="team"]'))
    form.locator('select[name="team"]').select_option("team-b")
    form.locator("textarea").fill("A lab that reads CT slices.")
    shots(page, "registration form")
    form.locator('button[type="submit"]').click()
    expect(page.locator("main .message.success")).to_be_visible()
    row = page.locator("main #registration tbody tr").filter(has_text="team-b")
    expect(row).to_contain_text(re.compile("waiting|pending", re.I))
    shots(page, "registration pending")
    page.goto(f"/challenges/{CHALLENGE}/sanity/submit/")
    expect(page.locator("main .message.error")).to_contain_text("team-b")  # may not submit yet

    admin = browser.new_page(base_url=browser_world.url, viewport=page.viewport_size, locale="en-US")
    log_in(admin, "jrs-admin", device=browser_world.admin_device)
    admin.goto(f"/challenges/{CHALLENGE}/")
    admin.locator(f'main a[href="/challenges/{CHALLENGE}/registrations/"]').click()
    request = admin.locator("main tbody tr").filter(has_text="team-b")
    expect(request).to_contain_text("A lab that reads CT slices.")
    request.locator('input[name="reason"]').fill("Welcome.")
    shots(admin, "admin sees the request")
    request.locator('button[value="approve"]').click()
    expect(admin.locator("main .message.success")).to_be_visible()
    expect(admin.locator("main tbody tr").filter(has_text="team-b")).to_contain_text(
        re.compile("approved", re.I))
    shots(admin, "admin approved")
    admin.context.close()

    page.goto(f"/challenges/{CHALLENGE}/")
    row = page.locator("main #registration tbody tr").filter(has_text="team-b")
    expect(row).to_contain_text(re.compile("approved", re.I))
    expect(row).to_contain_text("Welcome.")
    shots(page, "registration approved")
    page.goto(f"/challenges/{CHALLENGE}/sanity/submit/")
    expect(page.locator("main .message.error")).to_have_count(0)


def test_a_society_admin_sets_up_a_challenge_with_the_wizard_and_publishes_it(
        page, browser, browser_world, shots, tmp_path):
    phantom = build_phantom(tmp_path / "phantom", n_sanity=4, n_test=2)
    cases_zip = tmp_path / "sanity-cases.zip"
    with zipfile.ZipFile(cases_zip, "w") as archive:
        for dcm in sorted(phantom.sanity_dir.glob("*.dcm")):
            archive.write(dcm, dcm.name)
    _chair, device = society_admin(browser_world, "jrs-chair")
    log_in(page, "jrs-chair", device=device)

    page.locator('header a[href="/society/challenges/"]').click()
    page.locator('main a[href="/society/challenges/new/"]').first.click()
    page.get_by_label("Short name").fill("wizard-phantom")
    page.get_by_label("Title").fill("Wizard phantom")
    page.get_by_label("Modality").fill("CT")
    page.get_by_label("Label set").fill("absent\npresent")
    page.get_by_label("Positive label").fill("present")
    shots(page, "basics")
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(re.compile("/society/challenges/wizard-phantom/edit/metrics/"))
    expect(page.locator("main .message.success")).to_be_visible()
    shots(page, "metrics")
    page.locator('main form button[type="submit"]:not([name="check"])').click()  # the defaults

    expect(page).to_have_url(re.compile("/society/challenges/wizard-phantom/edit/phases/"))
    form = page.locator("main form").filter(has=page.get_by_label("Short name"))
    form.get_by_label("Short name").fill("sanity")
    form.get_by_label("Title").fill("Sanity")
    form.locator('input[name="new-visibility"][value="public"]').check()
    shots(page, "phase form")
    form.locator('button[type="submit"]').click()
    expect(page.locator("main .message.success")).to_be_visible()
    expect(page.locator("main tbody tr").filter(has_text="sanity")).to_have_count(1)
    shots(page, "phase added")

    page.locator("main nav.steps").get_by_role("link", name=re.compile("data", re.I)).click()
    page.get_by_label("Cases (zip)").set_input_files(cases_zip)
    page.get_by_label("Labels (CSV)").set_input_files(phantom.sanity_labels)
    shots(page, "data form")
    page.locator('main form button[type="submit"]').click()
    expect(page.locator("main .message.success")).to_be_visible()
    row = page.locator("main tbody tr").filter(has_text="sanity")
    assert [c.strip() for c in row.locator("td").all_inner_texts()][1:] == ["4", "4"]
    shots(page, "cases imported")

    page.locator("main nav.steps").get_by_role("link", name=re.compile("publish", re.I)).click()
    shots(page, "review")
    page.locator('main form button[type="submit"]').click()
    expect(page).to_have_url(re.compile("/challenges/wizard-phantom/$"))
    expect(page.locator("main .message.success")).to_be_visible()

    visitor = browser.new_page(base_url=browser_world.url, viewport=page.viewport_size,
                               locale="en-US")
    visitor.goto("/")
    visitor.get_by_role("link", name="Wizard phantom").click()
    expect(visitor.locator("h1")).to_have_text("Wizard phantom")
    phase_row = visitor.locator("main tbody tr").filter(has_text="sanity")
    expect(phase_row.locator("td").nth(1)).to_have_text("4")  # the cases the admin uploaded
    shots(visitor, "published challenge seen by anyone")
    visitor.context.close()


def test_a_society_admin_imports_a_folder_of_cases_chosen_in_the_browser(
        page, browser_world, shots, page_errors, tmp_path, django_db_blocker):
    """The data step's folder picker: the browser's relative paths reach the server (the
    script fills the hidden field), so the series sub-folder becomes one case."""
    from pydicom.uid import generate_uid

    from challenges.models import Case
    from challenges.services import challenge_create, phase_create
    from tests.challenges.test_import_series import write_series
    from tests.challenges.test_wizard import png

    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "c-001.png").write_bytes(png(1))
    write_series(folder / "ct-a", 3, study=generate_uid())
    with django_db_blocker.unblock():
        challenge = challenge_create(society=browser_world.challenge.society, slug="folders",
                                     title="Folder import", labels=["absent", "present"],
                                     positive_label="present")
        phase = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True)
        _admin, device = society_admin(browser_world, "folder-chair")
    log_in(page, "folder-chair", device=device)
    page.goto("/society/challenges/folders/edit/data/")
    page.get_by_label("Or a folder of cases").set_input_files(folder)
    shots(page, "data step with a chosen folder")
    page.get_by_role("button", name="Import").click()

    expect(page.locator("main .message.success").first).to_contain_text("2 new cases")
    assert page_errors.messages == []
    cases = {c.case_id: c.files.count() for c in Case.objects.filter(phase=phase)}
    assert cases == {"c-001": 1, "ct-a": 3}
