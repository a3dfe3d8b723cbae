"""Team registration: a team asks to take part in a challenge, the society decides, and only an
approved team may submit. Services, REST API and web pages, with their refusals."""

import pytest

from audit.models import AuditEvent
from challenges.models import Registration, RegistrationMode, RegistrationStatus
from challenges.services_registration import registration_decide, registration_request, registration_withdraw
from evaluation import services as evaluation
from evaluation.models import Submission
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def atlas(world):
    """A second published challenge of the society, with a ready phase; no team registered."""
    phase = factories.PhaseFactory(challenge__society=world.society, challenge__slug="atlas",
                                   challenge__title="Atlas")
    factories.add_cases(phase, ["present", "absent"], prefix="atlas")
    return phase.challenge


@pytest.fixture
def admin(world):
    return factories.society_member(world.society, "admin", "jrs-admin")


api_as, refused = factories.api_client_for, factories.refused


# --- services ---------------------------------------------------------------------------------

def test_a_request_waits_for_the_society_and_is_audited(world, atlas):
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member,
                                        message="  Lab of imaging, 3 people.  ")

    assert registration.status == RegistrationStatus.PENDING
    assert registration.message == "Lab of imaging, 3 people."
    assert registration.requested_by == world.member and registration.decided_at is None
    event = AuditEvent.objects.get(action="registration.request")
    assert (event.actor, event.target_id) == (world.member, str(registration.pk))
    assert event.detail == {"challenge": "atlas", "team": "team-a", "status": "pending"}


def test_open_registration_approves_at_once(world, atlas):
    atlas.registration_mode = RegistrationMode.OPEN
    atlas.save()

    registration = registration_request(challenge=atlas, team=world.team, actor=world.member)

    assert registration.status == RegistrationStatus.APPROVED
    assert registration.decided_at is not None and registration.decided_by is None


def test_requests_that_are_refused_store_nothing(world, atlas):
    draft = factories.ChallengeFactory(society=world.society, slug="draft", is_published=False)

    refused("not_a_team_member", registration_request, challenge=atlas, team=world.team,
            actor=world.outsider)
    refused("challenge_not_published", registration_request, challenge=draft, team=world.team,
            actor=world.member)
    refused("message_too_long", registration_request, challenge=atlas, team=world.team,
            actor=world.member, message="x" * 2001)

    assert not Registration.objects.filter(challenge__in=[atlas, draft]).exists()
    assert not AuditEvent.objects.filter(action="registration.request").exists()


def test_a_pending_or_approved_team_cannot_ask_twice(world, atlas, admin):
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member)
    refused("already_registered", registration_request, challenge=atlas, team=world.team,
            actor=world.member)

    registration_decide(registration=registration, actor=admin, approve=True)

    refused("already_registered", registration_request, challenge=atlas, team=world.team,
            actor=world.member)


def test_a_rejected_or_withdrawn_team_may_ask_again(world, atlas, admin):
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member)
    registration_decide(registration=registration, actor=admin, approve=False,
                        reason="Please describe your method.")

    again = registration_request(challenge=atlas, team=world.team, actor=world.member,
                                 message="We use a CNN.")
    assert (again.pk, again.status, again.decided_by, again.decision_reason) == (
        registration.pk, RegistrationStatus.PENDING, None, "")

    registration_withdraw(registration=again, actor=world.member)
    third = registration_request(challenge=atlas, team=world.team, actor=world.member)
    assert third.status == RegistrationStatus.PENDING
    assert Registration.objects.filter(challenge=atlas).count() == 1


def test_only_the_society_admins_and_operators_decide(world, atlas, admin):
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member)
    other_admin = factories.society_member(factories.SocietyFactory(slug="jsp"), "admin", "jsp")
    for user in (world.member, world.physician, world.steward, other_admin):
        refused("not_a_society_admin", registration_decide, registration=registration,
                actor=user, approve=True)
    registration.refresh_from_db()
    assert registration.status == RegistrationStatus.PENDING

    decided = registration_decide(registration=registration, actor=admin, approve=True,
                                  reason="Welcome.")
    assert (decided.status, decided.decided_by, decided.decision_reason) == (
        RegistrationStatus.APPROVED, admin, "Welcome.")
    operator = factories.UserFactory(username="operator", is_staff=True)
    assert registration_decide(registration=decided, actor=operator,
                               approve=False).status == RegistrationStatus.REJECTED
    assert list(AuditEvent.objects.filter(action="registration.decide").values_list(
        "actor__username", "detail__status")) == [("jrs-admin", "approved"),
                                                  ("operator", "rejected")]


