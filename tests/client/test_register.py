"""`enclave register` against a live server: ask, see where it stands, see the decision."""

import json

from challenges.models import Registration, RegistrationStatus
from challenges.services_registration import registration_decide
from tests import factories


def test_a_team_asks_to_take_part_and_sees_the_societys_decision(signed_in, world, cli):
    factories.ChallengeFactory(society=world.society, slug="atlas")

    asked = cli("register", "--challenge", "atlas", "--team", "team-a", "--message", "hello")
    before = cli("register", "--challenge", "atlas", "--team", "team-a", "--status")

    assert asked.code == 0, asked.err
    assert "atlas  team team-a: waiting for the society's decision" in asked.out
    assert "waiting for the society's decision" in before.out
    registration = Registration.objects.get(challenge__slug="atlas", team=world.team)
    assert registration.message == "hello" and registration.requested_by == world.member

    admin = factories.society_member(world.society, "admin", "jrs-admin")
    registration_decide(registration=registration, actor=admin, approve=True, reason="welcome")
    after = json.loads(cli("register", "--challenge", "atlas", "--status", "--json",
                           "--team", "team-a").out)
    assert [(r["team"], r["status"], r["decision_reason"]) for r in after] == [
        ("team-a", RegistrationStatus.APPROVED, "welcome")]


def test_asking_for_someone_elses_team_is_refused_with_the_servers_reason(signed_in, world, cli):
    factories.ChallengeFactory(society=world.society, slug="atlas")

    refused = cli("register", "--challenge", "atlas", "--team", "team-b")

    assert refused.code == 1 and "not a member of this team" in refused.err
    assert not Registration.objects.filter(challenge__slug="atlas").exists()
    assert "not registered" in cli("register", "--challenge", "atlas", "--status").out
