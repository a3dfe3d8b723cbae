"""The set-up wizard's preview for segmentation (a zip of masks) and detection (a predictions.json
of detections): checked as a run's outputs are, scored by the same engine, nothing stored, clear
errors. Web step and REST API."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from challenges.models import Challenge, Phase
from evaluation.models import Result, Submission
from evaluation.services.specs import default_spec
from tests import factories
from tests.challenges.test_wizard import cases_zip, edit, make_phase
from tests.challenges.test_wizard_truths import (
    CASES,
    POINTS,
    TASKS,
    good_masks,
    lesions_json,
    mask,
    stored_files,
    zip_upload,
)
from tests.mask_files import nifti_bytes, npy_bytes, png_bytes

pytestmark = pytest.mark.django_db
PREVIEW_API = "/api/v1/challenges/{slug}/phases/test/preview/"


def ready_phase(world, admin_client, task_type: str) -> Phase:
    """A draft challenge of `task_type` (spacing in its spec) whose phase `test` has the three
    8 x 8 cases of CASES and their ground truth, imported through the wizard's data step."""
    labels = TASKS[task_type]
    challenge = factories.ChallengeFactory(
        society=world.society, slug=task_type[:20], is_published=False, task_type=task_type,
        labels=labels, metric_spec={**default_spec(task_type, labels), "spacing_mm": [1.0, 1.0]})
    phase = make_phase(challenge=challenge, slug="test")
    truth = {"masks": good_masks()} if task_type == "segmentation" else {
        "lesions": lesions_json(POINTS)}
    response = admin_client.post(edit(challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(CASES), **truth})
    assert response.status_code == 302
    return phase


def perfect_masks() -> SimpleUploadedFile:
    return zip_upload({"c-001.png": png_bytes(mask(0)), "c-002.npy": npy_bytes(mask(1)),
                       "c-003.nii.gz": nifti_bytes(mask(2), compress=True)})


def preview(admin_client, challenge: Challenge, upload: SimpleUploadedFile):
    return admin_client.post(edit(challenge.slug, "preview"), {"phase": "test",
                                                               "predictions": upload})


def metrics_of(response) -> dict[str, float]:
    return {m["key"]: m["value"] for m in response.context["metrics"]}


def assert_nothing_kept(media: Path, before: list[Path]) -> None:
    assert not Submission.objects.exists() and not Result.objects.exists()
    assert sorted(stored_files(media)) == sorted(before)


# --- segmentation -------------------------------------------------------------------------------

def test_perfect_masks_score_a_dice_of_one_and_nothing_is_stored(world, admin_client,
                                                                 isolated_storage):
    phase = ready_phase(world, admin_client, "segmentation")
    before = stored_files(isolated_storage)

    response = preview(admin_client, phase.challenge, perfect_masks())

    assert response.status_code == 200, response.content.decode()[-2000:]
    assert metrics_of(response)["dice"] == pytest.approx(1.0)
    assert "The leaderboard row it would produce" in response.content.decode()
    assert_nothing_kept(isolated_storage, before)
    assert AuditEvent.objects.filter(action="phase.preview").count() == 1


def test_worse_masks_score_lower(world, admin_client):
    phase = ready_phase(world, admin_client, "segmentation")
    empty = np.zeros((8, 8), dtype=np.uint8)
    upload = zip_upload({"c-001.png": png_bytes(mask(0)), "c-002.png": png_bytes(mask(0)),
                         "c-003.png": png_bytes(empty)})

    response = preview(admin_client, phase.challenge, upload)

    assert response.status_code == 200
    assert 0.0 <= metrics_of(response)["dice"] < 0.9


def test_the_step_asks_for_a_zip_of_masks(world, admin_client):
    phase = ready_phase(world, admin_client, "segmentation")
    page = admin_client.get(edit(phase.challenge.slug, "preview")).content.decode()
    assert "Sample masks (zip)" in page and "Segmentation outputs are mask files" not in page


BAD_MASKS = [
    (lambda: zip_upload({"c-001.png": png_bytes(mask(0))}), "masks missing for 2 of 3 cases"),
    (lambda: zip_upload({"c-001.png": png_bytes(mask(0)), "c-002.png": png_bytes(mask(1)),
                         "c-003.png": png_bytes(np.zeros((4, 4), dtype=np.uint8))}),
     "shape differs from its case image"),
    (lambda: zip_upload({"c-001.png": png_bytes(mask(0)), "c-002.png": png_bytes(mask(1)),
                         "c-003.png": png_bytes(np.full((8, 8), 7, dtype=np.uint8))}),
     "a label value outside the label set"),
    (lambda: zip_upload({"c-001.png": png_bytes(mask(0)), "c-001.npy": npy_bytes(mask(0)),
                         "c-002.png": png_bytes(mask(1)), "c-003.png": png_bytes(mask(2))}),
     "two mask files for one case"),
    (lambda: zip_upload({"readme.txt": b"hello"}), "No mask named after a case"),
    (lambda: zip_upload({"a/c-001.png": png_bytes(mask(0)), "b/c-001.png": png_bytes(mask(0))}),
     "c-001.png appears twice in the zip"),
    (lambda: SimpleUploadedFile("masks.zip", b"not a zip"), "are a zip file of masks"),
]


