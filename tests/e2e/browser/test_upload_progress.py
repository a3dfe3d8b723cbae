"""The upload page with JavaScript: the tarball goes in chunks through the resumable upload API
(static/enclave.js) with a progress bar, and an upload cut off midway resumes from the server's
offset when the same file is chosen again, after a reload.

One world (conftest.py); each test uploads its own image.
"""

import math
import re

import pytest
from playwright.sync_api import Page, expect

from evaluation.models import AlgorithmImage, UploadSession
from tests.e2e.browser.conftest import log_in
from tests.e2e.test_scale_out import slow_image

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

CHUNK = 4 * 1024 * 1024
CHUNK_URL = re.compile(r"/api/v1/uploads/[0-9a-f-]{36}/\?offset=(\d+)$")


def open_upload_page(page: Page, tarball) -> None:
    page.goto("/images/upload/")
    page.locator("form[data-chunked-upload]").evaluate(
        "(form, bytes) => { form.dataset.chunkBytes = String(bytes); }", CHUNK)
    page.locator('main select[name="team"]').select_option("team-a")
    page.locator('main input[type="file"]').set_input_files(tarball)


def chunk_offsets(page: Page) -> list[int]:
    """The offsets of the chunk requests the page sends from now on (as they are sent)."""
    offsets: list[int] = []

    def note(request) -> None:
        if request.method == "PUT" and (match := CHUNK_URL.search(request.url)):
            offsets.append(int(match.group(1)))

    page.on("request", note)
    return offsets


def stored_upload_ids(page: Page) -> list[str]:
    return page.evaluate("""() => Object.keys(localStorage)
        .filter((key) => key.startsWith("enclave-upload:")).map((key) => localStorage.getItem(key))""")


def test_an_image_goes_up_in_chunks_with_a_progress_bar(page, browser_world, shots,
                                                        docker_client, weak_baseline_tar):
    digest = docker_client.images.get("enclave-example/weak-baseline:latest").id
    log_in(page, "alice")
    open_upload_page(page, weak_baseline_tar)
    offsets = chunk_offsets(page)
    page.locator('main form button[type="submit"]').click()

    success = page.locator("main [data-upload-status][aria-live=polite].message.success")
    expect(success).to_be_visible(timeout=180_000)
    progress = page.get_by_label("Upload progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_js_property("value", 100)
    expect(page.locator("main [data-upload-percent]")).to_contain_text("100%")
    expect(page.locator("main table")).to_contain_text("weak-baseline")
    shots(page, "uploaded")

    size = weak_baseline_tar.stat().st_size
    assert offsets == [i * CHUNK for i in range(math.ceil(size / CHUNK))]
    assert AlgorithmImage.objects.filter(team=browser_world.team, image_id=digest).exists()
    expect(success).to_contain_text(digest[:19])
    assert stored_upload_ids(page) == []  # nothing left to resume


def test_an_interrupted_upload_resumes_from_the_servers_offset(page, browser_world, shots,
                                                              docker_client, tmp_path_factory):
    tarball = slow_image(docker_client, tmp_path_factory, 0)
    digest = docker_client.images.get("enclave-test/e2e-sleep-0:latest").id
    size = tarball.stat().st_size
    log_in(page, "alice")
    open_upload_page(page, tarball)
    first = chunk_offsets(page)
    routed: list[str] = []

    def cut_the_fourth_chunk(route) -> None:
        routed.append(route.request.url)
        if len(routed) == 4:
            route.abort()
        else:
            route.continue_()

    page.route(CHUNK_URL, cut_the_fourth_chunk)
    page.locator('main form button[type="submit"]').click()

    expect(page.locator("main [data-upload-status].message.error")).to_contain_text(
        "connection was lost")
    shots(page, "connection lost")
    assert first == [0, CHUNK, 2 * CHUNK, 3 * CHUNK]  # the fourth never arrived
    [upload_id] = stored_upload_ids(page)
    session = UploadSession.objects.get(pk=upload_id)
    assert (session.state, session.received, session.expected_size) == ("open", 3 * CHUNK, size)

    page.unroute(CHUNK_URL)
    second = chunk_offsets(page)
    open_upload_page(page, tarball)  # a fresh page: only localStorage remembers the upload
    expect(page.locator("main [data-upload-status]")).to_contain_text("interrupted")
    page.locator('main form button[type="submit"]').click()
    success = page.locator("main [data-upload-status].message.success")
    expect(success).to_be_visible(timeout=180_000)
    expect(page.get_by_label("Upload progress")).to_have_js_property("value", 100)
    shots(page, "resumed and uploaded")

    assert second == [i * CHUNK for i in range(3, math.ceil(size / CHUNK))]
    session.refresh_from_db()
    assert session.state == "completed"
    assert session.image is not None and session.image.image_id == digest
    expect(success).to_contain_text(digest[:19])
    expect(page.locator("main table")).to_contain_text("e2e-sleep-0")
    assert UploadSession.objects.filter(team=browser_world.team, state="open").count() == 0
    assert stored_upload_ids(page) == []


def test_a_refused_file_shows_the_servers_message_and_ends_the_upload(page, tmp_path):
    junk = tmp_path / "not-an-image.tar"
    junk.write_bytes(b"this is no docker save output\n" * 1000)
    log_in(page, "alice")
    open_upload_page(page, junk)
    offsets = chunk_offsets(page)
    page.locator('main form button[type="submit"]').click()

    error = page.locator("main [data-upload-status].message.error")
    expect(error).to_be_visible()
    expect(error).not_to_contain_text("connection was lost")
    assert offsets == [0]
    assert stored_upload_ids(page) == []  # the server ended it: nothing to resume


def test_without_javascript_the_plain_form_still_posts_the_file(browser, browser_world, tmp_path):
    junk = tmp_path / "not-an-image.tar"
    junk.write_bytes(b"this is no docker save output\n")
    context = browser.new_context(base_url=browser_world.url, java_script_enabled=False,
                                  locale="en-US")
    try:
        page = context.new_page()
        log_in(page, "alice")
        page.goto("/images/upload/")
        expect(page.get_by_label("Upload progress")).to_be_hidden()
        offsets = chunk_offsets(page)
        page.locator('main input[type="file"]').set_input_files(junk)
        with page.expect_navigation():
            page.locator('main form button[type="submit"]').click()
        expect(page.locator("main .message.error")).to_be_visible()  # Django's message, after a post
        assert offsets == []
    finally:
        context.close()
