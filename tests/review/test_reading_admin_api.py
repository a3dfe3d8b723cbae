"""The reader-study API's society side (review/apis_reading_admin.py): creating a list,
assigning readers, merging reads into ground truth, scoring and publishing reference rows.
The same services as the pages decide and audit; physicians are refused (403), teams and other
societies see nothing (404); bad input is a JSON 400 naming the field."""

import pytest

from audit.models import AuditEvent
from challenges.models import GroundTruth
from review.models import ReadingAssignment, ReadingList, ReadingMerge, ReferenceRow
from review.services_reading import read_record, readers_assign, reading_list_create
from review.services_reference import reference_rows_compute
from tests import factories

pytestmark = pytest.mark.django_db

API = "/api/v1/challenges/lesions/phases/test/reading-lists/"


def audited(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def read_study(w, case_ids=("c-000", "c-001", "c-002")) -> ReadingList:
    """Two readers: both call c-000 absent (its truth is present), both c-001 absent (as the
    truth), and they disagree on c-002."""
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Panel",
                                       case_ids=list(case_ids))
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka", "dr-member"])
    answers = {w.physician: ["absent", "absent", "present"],
               w.conflicted: ["absent", "absent", "absent"]}
    for reader, labels in answers.items():
        for case_id, label in zip(case_ids, labels, strict=False):
            read_record(actor=reader, reading_list=reading_list, case=w.cases[case_id],
                        answer={"label": label})
    return reading_list


# --- create -----------------------------------------------------------------------------------

