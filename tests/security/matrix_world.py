"""The world the permission matrix runs against, with secret markers planted in its hidden data.

Society `jrs` publishes challenge `lesions` with a public sanity phase, a hidden phase `test`
(live leaderboard, results published once) and a hidden phase `final` whose results are not
published yet; it also has a draft challenge. Teams team-a (the owning team of the requests) and
team-b each ran a submission on both hidden phases through the real pipeline (fake sandbox,
scoring, ranking); team-a also has a queued submission, two open uploads and an API token.
Every hidden case id, file name, file content, ground-truth row, prediction, per-case score and
run log carries one of SECRETS; so does the draft challenge's title.

Both teams are registered (approved) for `lesions`; a second published challenge `atlas` has no
registration yet. team-a has a second lead, dave; carol has an account and no team. alice has invited bob
to team-a.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import TestCase
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, Team, User
from accounts.permissions import needs_two_factor
from accounts.services import api_token_create
from accounts.services_invitations import team_invitation_create
from challenges.models import Case, CaseFile, Challenge, GroundTruth, Phase
from challenges.services import phase_create
from evaluation import services
from evaluation.models import AlgorithmImage, CaseResult, Submission, UploadSession
from evaluation.services.publication import phase_publish
from evaluation.services.ranking import phase_ranking_update
from evaluation.services.uploads import upload_start
from review.models import CaseFlag
from sandbox.backends.fake import FakeBackend
from tests import factories
from tests.sandbox.tarballs import legacy_tarball
from tests.security import matrix

# Distinctive strings planted in the hidden phases and the draft challenge: none may reach a
# NO_HIDDEN_DATA role.
SECRETS = {
    "hidden case id": "hcase-k7q2w",
    "hidden case file name": "scan-f3x9v",
    "hidden case file content": "pixels-m4t8z",
    "ground truth": "truth-r6d1n",
    "hidden-phase prediction": "pred-b2j5s",
    "per-case score": "casescore-y8c3h",
    "hidden-phase log": "hiddenlog-u1g6p",
    "unpublished challenge": "Draft-q9v4r",  # the draft challenge's title
}
SANITY_LOG = "sanitylog-e5w2k"  # the team may read its sanity-phase logs: the positive control
IMAGE_A, IMAGE_B = "sha256:" + "a7" * 32, "sha256:" + "b8" * 32


def _leaky_container(score_of: Callable[[int], float]) -> Callable[[Path, Path], int]:
    """A fake algorithm that prints what it reads (a hidden run's logs hold hidden data)."""

    def run(input_dir: Path, output_dir: Path) -> int:
        manifest = json.loads((input_dir / "manifest.json").read_text())
        hidden = any(SECRETS["hidden case id"] in case["id"] for case in manifest["cases"])
        print(SECRETS["hidden-phase log"] if hidden else SANITY_LOG)
        predictions = {}
        for index, case in enumerate(manifest["cases"]):
            for name in case["files"]:
                print(case["id"], (input_dir / name).read_text())
            predictions[case["id"]] = {"score": score_of(index),
                                       "note": SECRETS["hidden-phase prediction"]}
        (output_dir / "predictions.json").write_text(json.dumps(predictions))
        return 0

    return run


@dataclass
class MatrixWorld:
    users: dict[str, User]
    devices: dict[str, TOTPDevice]
    url_values: dict[str, Any]
    challenge: Challenge
    hidden: Phase
    image_a: AlgorithmImage
    sanity_submission: Submission
    hidden_submissions: list[Submission]
    queued: Submission
    chunk_upload: UploadSession
    complete_upload: UploadSession
    api_token: ApiToken
    tarball: bytes
    dirs: dict[str, Any]
    # Celery hand-offs recorded during the current test (the test module's fixture fills it).
    queued_tasks: dict[str, list[Any]] = field(default_factory=dict)


def storage_settings(root: Path) -> dict[str, Any]:
    """Storage, sandbox, secrets and upload folders under `root`."""
    uploads = root / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    return {
        "STORAGES": {**settings.STORAGES, "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root / "media")}}},
        "SANDBOX_WORK_ROOT": str(root / "runs"),
        "SECRETS_DIR": root / "secrets",
        "FILE_UPLOAD_TEMP_DIR": str(uploads),
    }


def _hidden_cases(phase: Phase, labels: list[str], *, first: int = 0) -> None:
    """Cases whose ids, file names and contents carry markers; truth v1 (superseded, kept as
    truth rows always are) carries the ground-truth marker, v2 is the current labels."""
    for index, label in enumerate(labels, start=first):
        data = f"{SECRETS['hidden case file content']}-{index}".encode()
        sha = hashlib.sha256(data).hexdigest()
        key = f"cases/{sha[:2]}/{sha}"
        if not default_storage.exists(key):
            default_storage.save(key, ContentFile(data))
        case = Case.objects.create(phase=phase, case_id=f"{SECRETS['hidden case id']}-{index:03d}",
                                   modality="CT")
        CaseFile.objects.create(case=case, name=f"{SECRETS['hidden case file name']}.dcm",
                                kind="dicom", sha256=sha, size_bytes=len(data), storage_key=key)
        GroundTruth.objects.create(case=case, version=1,
                                   value=f"{SECRETS['ground truth']}-{index}")
        GroundTruth.objects.create(case=case, version=2, value=label)
    Phase.objects.filter(pk=phase.pk).update(truth_version=2)
    phase.truth_version = 2


def _run_through_the_pipeline(user: User, team: Team, phase: Phase,
                              image: AlgorithmImage) -> Submission:
    """Submit, run in the fake sandbox, score and rank, as the queue would."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("evaluation.tasks.enqueue_run",
                      lambda pk, queue, **_: services.submission_execute(submission_id=pk))
        patch.setattr("evaluation.tasks.enqueue_score",
                      lambda pk: services.submission_score(submission_id=pk))
        patch.setattr("evaluation.tasks.enqueue_ranking",
                      lambda pk: phase_ranking_update(phase_id=pk))
        with TestCase.captureOnCommitCallbacks(execute=True):
            submission = services.submission_create(user=user, team=team, phase=phase,
                                                    image=image)
    submission.refresh_from_db()
    assert submission.status == "succeeded", (submission.status, submission.failure_detail)
    return submission


def build_world(root: Path) -> MatrixWorld:
    society, other_society = factories.SocietyFactory(slug="jrs"), factories.SocietyFactory(slug="jsp")
    team_a, team_b = factories.TeamFactory(slug="team-a"), factories.TeamFactory(slug="team-b")
    users = {
        matrix.TEAM: factories.team_member(team_a, "alice"),
        matrix.OTHER_TEAM: factories.team_member(team_b, "bob"),
        matrix.OTHER_PHYSICIAN: factories.society_member(other_society, "physician", "dr-other"),
        matrix.PHYSICIAN: factories.society_member(society, "physician", "dr-tanaka"),
        matrix.STEWARD: factories.society_member(society, "steward", "jrs-steward"),
        matrix.SOCIETY_ADMIN: factories.society_member(society, "admin", "jrs-admin"),
        matrix.OPERATOR: factories.UserFactory(username="operator", is_staff=True),
    }
    devices = {role: TOTPDevice.objects.create(user=user, name="matrix", confirmed=True)
               for role, user in users.items() if needs_two_factor(user)}

    challenge = factories.ChallengeFactory(society=society, slug="lesions", is_published=True)
    registration_a = factories.register_team(challenge, team_a)
    factories.register_team(challenge, team_b)
    second = factories.ChallengeFactory(society=society, slug="atlas", title="Atlas",
                                        is_published=True)
    factories.team_member(team_a, "dave")  # a second lead: alice may leave, dave be demoted
    factories.UserFactory(username="carol")  # no team: the one a lead adds
    sanity = phase_create(challenge=challenge, slug="sanity", title="Sanity", is_hidden=False)
    hidden = phase_create(challenge=challenge, slug="test", title="Test", is_hidden=True,
                          leaderboard_visibility="live")
    factories.add_cases(sanity, ["present", "absent"], prefix="sanity")
    _hidden_cases(hidden, ["present", "absent", "present", "absent", "present", "absent"])

    image_a = factories.image_record(team_a, users[matrix.TEAM], IMAGE_A)
    image_b = factories.image_record(team_b, users[matrix.OTHER_TEAM], IMAGE_B)
    FakeBackend.register(IMAGE_A, _leaky_container(lambda i: 0.9 if i % 2 == 0 else 0.2))
    FakeBackend.register(IMAGE_B, _leaky_container(lambda i: 0.3 + 0.1 * (i % 5)))
    sanity_submission = _run_through_the_pipeline(users[matrix.TEAM], team_a, sanity, image_a)
    hidden_submissions = [
        _run_through_the_pipeline(users[matrix.TEAM], team_a, hidden, image_a),
        _run_through_the_pipeline(users[matrix.OTHER_TEAM], team_b, hidden, image_b),
    ]
    unpublished = phase_create(challenge=challenge, slug="final", title="Final", is_hidden=True,
                               leaderboard_visibility="on-publish")
    _hidden_cases(unpublished, ["absent", "present", "absent", "present"], first=100)
    _run_through_the_pipeline(users[matrix.TEAM], team_a, unpublished, image_a)
    _run_through_the_pipeline(users[matrix.OTHER_TEAM], team_b, unpublished, image_b)
    draft = factories.ChallengeFactory(society=society, slug="draft-lesions",
                                       title=SECRETS["unpublished challenge"], is_published=False)
    draft_phase = phase_create(challenge=draft, slug="test", title="Test", is_hidden=True)
    # The contract keeps only the score of a prediction; plant the markers where a leak of the
    # stored predictions or per-case values would show them.
    for row in CaseResult.objects.filter(submission__phase__is_hidden=True):
        row.prediction = {**row.prediction, "note": SECRETS["hidden-phase prediction"]}
        row.values = {**row.values, "note": SECRETS["per-case score"]}
        row.save(update_fields=["prediction", "values"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("evaluation.tasks.enqueue_run", lambda *args, **kwargs: None)
        queued = services.submission_create(user=users[matrix.TEAM], team=team_a, phase=hidden,
                                            image=image_a)
    # A run that failed for the platform's reason, which the society may run again.
    failed = Submission.objects.create(phase=hidden, team=team_a, image=image_a,
                                       submitted_by=users[matrix.TEAM], status="failed",
                                       failure_reason="platform_error", attempts=3)
    phase_publish(phase=hidden, actor=users[matrix.SOCIETY_ADMIN])
    # An open "ground truth questionable" flag on a hidden case, for the review pages.
    review_flag = CaseFlag.objects.create(
        case=hidden.cases.get(case_id=f"{SECRETS['hidden case id']}-001"),
        raised_by=users[matrix.PHYSICIAN], reason="questionable", truth_version=2)

    tarball = legacy_tarball(tag="enclave-test/matrix:upload").write(root / "upload.tar").read_bytes()
    chunk_upload = upload_start(team=team_a, user=users[matrix.TEAM])
    complete_upload = upload_start(team=team_a, user=users[matrix.TEAM], size=len(tarball))
    UploadSession.objects.filter(pk=complete_upload.pk).update(received=len(tarball))
    complete_upload.received = len(tarball)
    api_token, _key = api_token_create(user=users[matrix.TEAM], name="laptop")
    invitation = team_invitation_create(team=team_a, actor=users[matrix.TEAM],
                                        invitee="bob")  # matrix.OTHER_TEAM

    hidden.refresh_from_db()
    return MatrixWorld(
        users=users, devices=devices, challenge=challenge, hidden=hidden, image_a=image_a,
        sanity_submission=sanity_submission, hidden_submissions=hidden_submissions,
        queued=queued, chunk_upload=chunk_upload, complete_upload=complete_upload,
        api_token=api_token, tarball=tarball, dirs=storage_settings(root),
        url_values={
            "challenge": challenge.slug, "hidden_phase": hidden.slug,
            "submission": hidden_submissions[0].pk, "queued_submission": queued.pk,
            "chunk_upload": chunk_upload.pk, "complete_upload": complete_upload.pk,
            "export_format": "json", "plot_kind": "blob", "api_token": api_token.pk,
            "unpublished_phase": unpublished.slug, "draft_challenge": draft.slug,
            "draft_phase": draft_phase.slug, "sanity_phase": sanity.slug,
            "hidden_case_id": f"{SECRETS['hidden case id']}-000",
            "hidden_file_name": f"{SECRETS['hidden case file name']}.dcm",
            "sanity_case_id": "sanity-000", "sanity_file_name": "image.dcm",
            "second_challenge": second.slug, "registration": registration_a.pk,
            "team": team_a.slug, "team_colleague": "dave",
            "review_flag": review_flag.pk, "overlay_source": "truth",
            "failed_submission": failed.pk,
            "invitation": invitation.pk,
        },
    )


# --- reader studies: a reading list of the hidden phase --------------------------------------
# The physician reads two hidden cases (the first against its truth, so a merge changes it);
# a second physician of the society is there to be assigned; a reader's reference row, not
# published, is there to be published.
_build_world_without_reading = build_world


def build_world(root: Path) -> MatrixWorld:  # type: ignore[no-redef]
    from review.services_reading import read_record, readers_assign, reading_list_create
    from review.services_reference import reference_rows_compute

    world = _build_world_without_reading(root)
    admin, physician = world.users[matrix.SOCIETY_ADMIN], world.users[matrix.PHYSICIAN]
    factories.society_member(world.challenge.society, "physician", "dr-second")
    reading_list = reading_list_create(actor=admin, phase=world.hidden, title="Matrix study")
    readers_assign(actor=admin, reading_list=reading_list, usernames=[physician.username])
    for index in (0, 1):
        read_record(actor=physician, reading_list=reading_list,
                    case=world.hidden.cases.get(case_id=f"{SECRETS['hidden case id']}-{index:03d}"),
                    answer={"label": "absent"})
    row = reference_rows_compute(actor=admin, reading_list=reading_list)[0]
    world.url_values.update(reading_list=reading_list.pk, reference_row=row.pk)
    return world
