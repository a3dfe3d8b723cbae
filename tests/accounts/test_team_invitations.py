"""Team invitations: a lead invites by user name or e-mail address, the answer never tells whether
an account exists, the invited person accepts (and only then joins) or declines, invitations
expire and leads revoke them. Services, REST API and web pages, all audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import InvitationStatus, TeamInvitation, TeamMembership, TeamRole
from accounts.selectors import (
    access_invitation_by_invitee,
    invitations_for_user,
    open_invitations_of_team,
)
from accounts.services_invitations import (
    INVITATION_DAYS,
    MAX_OPEN_INVITATIONS,
    team_invitation_accept,
    team_invitation_create,
    team_invitation_decline,
    team_invitation_revoke,
)
from audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
api_as, refused = factories.api_client_for, factories.refused


def members(team) -> dict[str, str]:
    return dict(TeamMembership.objects.filter(team=team).values_list("user__username", "role"))


def invite(world, invitee, role=TeamRole.MEMBER):
    return team_invitation_create(team=world.team, actor=world.member, invitee=invitee, role=role)


# --- services ---------------------------------------------------------------------------------

def test_an_invitation_makes_nobody_a_member_until_accepted(world, carol):
    invitation = invite(world, "carol", role=TeamRole.LEAD)

    assert members(world.team) == {"alice": "lead"}
    assert list(invitations_for_user(carol)) == [invitation]
    assert invitation.expires_at - invitation.created == pytest.approx(
        timedelta(days=INVITATION_DAYS), abs=timedelta(seconds=5))

    membership = team_invitation_accept(invitation=invitation, actor=carol)

    assert (membership.user, membership.role) == (carol, TeamRole.LEAD)
    assert members(world.team) == {"alice": "lead", "carol": "lead"}
    assert list(invitations_for_user(carol)) == []
    assert list(AuditEvent.objects.filter(target_id="team-a").order_by("id").values_list(
        "action", "actor__username")) == [
        ("team.invitation_create", "alice"), ("team.invitation_accept", "carol"),
        ("team.member_add", "carol")]


def test_an_e_mail_address_finds_the_account_whatever_its_case(world, carol):
    invitation = invite(world, "  carol@example.ORG ")

    assert invitation.invitee == "carol@example.ORG"
    assert list(invitations_for_user(carol)) == [invitation]


def test_inviting_an_unknown_name_reads_exactly_like_a_known_one(world, carol):
    known, unknown = invite(world, "carol"), invite(world, "nobody")
    by_mail_known, by_mail_unknown = invite(world, "carol@example.org"), invite(world, "x@y.jp")

    for invitation in (known, unknown, by_mail_known, by_mail_unknown):
        assert invitation.status == InvitationStatus.PENDING
    assert (known.user, unknown.user, by_mail_unknown.user) == (carol, None, None)
    events = AuditEvent.objects.filter(action="team.invitation_create").order_by("id")
    assert [sorted(e.detail) for e in events] == [["invitation", "invitee", "role"]] * 4
    assert set(open_invitations_of_team(world.team)) == {
        known, unknown, by_mail_known, by_mail_unknown}


def test_a_physician_cannot_be_put_on_a_team_without_consent(world):
    """The conflict-of-interest trick: a lead adds a physician of the society to their team."""
    invitation = invite(world, "doctor")
    team_invitation_decline(invitation=invitation, actor=world.physician)

    assert "doctor" not in members(world.team)
    assert AuditEvent.objects.filter(action="team.invitation_decline").count() == 1
    # the lead's list still shows it as open: a decline says the account exists
    assert list(open_invitations_of_team(world.team)) == [invitation]
    refused("already_invited", invite, world=world, invitee="doctor")
    refused("invitation_closed", team_invitation_accept, invitation=invitation,
            actor=world.physician)


def test_inviting_is_refused_only_for_what_the_lead_can_see(world, carol, dave):
    refused("not_a_team_lead", team_invitation_create, team=world.team, actor=dave,
            invitee="carol")
    refused("not_a_team_lead", team_invitation_create, team=world.team, actor=world.outsider,
            invitee="carol")
    refused("bad_role", invite, world=world, invitee="carol", role="owner")
    refused("bad_invitee", invite, world=world, invitee="   ")
    refused("already_a_member", invite, world=world, invitee="dave")
    invite(world, "carol")
    refused("already_invited", invite, world=world, invitee="CAROL")

    assert TeamInvitation.objects.count() == 1


def test_a_member_invited_by_e_mail_gets_nothing_to_accept(world, dave):
    dave.email = "dave@example.org"
    dave.save()

    invitation = invite(world, "dave@example.org")

    assert invitation.user is None and invitation.status == InvitationStatus.PENDING


def test_open_invitations_are_capped_per_team(world, monkeypatch):
    monkeypatch.setattr("accounts.services_invitations.MAX_OPEN_INVITATIONS", 2)
    invite(world, "a1")
    invite(world, "a2")

    refused("too_many_invitations", invite, world=world, invitee="a3")
    assert MAX_OPEN_INVITATIONS >= 2


def test_only_the_invited_person_answers_and_only_once(world, carol, dave):
    invitation = invite(world, "carol")

    refused("invitation_not_found", access_invitation_by_invitee, user=dave, pk=invitation.pk)
    refused("invitation_closed", team_invitation_accept, invitation=invitation, actor=dave)
    team_invitation_decline(invitation=invitation, actor=carol)
    refused("invitation_closed", team_invitation_accept, invitation=invitation, actor=carol)
    refused("invitation_not_found", access_invitation_by_invitee, user=carol, pk=invitation.pk)

    assert members(world.team) == {"alice": "lead", "dave": "member"}


def test_expired_and_revoked_invitations_cannot_be_accepted(world, carol, dave):
    expired, revoked = invite(world, "carol"), invite(world, "carol@example.org")
    TeamInvitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    refused("not_a_team_lead", team_invitation_revoke, invitation=revoked, actor=dave)
    team_invitation_revoke(invitation=revoked, actor=world.member)

    assert list(invitations_for_user(carol)) == []
    assert list(open_invitations_of_team(world.team)) == []
    refused("invitation_closed", team_invitation_accept, invitation=expired, actor=carol)
    refused("invitation_closed", team_invitation_accept, invitation=revoked, actor=carol)
    refused("invitation_closed", team_invitation_revoke, invitation=revoked, actor=world.member)
    assert members(world.team) == {"alice": "lead", "dave": "member"}
    assert AuditEvent.objects.filter(action="team.invitation_revoke").count() == 1
    invite(world, "carol")  # an expired invitation no longer blocks a new one


def test_someone_who_joined_meanwhile_cannot_accept_twice(world, carol):
    first = invite(world, "carol")
    second = team_invitation_create(team=world.team, actor=world.member,
                                    invitee="carol@example.org")
    team_invitation_accept(invitation=first, actor=carol)

    refused("already_a_member", team_invitation_accept, invitation=second, actor=carol)


# --- REST API ---------------------------------------------------------------------------------

def test_api_invite_answers_the_same_for_known_and_unknown_people(world, carol):
    lead = api_as(world.member)

    known = lead.post("/api/v1/teams/team-a/invitations/", {"invitee": "carol"}, format="json")
    unknown = lead.post("/api/v1/teams/team-a/invitations/", {"invitee": "zed"}, format="json")

    assert (known.status_code, unknown.status_code) == (201, 201)
    strip = {"id", "invitee", "created", "expires_at"}
    assert ({k: v for k, v in known.json().items() if k not in strip}
            == {k: v for k, v in unknown.json().items() if k not in strip}
            == {"role": "member", "invited_by": "alice"})
    listed = lead.get("/api/v1/teams/team-a/invitations/").json()
    assert sorted(i["invitee"] for i in listed) == ["carol", "zed"]
    assert members(world.team) == {"alice": "lead"}


def test_api_the_invited_person_lists_accepts_and_declines(world, carol):
    lead, invited = api_as(world.member), api_as(carol)
    first = lead.post("/api/v1/teams/team-a/invitations/", {"invitee": "carol",
                                                            "role": "lead"}, format="json").json()
    team_b = team_invitation_create(team=world.other_team, actor=world.outsider,
                                    invitee="carol@example.org")

    mine = invited.get("/api/v1/invitations/").json()
    accepted = invited.post(f"/api/v1/invitations/{first['id']}/accept/")
    declined = invited.post(f"/api/v1/invitations/{team_b.pk}/decline/")
    again = invited.post(f"/api/v1/invitations/{first['id']}/accept/")

    assert sorted((i["team"], i["role"]) for i in mine) == [("team-a", "lead"),
                                                             ("team-b", "member")]
    assert (accepted.status_code, accepted.json()) == (200, {"username": "carol",
                                                             "role": "lead"})
    assert declined.status_code == 204
    assert (again.status_code, again.json()["code"]) == (404, "invitation_not_found")
    assert members(world.team) == {"alice": "lead", "carol": "lead"}
    assert "carol" not in members(world.other_team)


def test_api_refusals_have_codes(world, carol, dave):
    invitation = invite(world, "carol")

    member_lists = api_as(dave).get("/api/v1/teams/team-a/invitations/")
    member_revokes = api_as(dave).delete(f"/api/v1/teams/team-a/invitations/{invitation.pk}/")
    outsider = api_as(world.outsider).post("/api/v1/teams/team-a/invitations/",
                                           {"invitee": "carol"}, format="json")
    not_theirs = api_as(dave).post(f"/api/v1/invitations/{invitation.pk}/accept/")
    twice = api_as(world.member).post("/api/v1/teams/team-a/invitations/",
                                      {"invitee": "carol"}, format="json")
    revoked = api_as(world.member).delete(f"/api/v1/teams/team-a/invitations/{invitation.pk}/")

    assert (member_lists.status_code, member_lists.json()["code"]) == (403, "not_a_team_lead")
    assert (member_revokes.status_code, member_revokes.json()["code"]) == (403,
                                                                           "not_a_team_lead")
    assert (outsider.status_code, outsider.json()["code"]) == (404, "team_not_found")
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "invitation_not_found")
    assert (twice.status_code, twice.json()["code"]) == (409, "already_invited")
    assert revoked.status_code == 204
    assert TeamInvitation.objects.get(pk=invitation.pk).status == InvitationStatus.REVOKED


def test_the_schema_documents_the_invitation_api(world, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    assert {"get", "post"} <= set(schema["paths"]["/api/v1/teams/{slug}/invitations/"])
    assert "post" not in schema["paths"]["/api/v1/teams/{slug}/members/"]
    assert "post" in schema["paths"]["/api/v1/invitations/{id}/accept/"]
    assert "post" in schema["paths"]["/api/v1/invitations/{id}/decline/"]


# --- web pages --------------------------------------------------------------------------------

def test_web_lead_sees_the_same_message_for_known_and_unknown_people(world, carol, client):
    client.force_login(world.member)

    known = client.post("/accounts/teams/team-a/invitations/",
                        {"invitee": "carol", "role": "member"}, follow=True)
    unknown = client.post("/accounts/teams/team-a/invitations/",
                          {"invitee": "carol2", "role": "member"}, follow=True)

    def message(response):
        return [str(m) for m in response.context["messages"]]

    assert message(known) == [message(unknown)[0].replace("carol2", "carol")]
    assert known.status_code == unknown.status_code == 200
    page = client.get("/accounts/teams/team-a/").content.decode()
    assert "carol2" in page and "/revoke/" in page
    assert members(world.team) == {"alice": "lead"}


def test_web_the_invited_person_accepts(world, carol, client):
    invitation = invite(world, "carol")
    client.force_login(carol)

    page = client.get("/accounts/invitations/").content.decode()
    teams = client.get("/accounts/teams/").content.decode()
    response = client.post(f"/accounts/invitations/{invitation.pk}/accept/", follow=True)

    assert "team-a" in page and f"/accounts/invitations/{invitation.pk}/decline/" in page
    assert "1 open invitation for you" in teams
    assert response.redirect_chain[-1][0] == "/accounts/teams/team-a/"
    assert members(world.team) == {"alice": "lead", "carol": "member"}


def test_web_declining_and_other_peoples_invitations(world, carol, dave, client):
    invitation = invite(world, "carol")
    client.force_login(dave)
    assert client.post(f"/accounts/invitations/{invitation.pk}/accept/").status_code == 404

    client.force_login(carol)
    client.post(f"/accounts/invitations/{invitation.pk}/decline/")

    assert TeamInvitation.objects.get(pk=invitation.pk).status == InvitationStatus.DECLINED
    assert "carol" not in members(world.team)


def test_web_lead_revokes(world, carol, dave, client):
    invitation = invite(world, "carol")
    client.force_login(dave)
    client.post(f"/accounts/teams/team-a/invitations/{invitation.pk}/revoke/")
    assert TeamInvitation.objects.get(pk=invitation.pk).status == InvitationStatus.PENDING

    client.force_login(world.member)
    client.post(f"/accounts/teams/team-a/invitations/{invitation.pk}/revoke/")

    assert TeamInvitation.objects.get(pk=invitation.pk).status == InvitationStatus.REVOKED
