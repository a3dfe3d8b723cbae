"""Fixtures of the challenge set-up tests: the society's admin, signed in on the web."""

import pytest

from tests import factories


@pytest.fixture
def admin(world):
    return factories.society_member(world.society, "admin", "jrs-admin")


@pytest.fixture
def admin_client(client, admin):
    factories.login_verified(client, admin)
    return client