@pytest.mark.parametrize(("upload", "error"), BAD_MASKS)
def test_bad_masks_get_the_rule_they_broke(world, admin_client, isolated_storage, upload, error):
    phase = ready_phase(world, admin_client, "segmentation")
    before = stored_files(isolated_storage)

    response = preview(admin_client, phase.challenge, upload())

    assert response.status_code == 400
    assert error in response.content.decode()
    assert_nothing_kept(isolated_storage, before)
    assert not AuditEvent.objects.filter(action="phase.preview").exists()


def test_a_zip_bomb_stops_at_the_phases_output_limit(world, admin_client):
    phase = ready_phase(world, admin_client, "segmentation")
    Phase.objects.filter(pk=phase.pk).update(output_mb=1)
    bomb = zip_upload({"c-001.npy": b"\0" * (3 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED)
    assert bomb.size is not None and bomb.size < 64 * 1024

    response = preview(admin_client, phase.challenge, bomb)

    assert response.status_code == 400
    assert "exceed 1 MiB, the output limit of a run of this phase" in response.content.decode()


def test_too_many_files_stop_at_the_phases_output_file_limit(world, admin_client):
    phase = ready_phase(world, admin_client, "segmentation")
    Phase.objects.filter(pk=phase.pk).update(output_files=2)

    response = preview(admin_client, phase.challenge, perfect_masks())

    assert response.status_code == 400
    assert "more than 2 files" in response.content.decode()


def test_the_api_previews_masks_and_refuses_bad_ones(world, admin, admin_client):
    phase = ready_phase(world, admin_client, "segmentation")
    api = factories.api_client_for(admin)
    url = PREVIEW_API.format(slug=phase.challenge.slug)

    good = api.post(url, {"predictions": perfect_masks()}, format="multipart")
    bad = api.post(url, {"predictions": zip_upload({"c-001.png": png_bytes(mask(0))})},
                   format="multipart")

    assert good.status_code == 200, good.json()
    row = {m["key"]: m for m in good.json()["metrics"]}
    assert row["dice"]["value"] == pytest.approx(1.0) and row["dice"]["primary"] is True
    assert (bad.status_code, bad.json()["code"]) == (400, "bad_predictions")
    assert "masks missing for 2 of 3 cases" in bad.json()["detail"]
    assert not Submission.objects.exists()


# --- detection ----------------------------------------------------------------------------------

def detections(entries: dict) -> SimpleUploadedFile:
    return SimpleUploadedFile("predictions.json", json.dumps(entries).encode(),
                              content_type="application/json")


def test_detection_predictions_are_scored(world, admin_client):
    phase = ready_phase(world, admin_client, "detection")
    hits = detections({"c-001": {"detections": [{"point": [5, 2], "score": 0.9}]},
                       "c-002": {"detections": []},
                       "c-003": {"detections": [{"point": [3, 4], "score": 0.8}]}})

    response = preview(admin_client, phase.challenge, hits)

    assert response.status_code == 200, response.content.decode()[-2000:]
    assert metrics_of(response)["sensitivity"] == pytest.approx(1.0)
    assert not Submission.objects.exists()


@pytest.mark.parametrize(("entries", "error"), [
    ({"c-001": {"detections": [{"box": [1, 1, 3, 3], "score": 0.9}]},
      "c-002": {"detections": []}, "c-003": {"detections": []}},
     "detections must be points for this challenge"),
    ({"c-001": {"detections": [{"point": [1, 1, 1], "score": 0.9}]},
      "c-002": {"detections": []}, "c-003": {"detections": []}},
     "coordinates do not match its case image"),
    ({"c-001": {"detections": []}}, "lacks 2 of 3 cases"),
])
def test_detections_get_the_same_checks_as_a_run(world, admin_client, entries, error):
    phase = ready_phase(world, admin_client, "detection")

    response = preview(admin_client, phase.challenge, detections(entries))

    assert response.status_code == 400
    assert error in response.content.decode()


def test_a_phase_without_ground_truth_says_so(world, admin_client):
    labels = TASKS["segmentation"]
    challenge = factories.ChallengeFactory(
        society=world.society, slug="seg-no-truth", is_published=False,
        task_type="segmentation", labels=labels,
        metric_spec={**default_spec("segmentation", labels), "spacing_mm": [1.0, 1.0]})
    make_phase(challenge=challenge, slug="test")
    admin_client.post(edit(challenge.slug, "data"), {"phase": "test", "cases": cases_zip(CASES)})

    response = preview(admin_client, challenge, perfect_masks())

    assert response.status_code == 400
    assert "3 of 3 cases have no ground truth yet" in response.content.decode()
