"""Team members: leads remove members and change roles, members leave, and a team always keeps
a lead. Services, REST API and web pages, with their refusals. (Joining is by invitation:
test_team_invitations.py.)"""

import pytest

from accounts.models import TeamMembership, TeamRole
from accounts.services import (
    team_member_add,
    team_membership_leave,
    team_membership_remove,
    team_membership_role_change,
)
from audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


def roles(team) -> dict[str, str]:
    return dict(TeamMembership.objects.filter(team=team).values_list("user__username", "role"))


api_as, refused = factories.api_client_for, factories.refused


# --- services ---------------------------------------------------------------------------------

def test_role_changes_keep_a_lead(world, dave):
    refused("last_lead", team_membership_role_change, team=world.team, actor=world.member,
            username="alice", role=TeamRole.MEMBER)
    refused("not_a_team_lead", team_membership_role_change, team=world.team, actor=dave,
            username="dave", role=TeamRole.LEAD)

    team_membership_role_change(team=world.team, actor=world.member, username="dave",
                                role=TeamRole.LEAD)
    team_membership_role_change(team=world.team, actor=world.member, username="alice",
                                role=TeamRole.MEMBER)

    assert roles(world.team) == {"alice": "member", "dave": "lead"}
    assert list(AuditEvent.objects.filter(action="team.member_role").values_list(
        "detail__user", "detail__role", "detail__previous")) == [
        ("dave", "lead", "member"), ("alice", "member", "lead")]


def test_a_lead_removes_members_but_not_the_last_lead(world, dave):
    refused("not_a_member", team_membership_remove, team=world.team, actor=world.member,
            username="bob")
    refused("last_lead", team_membership_remove, team=world.team, actor=world.member,
            username="alice")
    refused("not_a_team_lead", team_membership_remove, team=world.team, actor=dave,
            username="alice")

    team_membership_remove(team=world.team, actor=world.member, username="dave")

    assert roles(world.team) == {"alice": "lead"}
    assert AuditEvent.objects.get(action="team.member_remove").detail["user"] == "dave"


def test_members_leave_and_the_last_lead_cannot(world, dave):
    refused("last_lead", team_membership_leave, team=world.team, actor=world.member)
    refused("not_a_member", team_membership_leave, team=world.team, actor=world.outsider)

    team_membership_leave(team=world.team, actor=dave)
    assert roles(world.team) == {"alice": "lead"}

    carol = factories.UserFactory(username="carol")
    team_member_add(team=world.team, user=carol, role=TeamRole.LEAD)
    team_membership_leave(team=world.team, actor=world.member)
    assert roles(world.team) == {"carol": "lead"}
    assert world.team.memberships.get(user=carol).role == TeamRole.LEAD
    assert AuditEvent.objects.filter(action="team.member_leave").count() == 2


# --- REST API ---------------------------------------------------------------------------------

def test_api_lists_my_teams_and_their_members(world, dave):
    team_member_add(team=world.other_team, user=dave, role=TeamRole.MEMBER)

    teams = api_as(dave).get("/api/v1/teams/").json()
    members = api_as(dave).get("/api/v1/teams/team-a/members/").json()
    foreign = api_as(world.outsider).get("/api/v1/teams/team-a/members/")

    assert [(t["slug"], t["role"]) for t in teams] == [("team-a", "member"), ("team-b", "member")]
    assert members == [{"username": "alice", "role": "lead"},
                       {"username": "dave", "role": "member"}]
    assert (foreign.status_code, foreign.json()["code"]) == (404, "team_not_found")


def test_api_lead_manages_members(world, carol, dave):
    lead = api_as(world.member)
    team_member_add(team=world.team, user=carol)

    added = lead.post("/api/v1/teams/team-a/members/", {"username": "carol"}, format="json")
    promoted = lead.patch("/api/v1/teams/team-a/members/dave/", {"role": "lead"}, format="json")
    removed = lead.delete("/api/v1/teams/team-a/members/carol/")

    assert added.status_code == 405  # nobody joins without accepting an invitation
    assert (promoted.status_code, promoted.json()["role"]) == (200, "lead")
    assert removed.status_code == 204
    assert roles(world.team) == {"alice": "lead", "dave": "lead"}


def test_api_refusals_have_codes(world, carol, dave):
    member = api_as(dave)

    not_lead = member.post("/api/v1/teams/team-a/invitations/", {"invitee": "carol"},
                           format="json")
    bad_role = api_as(world.member).patch("/api/v1/teams/team-a/members/dave/",
                                          {"role": "owner"}, format="json")
    last_lead = api_as(world.member).delete("/api/v1/teams/team-a/members/alice/")
    foreign = api_as(world.outsider).delete("/api/v1/teams/team-a/members/dave/")

    assert (not_lead.status_code, not_lead.json()["code"]) == (403, "not_a_team_lead")
    assert (bad_role.status_code, bad_role.json()["code"]) == (400, "invalid")
    assert (last_lead.status_code, last_lead.json()["code"]) == (409, "last_lead")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "team_not_found")
    assert roles(world.team) == {"alice": "lead", "dave": "member"}


def test_api_a_member_leaves_by_deleting_themselves(world, dave):
    assert api_as(dave).delete("/api/v1/teams/team-a/members/dave/").status_code == 204
    assert roles(world.team) == {"alice": "lead"}


# --- web pages --------------------------------------------------------------------------------

def test_my_teams_page_and_a_team_page(world, dave, client):
    client.force_login(world.member)

    listing = client.get("/accounts/teams/").content.decode()
    page = client.get("/accounts/teams/team-a/").content.decode()

    assert 'href="/accounts/teams/team-a/"' in listing and "team-b" not in listing
    assert "dave" in page and 'action="/accounts/teams/team-a/invitations/"' in page
    assert 'href="/challenges/lesions/"' in page  # the team's (approved) registration
    assert "/challenges/lesions/registrations/" in page  # ... which a member may withdraw


def test_a_member_sees_the_team_but_no_management_forms(world, dave, client):
    client.force_login(dave)

    page = client.get("/accounts/teams/team-a/").content.decode()

    assert "alice" in page and "/invitations/" not in page and "/remove/" not in page


def test_other_people_do_not_see_the_team_page(world, client):
    client.force_login(world.outsider)

    assert client.get("/accounts/teams/team-a/").status_code == 404


def test_web_lead_adds_changes_and_removes(world, carol, dave, client):
    client.force_login(world.member)

    team_member_add(team=world.team, user=carol)
    client.post("/accounts/teams/team-a/members/dave/role/", {"role": "lead"})
    client.post("/accounts/teams/team-a/members/carol/remove/")

    assert roles(world.team) == {"alice": "lead", "dave": "lead"}


def test_web_refusals_show_a_message_and_change_nothing(world, carol, dave, client):
    client.force_login(world.member)

    no_role = client.post("/accounts/teams/team-a/invitations/", {"invitee": "carol"},
                          follow=True)
    leave = client.post("/accounts/teams/team-a/leave/", follow=True)

    assert "Role: This field is required." in no_role.content.decode()
    assert "A team needs a lead" in leave.content.decode()
    assert roles(world.team) == {"alice": "lead", "dave": "member"}


def test_web_a_member_leaves(world, dave, client):
    client.force_login(dave)

    response = client.post("/accounts/teams/team-a/leave/", follow=True)

    assert response.redirect_chain[-1][0] == "/accounts/teams/"
    assert roles(world.team) == {"alice": "lead"}
