"""The review API (review/apis.py, review/apis_cases.py): the same people, selectors, services
and audit events as the review pages; blinding and conflicts of interest hold through it too,
and bad input gets a JSON 400."""

import pytest

from accounts.models import TeamMembership
from audit.models import AuditEvent
from challenges.models import GroundTruth, Phase
from review.models import CaseFlag, CaseVerdict, ConflictOfInterest, FlagStatus, ReviewSettings
from tests import factories

pytestmark = pytest.mark.django_db

API = "/api/v1/challenges/lesions/phases/test/review/"
CASE = API + "cases/c-004/"


def codes(body):
    return sorted(p["code"] for p in body["predictions"])


def test_a_queue_lists_its_cases_with_its_explanation_and_is_audited(review_world):
    client = factories.api_client_for(review_world.physician)
    response = client.get(API + "queues/", {"queue": "label-errors"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["queue"] == "label-errors" and "most algorithms get wrong" in body["explanation"]
    assert [item["case_id"] for item in body["items"]] == ["c-004"]
    assert body["items"][0]["note"].startswith("3 of 3 algorithms")
    assert [a["code"] for a in body["algorithms"]] and body["blinded"] is True
    event = AuditEvent.objects.get(action="review.queue_viewed")
    assert event.actor == review_world.physician
    assert event.detail == {"queue": "label-errors", "cases": ["c-004"], "submission": None,
                            "via": "api"}
    random = client.get(API + "queues/", {"queue": "random", "seed": 7}).json()
    again = client.get(API + "queues/", {"queue": "random", "seed": 7}).json()
    assert random["items"] == again["items"] and len(random["items"]) == 6


def test_worst_queue_follows_the_chosen_algorithm(review_world):
    body = factories.api_client_for(review_world.physician).get(
        API + "queues/", {"queue": "worst", "algorithm": "A"}).json()
    assert body["algorithm"] == "A" and body["items"][0]["case_id"] == "c-004"
    event = AuditEvent.objects.get(action="review.queue_viewed")
    assert event.detail["submission"] == review_world.submissions["team-a"].pk


def test_the_case_shows_truth_blinded_predictions_and_is_audited(review_world):
    w = review_world
    response = factories.api_client_for(w.physician).get(CASE)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["truth"]["version"] == 1 and body["truth"]["label"] == "present"
    assert codes(body) == ["A", "B", "C"] and body["blinded"] is True
    assert {p["name"] for p in body["predictions"]} == {"Algorithm A", "Algorithm B",
                                                        "Algorithm C"}
    text = response.content.decode()
    for slug, team in w.teams.items():
        assert slug not in text and team.name not in text
    event = AuditEvent.objects.get(action="review.case_viewed")
    assert event.target_id == str(w.cases["c-004"].pk)
    assert event.detail["via"] == "api" and sorted(event.detail["submissions"]) == sorted(
        s.pk for s in w.submissions.values())


def test_unblinded_the_case_names_teams(review_world):
    w = review_world
    ReviewSettings.objects.create(phase=w.phase, blinded=False, updated_by=w.admin)
    body = factories.api_client_for(w.physician).get(CASE).json()
    assert body["blinded"] is False
    assert any(w.teams["team-a"].name in p["name"] for p in body["predictions"])


def test_a_physician_never_sees_their_own_or_a_declared_teams_prediction(review_world):
    w = review_world
    TeamMembership.objects.create(user=w.physician, team=w.teams["team-a"], role="member")
    client = factories.api_client_for(w.physician)
    body = client.get(CASE).json()
    assert codes(body) == ["B", "C"]
    assert w.submissions["team-a"].pk not in AuditEvent.objects.get(
        action="review.case_viewed").detail["submissions"]
    assert "A" not in [a["code"] for a in client.get(API + "queues/").json()["algorithms"]]
    refused = client.post(CASE + "verdicts/", {"prediction": "A", "verdict": "incorrect"},
                          format="json")
    assert refused.status_code == 404 and refused.json()["code"] == "prediction_not_found"
    assert codes(factories.api_client_for(w.conflicted).get(CASE).json()) == ["A", "B"]
    declared = client.post("/api/v1/review/conflicts/", {"team": "team-b", "note": "co-author"},
                           format="json")
    assert declared.status_code == 201 and declared.json()["team"] == "team-b"
    assert ConflictOfInterest.objects.get().user == w.physician
    assert codes(client.get(CASE).json()) == ["C"]
    assert not CaseVerdict.objects.exists()


def test_verdicts_and_flags_are_recorded_through_the_services(review_world):
    w = review_world
    client = factories.api_client_for(w.physician)
    response = client.post(CASE + "verdicts/", {"prediction": "A", "verdict": "incorrect",
                                                "comment": "missed"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"case_id": "c-004", "prediction": "A", "verdict": "incorrect",
                               "comment": "missed"}
    verdict = CaseVerdict.objects.get()
    assert (verdict.submission, verdict.reviewer) == (w.submissions["team-a"], w.physician)
    assert AuditEvent.objects.filter(action="review.verdict_recorded").count() == 1
    flagged = client.post(CASE + "flags/", {"reason": "looks absent"}, format="json")
    assert flagged.status_code == 201, flagged.content
    assert flagged.json()["status"] == "open" and flagged.json()["case_id"] == "c-004"
    assert CaseFlag.objects.get().reason == "looks absent"
    body = client.get(CASE).json()
    mine = next(p for p in body["predictions"] if p["code"] == "A")["my_verdict"]
    assert mine == {"verdict": "incorrect", "comment": "missed"}
    assert [f["reason"] for f in body["flags"]] == ["looks absent"]


def test_bad_input_is_a_json_400(review_world):
    client = factories.api_client_for(review_world.physician)
    for url, params in [(API + "queues/", {"queue": "nope"}), (API + "queues/", {"seed": "x"}),
                        (API + "queues/", {"queue": ""}), (API + "flags/", {"status": "x"}),
                        (CASE, {"frame": "-1"})]:
        response = client.get(url, params)
        assert response.status_code == 400, (url, params, response.content)
        assert response.json()["code"]
    for url, data in [(CASE + "verdicts/", {"prediction": "A", "verdict": "maybe"}),
                      (CASE + "verdicts/", {"verdict": "correct"}),
                      (CASE + "flags/", {"reason": ""}),
                      (CASE + "flags/", {"reason": "x" * 2001}),
                      ("/api/v1/review/conflicts/", {"team": "no such team!"})]:
        response = client.post(url, data, format="json")
        assert response.status_code == 400, (url, data, response.content)
        assert response.json()["code"]
    unknown = client.post("/api/v1/review/conflicts/", {"team": "nobody"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "team_not_found"
    assert client.get(API + "cases/c-999/").status_code == 404
    assert not CaseVerdict.objects.exists() and not CaseFlag.objects.exists()
    assert not ConflictOfInterest.objects.exists()


def test_flags_are_listed_and_resolved_by_admins_only(review_world, monkeypatch):
    w = review_world
    queued = []
    monkeypatch.setattr("evaluation.tasks.enqueue_reevaluate", lambda *args: queued.append(args))
    physician = factories.api_client_for(w.physician)
    physician.post(CASE + "flags/", {"reason": "looks absent"}, format="json")
    physician.post(API + "cases/c-001/flags/", {"reason": "maybe present"}, format="json")
    first, second = CaseFlag.objects.order_by("pk")
    listed = physician.get(API + "flags/").json()
    assert [f["case_id"] for f in listed["flags"]] == ["c-004", "c-001"]
    assert listed["truths"] == {"c-004": "present", "c-001": "absent"}
    viewed = AuditEvent.objects.get(action="review.flags_viewed")
    assert viewed.detail == {"cases": ["c-001", "c-004"], "truth_version": 1, "via": "api"}
    resolve = API + f"flags/{first.pk}/resolve/"
    refused = physician.post(resolve, {"action": "correct", "label": "absent"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "not_society_admin"
    assert Phase.objects.get(pk=w.phase.pk).truth_version == 1
    admin = factories.api_client_for(w.admin)
    assert admin.post(resolve, {"action": "burn"}, format="json").status_code == 400
    assert admin.post(API + "flags/999999/resolve/", {"action": "dismiss"},
                      format="json").status_code == 404
    with_correction = admin.post(resolve, {"action": "correct", "label": "absent",
                                           "note": "re-read", "reevaluate": True}, format="json")
    assert with_correction.status_code == 200, with_correction.content
    body = with_correction.json()
    assert body["truth_version"] == 2 and body["flag"]["status"] == "resolved"
    assert body["flag"]["resolved_by"] == "jrs-admin"
    assert Phase.objects.get(pk=w.phase.pk).truth_version == 2
    assert GroundTruth.objects.get(case=w.cases["c-004"], version=2).value == "absent"
    dismissed = admin.post(API + f"flags/{second.pk}/resolve/", {"action": "dismiss"},
                           format="json")
    assert dismissed.status_code == 200 and dismissed.json()["truth_version"] is None
    second.refresh_from_db()
    assert second.status == FlagStatus.DISMISSED
    decided = physician.get(API + "flags/", {"status": "dismissed"}).json()
    assert [f["case_id"] for f in decided["flags"]] == ["c-001"]


def test_settings_and_reevaluation_are_for_admins(review_world, django_capture_on_commit_callbacks,
                                                  monkeypatch):
    w = review_world
    queued = []
    monkeypatch.setattr("evaluation.tasks.enqueue_reevaluate", lambda *args: queued.append(args))
    physician = factories.api_client_for(w.physician)
    assert physician.get(API + "settings/").json() == {"blinded": True}
    refused = physician.patch(API + "settings/", {"blinded": False}, format="json")
    assert refused.status_code == 403 and not ReviewSettings.objects.exists()
    assert physician.post(API + "reevaluate/").status_code == 403
    admin = factories.api_client_for(w.admin)
    assert admin.patch(API + "settings/", {"blinded": "maybe"}, format="json").status_code == 400
    changed = admin.patch(API + "settings/", {"blinded": False}, format="json")
    assert changed.status_code == 200 and changed.json() == {"blinded": False}
    assert ReviewSettings.objects.get().blinded is False
    assert AuditEvent.objects.filter(action="review.settings_changed").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(API + "reevaluate/")
    assert response.status_code == 202 and queued == [(w.phase.pk, w.admin.pk)]


def test_teams_and_other_societies_get_404_and_leave_no_audit(review_world):
    w = review_world
    flag = CaseFlag.objects.create(case=w.cases["c-004"], raised_by=w.physician, reason="x",
                                   truth_version=1)
    for user in (w.member, w.other_physician):
        client = factories.api_client_for(user)
        for url in (API + "queues/", API + "flags/", API + "settings/", CASE):
            assert client.get(url).status_code == 404, (user, url)
        for url, data in [(CASE + "verdicts/", {"prediction": "A", "verdict": "correct"}),
                          (CASE + "flags/", {"reason": "x"}),
                          (API + f"flags/{flag.pk}/resolve/", {"action": "dismiss"}),
                          (API + "reevaluate/", {})]:
            assert client.post(url, data, format="json").status_code == 404, (user, url)
        assert client.patch(API + "settings/", {"blinded": False},
                            format="json").status_code == 404
    member = factories.api_client_for(w.member)
    assert member.post("/api/v1/review/conflicts/", {"team": "team-b"},
                       format="json").status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="review.").exists()
    assert not CaseVerdict.objects.exists() and CaseFlag.objects.count() == 1
    assert not ReviewSettings.objects.exists()


def test_the_case_image_is_a_png_windowed_as_asked_and_audited(review_world):
    from io import BytesIO

    from PIL import Image

    client = factories.api_client_for(review_world.physician)
    response = client.get(API + "cases/c-000/image/", {"preset": "lung", "size": 64})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    assert max(Image.open(BytesIO(response.content)).size) == 64
    event = AuditEvent.objects.get(action="review.rendering_viewed")
    assert event.detail["via"] == "api" and event.detail["window"] == "lung"
    placeholder = client.get(API + "cases/c-001/image/")  # not an image: the grey placeholder
    assert placeholder.status_code == 200 and placeholder["X-Enclave-Render"] == "failed"
    for params in ({"center": 40}, {"size": 1}, {"preset": "nope"}, {"frame": ""}):
        bad = client.get(API + "cases/c-000/image/", params)
        assert bad.status_code == 400 and bad.json()["code"], params
    assert factories.api_client_for(review_world.member).get(
        API + "cases/c-000/image/").status_code == 404
    assert AuditEvent.objects.filter(action="review.rendering_viewed").count() == 2
