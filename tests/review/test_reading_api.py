"""The reader-study API: lists, a list's progress and agreement, a reader's reads; the same
people as the pages, JSON errors for bad answers."""

import pytest

from audit.models import AuditEvent
from review.models import Read
from review.services_reading import readers_assign, reading_list_create
from tests import factories

pytestmark = pytest.mark.django_db

API = "/api/v1/challenges/lesions/phases/test/reading-lists/"


def study(w):
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Study",
                                       case_ids=["c-000", "c-001"], grades=["low", "high"])
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka", "dr-member"])
    return reading_list


def test_a_reader_records_and_lists_reads_through_the_api(review_world):
    w = review_world
    reading_list = study(w)
    client = factories.api_client_for(w.physician)
    url = f"{API}{reading_list.pk}/reads/"
    response = client.post(url, {"case_id": "c-000", "label": "present", "confidence": 0.9,
                                 "grade": 1}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["answer"] == {"label": "present", "confidence": 0.9, "grade": 1}
    bad = client.post(url, {"case_id": "c-000", "label": "maybe"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_label"
    assert client.post(url, {"case_id": "c-004", "label": "present"},
                       format="json").status_code == 404  # not on the list
    again = client.post(url, {"case_id": "c-000", "label": "absent"}, format="json")
    assert again.json()["version"] == 2
    assert [(r["case_id"], r["answer"]["label"]) for r in client.get(url).json()] == [
        ("c-000", "absent")]
    assert Read.objects.count() == 2


def test_list_detail_shows_progress_and_names_readers_to_admins_only(review_world):
    w = review_world
    reading_list = study(w)
    factories.api_client_for(w.physician).post(
        f"{API}{reading_list.pk}/reads/", {"case_id": "c-000", "label": "present"}, format="json")
    admin_view = factories.api_client_for(w.admin).get(f"{API}{reading_list.pk}/").json()
    assert admin_view["readers"] == [
        {"number": 1, "n_read": 1, "n_assigned": 2, "username": "dr-tanaka"},
        {"number": 2, "n_read": 0, "n_assigned": 2, "username": "dr-member"}]
    assert admin_view["merge"] == {"resolved": 1, "unresolved": [], "unread": ["c-001"]}
    physician_view = factories.api_client_for(w.physician).get(f"{API}{reading_list.pk}/").json()
    assert all("username" not in r for r in physician_view["readers"])
    listed = factories.api_client_for(w.steward).get(API).json()
    assert [(item["title"], item["n_cases"], item["n_readers"]) for item in listed] == [
        ("Study", 2, 2)]
    assert AuditEvent.objects.filter(action="review.reading_list_viewed").count() == 2


def test_teams_other_societies_and_non_readers_get_404(review_world):
    w = review_world
    reading_list = study(w)
    for user in (w.member, w.other_physician):
        client = factories.api_client_for(user)
        for url in (API, f"{API}{reading_list.pk}/", f"{API}{reading_list.pk}/reads/"):
            assert client.get(url).status_code == 404, (user, url)
        assert client.post(f"{API}{reading_list.pk}/reads/", {
            "case_id": "c-000", "label": "present"}, format="json").status_code == 404
    steward = factories.api_client_for(w.steward)
    assert steward.get(f"{API}{reading_list.pk}/reads/").status_code == 404
    assert not Read.objects.exists()
