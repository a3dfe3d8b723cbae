"""A world with real objects for hostile-input tests, API tokens, and the throttles turned off.

`hostile_world` adds to `world` a society admin, a sanity phase next to the hidden one, cases with
truth in both, an image of team-a, a finished submission in each phase and a queued one.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from accounts.models import User
from challenges.models import Phase
from evaluation import services
from evaluation.models import AlgorithmImage, Submission
from sandbox.backends.fake import FakeBackend
from tests import factories
from tests.conftest import World
from tests.evaluation.conftest import fake_sandbox  # noqa: F401  (the fixture, reused)

IMAGE_ID = "sha256:" + "5e" * 32


def api_token(user: User) -> str:
    """A token for `Authorization: Token <key>` (accounts.ApiToken)."""
    return factories.api_token_for(user)


@pytest.fixture
def fast_password_hashing(settings) -> None:
    """The world's users get passwords; the production hasher would cost seconds per test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class HostileWorld:
    base: World
    admin: User
    sanity: Phase
    image: AlgorithmImage
    finished: list[Submission]
    queued: Submission


def _predict(input_dir: Path, output_dir: Path) -> int:
    manifest = json.loads((input_dir / "manifest.json").read_text())
    predictions = {case["id"]: {"score": 0.5} for case in manifest["cases"]}
    (output_dir / "predictions.json").write_text(json.dumps(predictions))
    print("a log line")
    return 0


@pytest.fixture
def hostile_world(fast_password_hashing, world, fake_sandbox,  # noqa: F811
                  django_capture_on_commit_callbacks) -> HostileWorld:
    admin = factories.society_member(world.society, "admin", "jrs-admin")
    sanity = factories.PhaseFactory(challenge=world.phase.challenge, slug="sanity",
                                    title="Sanity", is_hidden=False)
    factories.add_cases(world.phase, ["present", "absent"] * 3, prefix="hidden")
    factories.add_cases(sanity, ["present", "absent"], prefix="sanity")
    FakeBackend.register(IMAGE_ID, _predict)
    image = factories.image_record(world.team, world.member, IMAGE_ID)
    finished = []
    for phase in (sanity, world.phase):
        with django_capture_on_commit_callbacks(execute=True):
            submission = services.submission_create(user=world.member, team=world.team,
                                                    phase=phase, image=image)
        submission.refresh_from_db()
        finished.append(submission)
    queued = services.submission_create(user=world.member, team=world.team, phase=world.phase,
                                        image=image)
    return HostileWorld(base=world, admin=admin, sanity=sanity, image=image, finished=finished,
                        queued=queued)


@pytest.fixture
def no_throttling(settings) -> None:
    """Rate limits would turn a fuzzer's burst into 429s; these tests are about input handling.
    Every configured scope gets no rate (DRF's "unlimited"); the schema still documents 429."""
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = dict.fromkeys(rest.get("DEFAULT_THROTTLE_RATES", {}))
    settings.REST_FRAMEWORK = rest


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Requests through the real WSGI handler keep the test's connection (and its transaction),
    as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token_for() -> Callable[[User], str]:
    return api_token