def test_withdrawing(world, atlas, admin):
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member)
    refused("not_a_team_member", registration_withdraw, registration=registration,
            actor=world.outsider)

    withdrawn = registration_withdraw(registration=registration, actor=world.member)

    assert withdrawn.status == RegistrationStatus.WITHDRAWN
    assert AuditEvent.objects.filter(action="registration.withdraw").count() == 1
    refused("registration_not_active", registration_withdraw, registration=withdrawn,
            actor=world.member)
    refused("registration_withdrawn", registration_decide, registration=withdrawn, actor=admin,
            approve=True)


# --- submissions need an approved registration ------------------------------------------------

@pytest.mark.parametrize("status", [None, "pending", "rejected", "withdrawn"])
def test_a_team_without_an_approved_registration_cannot_submit(world, atlas, status):
    if status:
        factories.register_team(atlas, world.team, status=status)
    image = factories.image_record(world.team, world.member)

    error = refused("not_registered", evaluation.submission_create, user=world.member,
                    team=world.team, phase=atlas.phases.get(), image=image)

    assert error.status == 403
    assert Submission.objects.count() == 0


def test_an_approved_team_submits(world, atlas, admin, monkeypatch):
    monkeypatch.setattr("evaluation.tasks.enqueue_run", lambda *args, **kwargs: None)
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member)
    registration_decide(registration=registration, actor=admin, approve=True)

    submission = evaluation.submission_create(
        user=world.member, team=world.team, phase=atlas.phases.get(),
        image=factories.image_record(world.team, world.member))

    assert submission.status == "queued"


def test_the_submission_api_refuses_an_unregistered_team(world, atlas):
    image = factories.image_record(world.team, world.member)

    response = api_as(world.member).post("/api/v1/submissions/", {
        "challenge": "atlas", "phase": "test", "team": "team-a", "image": image.image_id},
        format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "not_registered"
    assert Submission.objects.count() == 0


def test_the_submit_page_says_so_and_links_to_registration(world, atlas, client):
    image = factories.image_record(world.team, world.member)
    client.force_login(world.member)

    page = client.post("/challenges/atlas/test/submit/", {"team": "team-a", "image": image.pk})

    html = page.content.decode()
    assert page.status_code == 200
    assert "not registered for this challenge" in html
    assert 'href="/challenges/atlas/#registration"' in html
    assert Submission.objects.count() == 0


# --- REST API ---------------------------------------------------------------------------------

def test_api_request_list_and_filter(world, atlas, admin):
    mine = api_as(world.member).post("/api/v1/challenges/atlas/registrations/",
                                     {"team": "team-a", "message": "hello"}, format="json")
    theirs = api_as(world.outsider).post("/api/v1/challenges/atlas/registrations/",
                                         {"team": "team-b"}, format="json")
    assert mine.status_code == 201, mine.content
    assert (mine.json()["team"], mine.json()["status"], mine.json()["requested_by"]) == (
        "team-a", "pending", "alice")
    registration_decide(registration=Registration.objects.get(pk=theirs.json()["id"]),
                        actor=admin, approve=True)

    team_view = api_as(world.member).get("/api/v1/challenges/atlas/registrations/").json()
    society_view = api_as(world.physician).get("/api/v1/challenges/atlas/registrations/").json()
    pending = api_as(admin).get("/api/v1/challenges/atlas/registrations/?status=pending").json()

    assert [r["team"] for r in team_view] == ["team-a"]
    assert [r["team"] for r in society_view] == ["team-a", "team-b"]
    assert [r["team"] for r in pending] == ["team-a"]
    assert api_as(world.outsider).get(
        "/api/v1/challenges/atlas/registrations/").json()[0]["team"] == "team-b"


def test_api_refusals_have_codes(world, atlas):
    client = api_as(world.member)
    url = "/api/v1/challenges/atlas/registrations/"

    not_mine = client.post(url, {"team": "team-b"}, format="json")
    bad_status = client.get(url + "?status=maybe")
    no_challenge = client.post("/api/v1/challenges/nope/registrations/", {"team": "team-a"},
                               format="json")
    first = client.post(url, {"team": "team-a"}, format="json")
    twice = client.post(url, {"team": "team-a"}, format="json")

    assert (not_mine.status_code, not_mine.json()["code"]) == (403, "not_a_team_member")
    assert (bad_status.status_code, bad_status.json()["code"]) == (400, "invalid")
    assert "status" in bad_status.json()["fields"]
    assert (no_challenge.status_code, no_challenge.json()["code"]) == (404, "challenge_not_found")
    assert first.status_code == 201
    assert (twice.status_code, twice.json()["code"]) == (409, "already_registered")
    assert Registration.objects.filter(challenge=atlas).count() == 1


def test_api_decision_and_withdrawal(world, atlas, admin):
    pk = api_as(world.member).post("/api/v1/challenges/atlas/registrations/",
                                   {"team": "team-a"}, format="json").json()["id"]
    decision = f"/api/v1/registrations/{pk}/decision/"

    by_physician = api_as(world.physician).post(decision, {"approve": True}, format="json")
    by_other_team = api_as(world.outsider).post(decision, {"approve": True}, format="json")
    malformed = api_as(admin).post(decision, {"reason": "no verdict"}, format="json")
    by_admin = api_as(admin).post(decision, {"approve": True, "reason": "ok"}, format="json")

    assert (by_physician.status_code, by_physician.json()["code"]) == (403, "not_a_society_admin")
    assert (by_other_team.status_code, by_other_team.json()["code"]) == (
        404, "registration_not_found")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "invalid")
    assert by_admin.status_code == 200
    assert (by_admin.json()["status"], by_admin.json()["decided_by"]) == ("approved", "jrs-admin")

    withdraw = f"/api/v1/registrations/{pk}/withdraw/"
    assert api_as(world.outsider).post(withdraw).status_code == 404
    assert api_as(admin).post(withdraw).json()["code"] == "not_a_team_member"
    withdrawn = api_as(world.member).post(withdraw)
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn")
    assert api_as(world.member).post(withdraw).status_code == 409


