import pytest

from accounts.permissions import can_see_hidden_data, can_upload_cases, is_team_member
from tests import factories


def test_roles_grant_what_they_should(world):
    assert can_see_hidden_data(world.physician, world.society)
    assert can_see_hidden_data(world.steward, world.society)
    assert can_upload_cases(world.steward, world.society)
    assert not can_upload_cases(world.physician, world.society)
    assert not can_see_hidden_data(world.member, world.society)
    assert is_team_member(world.member, world.team)
    assert not is_team_member(world.member, world.other_team)


def test_a_physician_elsewhere_gets_nothing_here(world):
    other = factories.SocietyFactory(slug="jsge")
    assert not can_see_hidden_data(world.physician, other)


@pytest.mark.django_db
def test_staff_are_operators():
    operator = factories.UserFactory(username="op", is_staff=True)
    assert can_see_hidden_data(operator, factories.SocietyFactory())
