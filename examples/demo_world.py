"""The demo world: stable names other checks rely on.

Society `jrs` (admin `jrs-admin`, steward `jrs-steward`, physicians `dr-tanaka`, `dr-suzuki`),
teams `team-a` (alice) and `team-b` (bob), operator `admin`; challenge `lesion-phantom` with a
public `sanity` phase (10 cases) and a hidden `test` phase (200 cases), both teams registered
for it and approved by `jrs-admin`. Every password is
DEMO_PASSWORD (default `enclave-demo`). Safe to run again: everything is created or updated.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from accounts import services as accounts
from accounts.models import SocietyRole, Team, TeamRole, User
from challenges.models import Challenge, Phase
from challenges.services import cases_import
from challenges.services_registration import registration_ensure_approved
from examples.phantom import build_phantom

CHALLENGE = "lesion-phantom"
DESCRIPTION = (
    "Is there a lesion in this slice? Binary classification of 128x128 CT and MR slices.\n\n"
    "THIS IS A PHANTOM. The pixels are real CT and MR pixels from the DICOM files that ship with "
    "pydicom and pydicom-data; the round lesions are synthetic, inserted at known places, so the "
    "ground truth is exact by construction. No patient data is involved.\n\n"
    "Phases: sanity (10 public cases; your team sees full logs and outputs) and test (200 hidden "
    "cases; your team sees aggregate scores and a categorical failure reason only).\n\n"
    "これはファントム（模擬データ）です。画素は pydicom と pydicom-data に同梱された実際の CT・MR "
    "の DICOM ファイルのもので、円形の病変は既知の位置に合成して挿入したため、正解は構成上正確です。"
    "患者データは一切含まれません。"
)


@dataclass(frozen=True)
class DemoWorld:
    challenge: Challenge
    sanity: Phase
    test: Phase


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD", "enclave-demo")


@transaction.atomic
def ensure_people() -> None:
    password = demo_password()
    accounts.user_ensure(username="admin", password=password, is_staff=True)
    society = accounts.society_ensure(slug="jrs", name="Japan Radiological Society (demo)")
    for username, role in [("jrs-admin", SocietyRole.ADMIN), ("jrs-steward", SocietyRole.STEWARD),
                           ("dr-tanaka", SocietyRole.PHYSICIAN),
                           ("dr-suzuki", SocietyRole.PHYSICIAN)]:
        user = accounts.user_ensure(username=username, password=password)
        accounts.society_member_add(society=society, user=user, role=role)
    for slug, name, username in [("team-a", "Team A (demo university)", "alice"),
                                 ("team-b", "Team B (demo university)", "bob")]:
        team = accounts.team_ensure(slug=slug, name=name, affiliation="Demo University")
        user = accounts.user_ensure(username=username, password=password)
        accounts.team_member_add(team=team, user=user, role=TeamRole.LEAD)


@transaction.atomic
def ensure_challenge() -> DemoWorld:
    from accounts.models import Society

    society = Society.objects.get(slug="jrs")
    challenge, _ = Challenge.objects.update_or_create(slug=CHALLENGE, defaults={
        "society": society, "title": "Lesion phantom (demo)", "description": DESCRIPTION,
        "modality": "CT/MR", "labels": ["absent", "present"], "positive_label": "present",
        "is_published": True,
    })
    common = {"wall_seconds": 300, "memory_mb": 2048, "cpus": 1.0, "output_mb": 16}
    sanity, _ = Phase.objects.update_or_create(challenge=challenge, slug="sanity", defaults={
        "title": "Sanity", "is_hidden": False, "submission_limit": 50, **common})
    test, _ = Phase.objects.update_or_create(challenge=challenge, slug="test", defaults={
        "title": "Test", "is_hidden": True, "submission_limit": 10, **common})
    admin = User.objects.get(username="jrs-admin")
    for team in Team.objects.filter(slug__in=["team-a", "team-b"]):
        registration_ensure_approved(challenge=challenge, team=team, actor=admin)
    return DemoWorld(challenge=challenge, sanity=sanity, test=test)


def ensure_cases(world: DemoWorld, data_dir: Path) -> None:
    phantom = build_phantom(data_dir)
    cases_import(phase=world.sanity, path=phantom.sanity_dir, labels_path=phantom.sanity_labels)
    cases_import(phase=world.test, path=phantom.test_dir, labels_path=phantom.test_labels)
