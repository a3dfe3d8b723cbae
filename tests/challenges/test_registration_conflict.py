"""Conflicts of interest in registration decisions: a society admin (or operator) who is a member
of a team does not decide that team's registration, and the society's list says so."""

import pytest

from accounts.services import team_member_add
from audit.models import AuditEvent
from challenges.models import RegistrationStatus
from challenges.services_registration import registration_decide, registration_request
from tests import factories

pytestmark = pytest.mark.django_db
api_as, refused = factories.api_client_for, factories.refused


@pytest.fixture
def atlas(world):
    phase = factories.PhaseFactory(challenge__society=world.society, challenge__slug="atlas",
                                   challenge__title="Atlas")
    return phase.challenge


@pytest.fixture
def conflicted_admin(world):
    """An admin of the society who is also a member of team-a."""
    admin = factories.society_member(world.society, "admin", "jrs-admin")
    team_member_add(team=world.team, user=admin)
    return admin


def test_an_admin_does_not_decide_their_own_teams_registration(world, atlas, conflicted_admin):
    mine = registration_request(challenge=atlas, team=world.team, actor=world.member)
    theirs = registration_request(challenge=atlas, team=world.other_team, actor=world.outsider)
    operator = factories.UserFactory(username="operator", is_staff=True)
    team_member_add(team=world.team, user=operator)

    error = refused("conflict_of_interest", registration_decide, registration=mine,
                    actor=conflicted_admin, approve=True)
    refused("conflict_of_interest", registration_decide, registration=mine, actor=operator,
            approve=False)

    assert "team-a" in error.message
    mine.refresh_from_db()
    assert mine.status == RegistrationStatus.PENDING
    assert registration_decide(registration=theirs, actor=conflicted_admin,
                               approve=True).status == RegistrationStatus.APPROVED
    assert list(AuditEvent.objects.filter(action="registration.decide").values_list(
        "detail__team", flat=True)) == ["team-b"]


def test_the_api_refuses_with_the_code(world, atlas, conflicted_admin):
    mine = registration_request(challenge=atlas, team=world.team, actor=world.member)

    response = api_as(conflicted_admin).post(f"/api/v1/registrations/{mine.pk}/decision/",
                                             {"approve": True}, format="json")

    assert (response.status_code, response.json()["code"]) == (403, "conflict_of_interest")
    mine.refresh_from_db()
    assert mine.status == RegistrationStatus.PENDING


def test_the_list_shows_the_own_teams_registration_as_not_decidable(world, atlas,
                                                                     conflicted_admin, client):
    mine = registration_request(challenge=atlas, team=world.team, actor=world.member)
    theirs = registration_request(challenge=atlas, team=world.other_team, actor=world.outsider)
    factories.login_verified(client, conflicted_admin)

    page = client.get("/challenges/atlas/registrations/").content.decode()
    refused_post = client.post(f"/challenges/atlas/registrations/{mine.pk}/decide/",
                               {"decision": "approve", "reason": ""}, follow=True)

    assert f"/registrations/{theirs.pk}/decide/" in page
    assert f"/registrations/{mine.pk}/decide/" not in page
    assert page.count("data-conflict") == 1
    assert "you are a member of this team" in page
    assert "another admin of the society decides" in refused_post.content.decode()
    mine.refresh_from_db()
    assert mine.status == RegistrationStatus.PENDING
