"""Review pages: who gets them, what they show (and leave out), what they audit, and the
writes they make through the services."""

from io import BytesIO

import pytest
from django.test import Client
from PIL import Image

from audit.models import AuditEvent
from challenges.models import Phase
from review.models import CaseFlag, CaseVerdict, FlagStatus, ReviewSettings
from tests import factories

pytestmark = pytest.mark.django_db

BASE = "/review/challenges/lesions/test/"


def client_of(user) -> Client:
    client = Client()
    if user is not None:
        factories.login_verified(client, user)
    return client


def urls() -> list[str]:
    case = BASE + "cases/c-000/"
    return [BASE, BASE + "flags/", case, case + "image.png"]


def test_reviewers_get_every_page(review_world):
    w = review_world
    for user in (w.physician, w.steward, w.admin, w.conflicted):
        client = client_of(user)
        for url in ["/review/", *urls()]:
            response = client.get(url)
            assert response.status_code == 200, (user, url, response.status_code)


def test_teams_and_other_societies_get_404_and_anonymous_the_sign_in_page(review_world):
    w = review_world
    for user in (w.member, w.other_physician):
        client = client_of(user)
        for url in urls():
            assert client.get(url).status_code == 404, (user, url)
    assert client_of(w.member).get("/review/").status_code == 404
    for url in ["/review/", *urls()]:
        response = Client().get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not AuditEvent.objects.filter(action__startswith="review.").exists()


def test_queue_page_explains_its_queue_and_lists_cases(review_world):
    response = client_of(review_world.physician).get(BASE + "?queue=label-errors")
    html = response.content.decode()
    assert "most algorithms get wrong" in html
    assert "c-004" in html and "c-001" not in html
    event = AuditEvent.objects.get(action="review.queue_viewed")
    assert event.detail["queue"] == "label-errors" and event.detail["cases"] == ["c-004"]


def test_the_case_page_shows_truth_and_predictions_blinded_and_audits(review_world):
    w = review_world
    html = client_of(w.physician).get(BASE + "cases/c-004/").content.decode()
    assert "Algorithm A" in html and "Algorithm B" in html and "Algorithm C" in html
    assert "team-a" not in html and "Team-A" not in html  # blinded
    assert "present" in html  # the ground truth
    assert 'src="/review/challenges/lesions/test/cases/c-004/image.png?' in html
    event = AuditEvent.objects.get(action="review.case_viewed")
    assert event.target_id == str(w.cases["c-004"].pk)
    assert sorted(event.detail["submissions"]) == sorted(s.pk for s in w.submissions.values())


def test_without_blinding_the_case_page_names_teams(review_world):
    ReviewSettings.objects.create(phase=review_world.phase, blinded=False)
    html = client_of(review_world.physician).get(BASE + "cases/c-004/").content.decode()
    assert "Team-A (submission" in html


def test_a_conflicted_physician_never_sees_their_team_on_a_page(review_world):
    w = review_world
    client = client_of(w.conflicted)
    html = client.get(BASE + "cases/c-001/").content.decode()
    assert "Algorithm A" in html and "Algorithm C" not in html
    assert "0.600" not in html  # team-c's score on c-001
    queue = client.get(BASE + "?queue=worst&algorithm=C").content.decode()
    assert "Algorithm C" not in queue
    response = client.post(BASE + "cases/c-001/verdicts/", {"prediction": "C", "verdict": "correct"})
    assert response.status_code == 404 and not CaseVerdict.objects.exists()
    event = AuditEvent.objects.get(action="review.case_viewed")
    assert w.submissions["team-c"].pk not in event.detail["submissions"]


def test_the_rendering_is_a_png_windowed_as_asked_and_audited(review_world):
    client = client_of(review_world.physician)
    response = client.get(BASE + "cases/c-000/image.png?preset=bone&size=64")
    assert response["Content-Type"] == "image/png" and "no-store" in response["Cache-Control"]
    assert Image.open(BytesIO(response.content)).size == (64, 64)
    event = AuditEvent.objects.get(action="review.rendering_viewed")
    assert (event.detail["window"], event.detail["center"]) == ("bone", 400.0)
    assert client.get(BASE + "cases/c-000/image.png?center=40").status_code == 400
    assert client.get(BASE + "cases/c-000/image.png?width=-3&center=1").status_code == 400


def test_a_file_that_cannot_be_rendered_answers_a_placeholder(review_world):
    response = client_of(review_world.physician).get(BASE + "cases/c-001/image.png")
    assert response.status_code == 200 and response["X-Enclave-Render"] == "failed"
    assert AuditEvent.objects.get(action="review.rendering_viewed").detail["failed"] is True


def test_a_bad_window_on_the_case_page_is_explained(review_world):
    html = client_of(review_world.physician).get(
        BASE + "cases/c-000/?center=40").content.decode()
    assert "Give both a centre and a width, or neither." in html


def test_frames_and_overlay_selection_survive_navigation(review_world):
    html = client_of(review_world.physician).get(
        BASE + "cases/c-000/?shown=1&show=A&queue=worst").content.decode()
    assert 'data-overlay-toggle="A" checked' in html
    assert 'data-overlay-toggle="B" checked' not in html
    assert 'data-overlay-toggle="truth" checked' not in html