def test_the_schema_describes_the_registration_api(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    assert {"get", "post"} <= set(schema["paths"]["/api/v1/challenges/{slug}/registrations/"])
    decision = schema["paths"]["/api/v1/registrations/{id}/decision/"]["post"]
    assert {"200", "403", "409"} <= set(decision["responses"])


# --- web pages --------------------------------------------------------------------------------

def test_a_member_registers_the_team_on_the_challenge_page(world, atlas, client):
    client.force_login(world.member)
    page = client.get("/challenges/atlas/").content.decode()
    assert 'action="/challenges/atlas/register/"' in page
    assert "not registered" in page

    response = client.post("/challenges/atlas/register/", {"team": "team-a", "message": "Hi"},
                           follow=True)

    registration = Registration.objects.get(challenge=atlas, team=world.team)
    assert (registration.status, registration.message) == (RegistrationStatus.PENDING, "Hi")
    html = response.content.decode()
    assert "has asked to take part" in html and "waiting for the society" in html
    assert 'action="/challenges/atlas/register/"' not in html  # nothing left to ask for


def test_the_register_form_refuses_a_team_that_is_not_yours(world, atlas, client):
    client.force_login(world.member)

    response = client.post("/challenges/atlas/register/", {"team": "team-b"}, follow=True)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Registration.objects.filter(challenge=atlas).exists()


def test_the_society_page_lists_requests_and_admins_decide(world, atlas, admin, client):
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member,
                                        message="Our lab")
    factories.login_verified(client, world.physician)
    physician_page = client.get("/challenges/atlas/registrations/").content.decode()
    assert "Our lab" in physician_page and "Approve" not in physician_page

    factories.login_verified(client, admin)
    admin_page = client.get("/challenges/atlas/registrations/?status=pending").content.decode()
    assert "Our lab" in admin_page and "Approve" in admin_page
    client.post(f"/challenges/atlas/registrations/{registration.pk}/decide/",
                {"decision": "reject", "reason": "Team too large"})

    registration.refresh_from_db()
    assert (registration.status, registration.decision_reason) == (
        RegistrationStatus.REJECTED, "Team too large")
    assert "Our lab" not in client.get(
        "/challenges/atlas/registrations/?status=pending").content.decode()


def test_teams_do_not_see_the_society_page(world, atlas, client):
    client.force_login(world.member)

    assert client.get("/challenges/atlas/registrations/").status_code == 404


def test_the_team_sees_the_reason_and_may_withdraw(world, atlas, admin, client):
    registration = registration_request(challenge=atlas, team=world.team, actor=world.member)
    registration_decide(registration=registration, actor=admin, approve=True,
                        reason="Welcome aboard")
    client.force_login(world.member)
    assert "Welcome aboard" in client.get("/challenges/atlas/").content.decode()

    client.post(f"/challenges/atlas/registrations/{registration.pk}/withdraw/")

    registration.refresh_from_db()
    assert registration.status == RegistrationStatus.WITHDRAWN
