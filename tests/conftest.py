"""Shared fixtures: isolated storage per test, and a world with a society, a team and a phase."""

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from accounts.models import Society, Team, User
from challenges.models import Phase
from tests import factories


@pytest.fixture(autouse=True)
def isolated_storage(settings, tmp_path: Path) -> Path:
    media = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": str(media)}},
    }
    settings.SANDBOX_WORK_ROOT = str(tmp_path / "runs")
    settings.SECRETS_DIR = tmp_path / "secrets"
    return media


@pytest.fixture(autouse=True)
def isolated_cache(settings) -> None:
    """Cached state (the API's rate-limit counters) starts empty in every test: a fresh key prefix,
    so that a shared cache is never cleared under anyone else."""
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {name: {**conf, "KEY_PREFIX": prefix} for name, conf in settings.CACHES.items()}


@pytest.fixture(autouse=True)
def no_anonymous_micro_cache(settings) -> None:
    """Tests read what they just wrote; tests/test_microcache.py turns the 1 s copy on."""
    settings.ANONYMOUS_CACHE_SECONDS = 0


@dataclass
class World:
    society: Society
    steward: User
    physician: User
    team: Team
    member: User
    other_team: Team
    outsider: User
    phase: Phase


@pytest.fixture
def world(db) -> World:
    society = factories.SocietyFactory(slug="jrs")
    team, other_team = factories.TeamFactory(slug="team-a"), factories.TeamFactory(slug="team-b")
    phase = factories.PhaseFactory(challenge__society=society, challenge__slug="lesions")
    for registered in (team, other_team):  # both teams may submit to the world's challenge
        factories.register_team(phase.challenge, registered)
    return World(
        society=society,
        steward=factories.society_member(society, "steward", "steward"),
        physician=factories.society_member(society, "physician", "doctor"),
        team=team, member=factories.team_member(team, "alice"),
        other_team=other_team, outsider=factories.team_member(other_team, "bob"),
        phase=phase,
    )