def test_recording_a_verdict_and_flagging_through_the_page(review_world):
    w = review_world
    client = client_of(w.physician)
    response = client.post(BASE + "cases/c-004/verdicts/", {
        "prediction": "A", "verdict": "incorrect", "comment": "missed", "queue": "worst",
        "algorithm": "B"})
    assert response.status_code == 302 and response["Location"].endswith(
        "/cases/c-004/?queue=worst&algorithm=B")
    verdict = CaseVerdict.objects.get()
    assert (verdict.submission, verdict.verdict) == (w.submissions["team-a"], "incorrect")
    response = client.post(BASE + "cases/c-004/verdicts/", {"prediction": "A", "verdict": "nope"})
    assert CaseVerdict.objects.get().verdict == "incorrect"
    client.post(BASE + "cases/c-004/flags/", {"reason": "looks absent"})
    assert CaseFlag.objects.get().reason == "looks absent"
    page = client.get(BASE + "cases/c-004/").content.decode()
    assert "You flagged this case" in page and "Change verdict" in page


def test_the_admin_corrects_a_flagged_truth_from_the_flags_page(review_world, monkeypatch):
    w = review_world
    monkeypatch.setattr("evaluation.tasks.enqueue_reevaluate", lambda *args: None)
    client_of(w.physician).post(BASE + "cases/c-004/flags/", {"reason": "looks absent"})
    flag = CaseFlag.objects.get()
    assert "looks absent" in client_of(w.physician).get(BASE + "flags/").content.decode()
    viewed = AuditEvent.objects.get(action="review.flags_viewed")  # it shows the current truth
    assert viewed.actor == w.physician and viewed.detail["cases"] == [flag.case_id]
    refused = client_of(w.physician).post(BASE + f"flags/{flag.pk}/resolve/", {
        "action": "correct", "label": "absent"})
    assert refused.status_code == 302
    assert Phase.objects.get(pk=w.phase.pk).truth_version == 1
    admin = client_of(w.admin)
    page = admin.get(BASE + "flags/").content.decode()
    assert "Correct the ground truth" in page
    admin.post(BASE + f"flags/{flag.pk}/resolve/", {"action": "correct", "label": "absent",
                                                     "note": "re-read", "reevaluate": "on"})
    flag.refresh_from_db()
    assert (flag.status, flag.truth_version_created) == (FlagStatus.RESOLVED, 2)
    assert Phase.objects.get(pk=w.phase.pk).truth_version == 2


def test_blinding_switch_is_for_admins(review_world):
    w = review_world
    client_of(w.physician).post(BASE + "settings/", {})
    assert not ReviewSettings.objects.exists()
    client_of(w.admin).post(BASE + "settings/", {})
    assert ReviewSettings.objects.get().blinded is False


def test_a_mask_overlay_is_404_where_there_is_no_mask(review_world):
    client = client_of(review_world.physician)
    assert client.get(BASE + "cases/c-000/overlays/truth.png").status_code == 404
    assert client.get(BASE + "cases/c-000/overlays/A.png").status_code == 404


def test_the_nav_shows_review_to_reviewers_only(review_world):
    assert 'href="/review/"' in client_of(review_world.physician).get("/").content.decode()
    assert 'href="/review/"' not in client_of(review_world.member).get("/").content.decode()


def test_the_pages_are_in_japanese(review_world):
    client = client_of(review_world.physician)
    client.cookies["django_language"] = "ja"
    queue = client.get(BASE + "?queue=flagged", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "同僚が正解データに疑義ありとフラグを付けた症例。" in queue
    page = client.get(BASE + "cases/c-004/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "アルゴリズム A" in page and "正解データと予測" in page


def test_frames_of_a_multi_frame_case_are_scrolled_by_links_and_a_range(review_world):
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from challenges.models import CaseFile
    from tests.imaging.conftest import fixture_bytes

    data = fixture_bytes("emri_small.dcm")  # 10 frames of 64 x 64
    sha = hashlib.sha256(data).hexdigest()
    key = default_storage.save(f"cases/{sha[:2]}/{sha}", ContentFile(data))
    case = review_world.cases["c-000"]
    CaseFile.objects.filter(case=case).update(sha256=sha, storage_key=key, size_bytes=len(data))
    type(case).objects.filter(pk=case.pk).update(shape=[10, 64, 64])
    client = client_of(review_world.physician)
    html = client.get(BASE + "cases/c-000/?frame=3&preset=auto&queue=worst").content.decode()
    assert 'type="range" name="frame" min="0" max="9" value="3"' in html
    assert 'href="?preset=auto&amp;frame=2&amp;queue=worst" rel="prev"' in html
    assert 'href="?preset=auto&amp;frame=4&amp;queue=worst" rel="next"' in html
    assert "image.png?frame=3&amp;preset=auto&amp;size=768" in html
    assert "Frame 4 of 10" in html
    response = client.get(BASE + "cases/c-000/image.png?frame=3&preset=auto&size=64")
    assert response.status_code == 200 and "X-Enclave-Render" not in response
    assert AuditEvent.objects.filter(action="review.rendering_viewed").get().detail["frame"] == 3
    last = client.get(BASE + "cases/c-000/?frame=9").content.decode()
    assert 'rel="next"' not in last and 'rel="prev"' in last