def test_an_admin_creates_lists_of_chosen_sampled_or_all_cases(review_world):
    w = review_world
    client = factories.api_client_for(w.admin)
    response = client.post(API, {"title": "Panel", "case_ids": ["c-003", "c-001"],
                                 "grades": ["mild", "severe"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    chosen = ReadingList.objects.get(pk=body["id"])
    assert [i.case.case_id for i in chosen.items.order_by("position")] == ["c-003", "c-001"]
    assert (body["title"], body["merge_rule"], body["grades"], body["n_cases"],
            body["n_readers"], body["sample_seed"]) == (
        "Panel", "majority", ["mild", "severe"], 2, 0, None)
    sampled = client.post(API, {"title": "Sample", "sample_size": 3, "seed": 7}, format="json")
    assert sampled.status_code == 201
    assert (sampled.json()["n_cases"], sampled.json()["sample_seed"]) == (3, 7)
    same = client.post(API, {"title": "Sample again", "sample_size": 3, "seed": 7}, format="json")
    cases_of = [set(ReadingList.objects.get(pk=r.json()["id"]).items.values_list(
        "case__case_id", flat=True)) for r in (sampled, same)]
    assert cases_of[0] == cases_of[1]  # the same seed draws the same cases
    judged = client.post(API, {"title": "All", "merge_rule": "adjudicator",
                               "adjudicator": "dr-tanaka"}, format="json").json()
    assert (judged["n_cases"], judged["n_readers"]) == (6, 1)  # the adjudicator reads too
    assert ReadingList.objects.get(pk=judged["id"]).adjudicator == w.physician
    assert audited("review.reading_list_created") == 4
    assert sorted(item["title"] for item in client.get(API).json()) == [
        "All", "Panel", "Sample", "Sample again"]


@pytest.mark.parametrize(("body", "field"), [
    ({"case_ids": ["c-000"]}, "title"),
    ({"title": "X", "merge_rule": "vote"}, "merge_rule"),
    ({"title": "X", "case_ids": []}, "case_ids"),
    ({"title": "X", "case_ids": ["c-000"], "sample_size": 1}, "sample_size"),
    ({"title": "X", "sample_size": 0}, "sample_size"),
    ({"title": "X", "grades": ["g"] * 21}, "grades"),
])
def test_create_refuses_bad_input_naming_the_field(review_world, body, field):
    response = factories.api_client_for(review_world.admin).post(API, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]
    assert not ReadingList.objects.exists()


@pytest.mark.parametrize(("body", "code"), [
    ({"title": "X", "case_ids": ["c-000", "c-999"]}, "unknown_case"),
    ({"title": "X", "sample_size": 7}, "bad_sample"),
    ({"title": "X", "merge_rule": "adjudicator"}, "adjudicator_required"),
    ({"title": "X", "merge_rule": "adjudicator", "adjudicator": "alice"}, "not_a_physician"),
    ({"title": "X", "merge_rule": "mask-fusion"}, "bad_merge_rule"),  # not segmentation
    ({"title": "X", "grades": ["a", "a"]}, "bad_grades"),
])
def test_create_answers_the_services_refusals_as_json(review_world, body, code):
    response = factories.api_client_for(review_world.admin).post(API, body, format="json")
    assert response.status_code == 400 and response.json()["code"] == code, response.content
    assert not ReadingList.objects.exists()


# --- readers ----------------------------------------------------------------------------------

def test_an_admin_assigns_readers_who_keep_their_numbers(review_world):
    w = review_world
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Panel")
    client = factories.api_client_for(w.admin)
    url = f"{API}{reading_list.pk}/readers/"
    response = client.post(url, {"usernames": ["dr-tanaka", "dr-member"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == [{"number": 1, "username": "dr-tanaka"},
                               {"number": 2, "username": "dr-member"}]
    again = client.post(url, {"usernames": ["dr-member"]}, format="json")
    assert again.json() == [{"number": 2, "username": "dr-member"}]
    assert list(ReadingAssignment.objects.filter(reading_list=reading_list).values_list(
        "reader__username", "number")) == [("dr-tanaka", 1), ("dr-member", 2)]
    assert audited("review.readers_assigned") == 2
    empty = client.post(url, {"usernames": []}, format="json")
    assert empty.status_code == 400 and "usernames" in empty.json()["fields"]
    stranger = client.post(url, {"usernames": ["alice"]}, format="json")  # a team member
    assert stranger.status_code == 400 and stranger.json()["code"] == "not_a_physician"
    assert reading_list.assignments.count() == 2


# --- merge ------------------------------------------------------------------------------------

def test_an_admin_merges_reads_into_a_new_truth_version(review_world):
    w = review_world
    reading_list = read_study(w)
    client = factories.api_client_for(w.admin)
    url = f"{API}{reading_list.pk}/merge/"
    too_long = client.post(url, {"note": "x" * 2001}, format="json")
    assert too_long.status_code == 400 and "note" in too_long.json()["fields"]
    response = client.post(url, {"note": "panel consensus"}, format="json")
    assert response.status_code == 201, response.content
    merge = ReadingMerge.objects.get()
    assert response.json() == {"id": merge.pk, "rule": "majority", "from_version": 1,
                               "to_version": 2, "changed": ["c-000"], "unresolved": ["c-002"]}
    w.phase.refresh_from_db()
    assert w.phase.truth_version == 2
    assert GroundTruth.objects.get(case=w.cases["c-000"], version=2).value == "absent"
    correction = AuditEvent.objects.get(action="truths.correct")
    assert correction.detail["reason"] == "panel consensus"
    assert correction.detail["cases"] == ["c-000"]
    assert audited("review.reads_merged") == 1


def test_merging_a_list_nothing_resolves_is_a_conflict(review_world):
    w = review_world
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Unread")
    response = factories.api_client_for(w.admin).post(f"{API}{reading_list.pk}/merge/", {},
                                                      format="json")
    assert response.status_code == 409 and response.json()["code"] == "nothing_to_merge"
    assert not ReadingMerge.objects.exists()


# --- reference rows -----------------------------------------------------------------------------

def test_an_admin_scores_reference_rows_the_society_side_lists(review_world):
    w = review_world
    reading_list = read_study(w, case_ids=("c-000", "c-001"))
    url = f"{API}{reading_list.pk}/references/"
    response = factories.api_client_for(w.admin).post(url)
    assert response.status_code == 201, response.content
    rows = response.json()
    stored = ReferenceRow.objects.filter(reading_list=reading_list)
    assert sorted(r["id"] for r in rows) == sorted(stored.values_list("pk", flat=True))
    assert sorted((r["kind"], r["reader_number"], r["name"]) for r in rows) == [
        ("consensus", None, "Reader consensus"), ("reader", 1, "Reader 1"),
        ("reader", 2, "Reader 2")]
    assert all(r["n_cases"] == 2 and r["truth_version"] == 1 and r["current"]
               and not r["published"] and r["cells"] for r in rows)
    assert audited("review.reference_scored") == 1
    for user in (w.physician, w.steward):
        listed = factories.api_client_for(user).get(url)
        assert listed.status_code == 200 and listed.json() == rows


def test_no_common_cases_is_a_conflict(review_world):
    w = review_world
    reading_list = reading_list_create(actor=w.admin, phase=w.phase, title="Unread")
    readers_assign(actor=w.admin, reading_list=reading_list, usernames=["dr-tanaka"])
    response = factories.api_client_for(w.admin).post(f"{API}{reading_list.pk}/references/")
    assert response.status_code == 409 and response.json()["code"] == "no_common_cases"
    assert not ReferenceRow.objects.exists()


def test_an_admin_publishes_names_and_withdraws_a_reference_row(review_world):
    w = review_world
    reading_list = read_study(w, case_ids=("c-000", "c-001"))
    row = reference_rows_compute(actor=w.admin, reading_list=reading_list)[0]
    client = factories.api_client_for(w.admin)
    url = f"{API}{reading_list.pk}/references/{row.pk}/"
    response = client.patch(url, {"published": True, "public_name": "Dr. T"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["published"], response.json()["name"]) == (
        row.pk, True, "Dr. T")
    row.refresh_from_db()
    assert (row.published, row.public_name) == (True, "Dr. T")
    assert audited("review.reference_published") == 1
    withdrawn = client.patch(url, {"published": False}, format="json").json()
    assert (withdrawn["published"], withdrawn["public_name"]) == (False, "Dr. T")  # name kept
    row.refresh_from_db()
    assert not row.published and audited("review.reference_withdrawn") == 1
    long_name = client.patch(url, {"public_name": "x" * 101}, format="json")
    assert long_name.status_code == 400 and "public_name" in long_name.json()["fields"]
    unprintable = client.patch(url, {"published": True, "public_name": "a\x07b"}, format="json")
    assert unprintable.status_code == 400 and unprintable.json()["code"] == "bad_name"
    other = reading_list_create(actor=w.admin, phase=w.phase, title="Other")
    elsewhere = client.patch(f"{API}{other.pk}/references/{row.pk}/", {"published": True},
                             format="json")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "reference_row_not_found"
    row.refresh_from_db()
    assert not row.published


# --- who may --------------------------------------------------------------------------------------

def _writes(reading_list: ReadingList, row: ReferenceRow) -> list[tuple[str, str, dict]]:
    base = f"{API}{reading_list.pk}/"
    return [("post", API, {"title": "Mine"}),
            ("post", base + "readers/", {"usernames": ["jrs-admin"]}),
            ("post", base + "merge/", {"note": "mine"}),
            ("post", base + "references/", {}),
            ("patch", f"{base}references/{row.pk}/", {"published": True})]


def _unchanged(w, reading_list: ReadingList, row: ReferenceRow) -> None:
    w.phase.refresh_from_db()
    row.refresh_from_db()
    assert ReadingList.objects.count() == 1 and reading_list.assignments.count() == 2
    assert w.phase.truth_version == 1 and not ReadingMerge.objects.exists()
    assert not row.published and audited("review.reference_scored") == 1


@pytest.mark.parametrize(("who", "status"), [
    ("physician", 403), ("steward", 403),  # they see the list; its services refuse the write
    ("member", 404), ("other_physician", 404),  # a team member, another society's physician
])
def test_only_admins_write_others_are_refused_or_see_nothing(review_world, who, status):
    w = review_world
    reading_list = read_study(w, case_ids=("c-000", "c-001"))
    row = reference_rows_compute(actor=w.admin, reading_list=reading_list)[0]
    client = factories.api_client_for(getattr(w, who))
    for method, url, body in _writes(reading_list, row):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == status, (url, response.content)
        assert response.json()["code"] == (
            "not_society_admin" if status == 403 else "review_not_found")
    listed = client.get(f"{API}{reading_list.pk}/references/")
    assert listed.status_code == (200 if status == 403 else 404)
    if status == 404:
        assert "Reader" not in listed.content.decode()
    _unchanged(w, reading_list, row)
