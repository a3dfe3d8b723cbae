"""Reader-study pages: who gets them (team members and other societies: 404), what a physician
reads (no truth, no predictions), what is audited, and the writes made through the pages."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from review.models import Read, ReadingList, ReferenceRow
from review.services_reading import read_record, readers_assign, reading_list_create
from tests import factories
from tests.review.conftest import detection_case

pytestmark = pytest.mark.django_db

BASE = "/review/challenges/lesions/test/reading/"


def client_of(user) -> Client:
    client = Client()
    factories.login_verified(client, user)
    return client


def study(w, case_ids=("c-000", "c-001")) -> ReadingList:
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Study",
                                       case_ids=list(case_ids))
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka"])
    return reading_list


def test_team_members_and_other_societies_get_404_everywhere(review_world):
    w = review_world
    reading_list = study(w)
    list_url = f"{BASE}{reading_list.pk}/"
    gets = [BASE, list_url, list_url + "next/", list_url + "cases/c-000/"]
    posts = [BASE + "new/", list_url + "readers/", list_url + "cases/c-000/", list_url + "merge/",
             list_url + "references/"]
    for user in (w.member, w.other_physician):
        client = client_of(user)
        for url in gets:
            assert client.get(url).status_code == 404, (user, url)
        for url in posts:
            assert client.post(url, {"label": "present", "title": "x", "selection": "all",
                                     "merge_rule": "majority", "readers": "alice"}
                               ).status_code == 404, (user, url)
    assert client_of(w.member).get("/review/reading/").status_code == 404
    assert ReadingList.objects.count() == 1 and not Read.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["review.case_viewed",
                                                     "review.reading_list_viewed"]).exists()


def test_anonymous_visitors_sign_in_without_the_case_url_echoed(review_world):
    reading_list = study(review_world)
    response = Client().get(f"{BASE}{reading_list.pk}/cases/c-000/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert "c-000" not in response["Location"]


def test_only_assigned_readers_open_the_read_page(review_world):
    w = review_world
    reading_list = study(w)
    url = f"{BASE}{reading_list.pk}/cases/c-000/"
    for user in (w.steward, w.admin, w.conflicted):
        assert client_of(user).get(url).status_code == 404
        assert client_of(user).get(f"{BASE}{reading_list.pk}/").status_code == 200
    assert client_of(w.physician).get(f"{BASE}{reading_list.pk}/cases/c-002/").status_code == 404


def test_a_physician_reads_case_after_case_without_truth_or_predictions(review_world):
    w = review_world
    reading_list = study(w)
    client = client_of(w.physician)
    mine = client.get("/review/reading/").content.decode()
    assert "Study" in mine and "0 of 2 read" in mine
    response = client.get(f"{BASE}{reading_list.pk}/next/")
    assert response["Location"].endswith(f"/reading/{reading_list.pk}/cases/c-000/")
    html = client.get(response["Location"]).content.decode()
    assert "Algorithm" not in html and "Ground truth" not in html
    assert 'name="label" value="present"' in html and "image.png" in html
    event = AuditEvent.objects.get(action="review.case_viewed")
    assert event.target_id == str(w.cases["c-000"].pk)
    assert event.detail["list"] == reading_list.pk

    refused = client.post(f"{BASE}{reading_list.pk}/cases/c-000/", {"label": "maybe"})
    assert refused.status_code == 400 and "Choose one of the labels" in refused.content.decode()
    saved = client.post(f"{BASE}{reading_list.pk}/cases/c-000/",
                        {"label": "present", "confidence": "0.9"})
    assert saved["Location"].endswith(f"/reading/{reading_list.pk}/next/")
    assert client.get(saved["Location"])["Location"].endswith("/cases/c-001/")
    client.post(f"{BASE}{reading_list.pk}/cases/c-000/", {"label": "absent"})
    page = client.get(f"{BASE}{reading_list.pk}/cases/c-000/").content.decode()
    assert "version 1" in page  # the earlier read is listed
    detail = client.get(f"{BASE}{reading_list.pk}/").content.decode()
    assert "Your cases (you are reader 1)" in detail
    assert f"/reading/{reading_list.pk}/cases/c-001/" in detail  # to read again from here
    assert list(Read.objects.order_by("version").values_list("answer__label", "is_current")) == [
        ("present", False), ("absent", True)]


def test_admin_creates_assigns_and_sees_progress_agreement_and_merge(review_world):
    w = review_world
    client = client_of(w.admin)
    response = client.post(BASE + "new/", {
        "title": "Panel", "selection": "explicit", "case_ids": "c-000, c-001",
        "merge_rule": "majority", "grades": "mild\nsevere"})
    reading_list = ReadingList.objects.get(title="Panel")
    assert response["Location"].endswith(f"/reading/{reading_list.pk}/")
    assert reading_list.grades == ["mild", "severe"]
    client.post(f"{BASE}{reading_list.pk}/readers/", {"readers": "dr-tanaka\ndr-member"})
    assert reading_list.assignments.count() == 2
    for user, labels in ((w.physician, ["present", "absent"]), (w.conflicted, ["present"])):
        for index, label in enumerate(labels):
            read_record(actor=user, reading_list=reading_list, case=w.cases[f"c-{index:03d}"],
                        answer={"label": label})
    html = client.get(f"{BASE}{reading_list.pk}/").content.decode()
    assert "2 of 2 read" in html and "1 of 2 read" in html
    assert "Cohen" in html and "dr-member" in html  # the admin sees who reads
    assert "dr-member" not in client_of(w.physician).get(f"{BASE}{reading_list.pk}/").content.decode()
    client.post(f"{BASE}{reading_list.pk}/merge/", {"note": "panel"})
    assert reading_list.merges.count() == 1
    client.post(f"{BASE}{reading_list.pk}/references/")
    assert ReferenceRow.objects.filter(reading_list=reading_list).count() == 3
    row = ReferenceRow.objects.get(reading_list=reading_list, reader_number=1)
    client.post(f"{BASE}{reading_list.pk}/references/{row.pk}/", {"published": "on"})
    row.refresh_from_db()
    assert row.published


def test_physicians_cannot_manage_lists(review_world):
    w = review_world
    reading_list = study(w)
    read_record(actor=w.physician, reading_list=reading_list, case=w.cases["c-000"],
                answer={"label": "absent"})
    client = client_of(w.physician)
    client.post(BASE + "new/", {"title": "Mine", "selection": "all", "merge_rule": "majority"})
    client.post(f"{BASE}{reading_list.pk}/readers/", {"readers": "dr-member"})
    client.post(f"{BASE}{reading_list.pk}/merge/", {})
    client.post(f"{BASE}{reading_list.pk}/references/")
    assert ReadingList.objects.count() == 1 and reading_list.assignments.count() == 1
    assert not reading_list.merges.exists() and not ReferenceRow.objects.exists()
    w.phase.refresh_from_db()
    assert w.phase.truth_version == 1


def test_a_reader_marks_points_and_sees_them_over_the_image(review_world):
    w = review_world
    reading_list = reading_list_create(actor=w.admin, phase=detection_case(w).phase,
                                       title="Nodules")
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka"])
    client = client_of(w.physician)
    url = f"/review/challenges/nodules/test/reading/{reading_list.pk}/cases/d-000/"
    outside = client.post(url, {"lesions": "2 3\n5 25"})
    assert outside.status_code == 400 and "outside the case image" in outside.content.decode()
    assert client.post(url, {"lesions": "2 3\n7.5 12"}).status_code == 302
    assert Read.objects.get().answer == {"lesions": [{"point": [2.0, 3.0]},
                                                     {"point": [7.5, 12.0]}]}
    page = client.get(url).content.decode()
    assert page.count("<circle") == 2 and 'viewBox="0 0 20 10"' in page
    assert "2 3\n7.5 12" in page  # the read, to edit
