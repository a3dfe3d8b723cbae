"""People around team-a of the suite's world (alice leads it) for the team tests."""

import pytest

from accounts.models import TeamRole
from accounts.services import team_member_add
from tests import factories


@pytest.fixture
def carol(world):
    """A user with no team, with an e-mail address."""
    return factories.UserFactory(username="carol", email="Carol@Example.org")


@pytest.fixture
def dave(world):
    """A plain member of team-a (alice is its lead)."""
    user = factories.UserFactory(username="dave")
    team_member_add(team=world.team, user=user, role=TeamRole.MEMBER)
    return user
