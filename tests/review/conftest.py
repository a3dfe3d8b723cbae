"""A review world with known per-case data.

Society `jrs` runs challenge `lesions` (binary: absent/present) with a hidden phase `test` of six
cases, truth present/absent alternating (c-000 is present). Teams team-a, team-b and team-c each
have one submission, scored by the real metrics engine, created in that order (Algorithm A, B,
C). Their scores for the positive class, case by case:

    case      c-000 c-001 c-002 c-003 c-004 c-005
    truth     P     A     P     A     P     A
    team-a    0.9   0.1   0.8   0.2   0.1   0.3
    team-b    0.8   0.3   0.2   0.1   0.2   0.4
    team-c    0.7   0.6   0.9   0.3   0.3   0.2

So every team misses c-004 (a label-error candidate); the teams disagree on c-001 and c-002.
dr-member is a physician of jrs and a member of team-c: review never shows them team-c. c-000's
file is pydicom's CT_small (de-identified as stored files are); the other files are not images.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import override_settings

from accounts.models import Team, TeamMembership, User
from challenges.models import Case, CaseFile, GroundTruth, Phase
from evaluation.models import Status, Submission
from evaluation.services.scoring import store_predictions, submission_score
from tests import factories
from tests.imaging.conftest import fixture_bytes

TRUTH = ["present", "absent", "present", "absent", "present", "absent"]
SCORES = {
    "team-a": [0.9, 0.1, 0.8, 0.2, 0.1, 0.3],
    "team-b": [0.8, 0.3, 0.2, 0.1, 0.2, 0.4],
    "team-c": [0.7, 0.6, 0.9, 0.3, 0.3, 0.2],
}


@dataclass
class ReviewWorld:
    phase: Phase
    cases: dict[str, Case]
    teams: dict[str, Team]
    submissions: dict[str, Submission]
    physician: User
    conflicted: User  # a jrs physician in team-c
    admin: User
    steward: User
    member: User  # team-a's
    other_physician: User  # of another society


def _store(data: bytes) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    key = f"cases/{sha[:2]}/{sha}"
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(data))
    return sha, key


def build_review_world() -> ReviewWorld:
    society = factories.SocietyFactory(slug="jrs")
    challenge = factories.ChallengeFactory(society=society, slug="lesions")
    phase = factories.PhaseFactory(challenge=challenge, slug="test", title="Test", is_hidden=True)
    cases = {}
    for index, label in enumerate(TRUTH):
        case_id = f"c-{index:03d}"
        data = fixture_bytes("CT_small.dcm") if index == 0 else f"not-an-image-{index}".encode()
        sha, key = _store(data)
        case = Case.objects.create(phase=phase, case_id=case_id, modality="CT",
                                   shape=[128, 128] if index == 0 else None)
        CaseFile.objects.create(case=case, name="image.dcm", kind="dicom", sha256=sha,
                                size_bytes=len(data), storage_key=key)
        GroundTruth.objects.create(case=case, version=1, value=label)
        cases[case_id] = case
    teams, submissions = {}, {}
    for slug, scores in SCORES.items():
        team = factories.TeamFactory(slug=slug)
        lead = factories.team_member(team, f"{slug}-lead")
        factories.register_team(challenge, team)
        image = factories.image_record(team, lead, "sha256:" + hashlib.sha256(slug.encode())
                                       .hexdigest())
        submission = Submission.objects.create(phase=phase, team=team, image=image,
                                               submitted_by=lead, status=Status.SCORING)
        store_predictions(submission, {f"c-{i:03d}": {"score": s} for i, s in enumerate(scores)})
        submission_score(submission_id=submission.pk)
        submission.refresh_from_db()
        assert submission.status == Status.SUCCEEDED, submission.failure_reason
        teams[slug], submissions[slug] = team, submission
    conflicted = factories.society_member(society, "physician", "dr-member")
    TeamMembership.objects.create(user=conflicted, team=teams["team-c"], role="member")
    return ReviewWorld(
        phase=phase, cases=cases, teams=teams, submissions=submissions,
        physician=factories.society_member(society, "physician", "dr-tanaka"),
        conflicted=conflicted,
        admin=factories.society_member(society, "admin", "jrs-admin"),
        steward=factories.society_member(society, "steward", "jrs-steward"),
        member=factories.team_member(teams["team-a"], "alice"),
        other_physician=factories.society_member(factories.SocietyFactory(slug="jsp"),
                                                 "physician", "dr-other"),
    )


@pytest.fixture(scope="module")
def review_world_storage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("review-media")


def _storage_settings(media: Path) -> dict[str, Any]:
    return {"STORAGES": {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(media)}}}}


@pytest.fixture(scope="module")
def module_review_world(django_db_setup, django_db_blocker,
                        review_world_storage) -> Iterator[ReviewWorld]:
    """Built once per module in a transaction rolled back after it; each test's own
    transaction (a savepoint inside) rolls back what the test wrote."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            with override_settings(**_storage_settings(review_world_storage)):
                yield build_review_world()
        finally:
            transaction.set_rollback(True)


@pytest.fixture
def isolated_storage(settings, review_world_storage) -> Path:
    """Overrides the suite's per-test storage: the world's files live in the module's folder."""
    for name, value in _storage_settings(review_world_storage).items():
        setattr(settings, name, value)
    return review_world_storage


@pytest.fixture
def review_world(module_review_world, db) -> ReviewWorld:
    world = module_review_world
    for instance in [world.phase, *world.cases.values(), *world.submissions.values()]:
        instance.refresh_from_db()  # undo in-memory changes of an earlier test, relations too
    return world


def detection_case(world: ReviewWorld) -> Case:
    """Case d-000 (10 rows × 20 columns) of a hidden phase `test` of a detection challenge
    `nodules` of the world's society (points: the default hit criterion)."""
    challenge = factories.ChallengeFactory(society=world.phase.challenge.society, slug="nodules",
                                           task_type="detection", labels=["nodule"],
                                           positive_label="nodule", metric_spec={})
    phase = factories.PhaseFactory(challenge=challenge, slug="test", is_hidden=True)
    return Case.objects.create(phase=phase, case_id="d-000", shape=[10, 20])
