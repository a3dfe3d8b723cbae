"""Ground truth beyond labels in the wizard's data step and its API: a zip of masks for
segmentation, a lesions JSON file for detection, imported with the cases all or nothing."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from challenges.models import Case, Challenge, GroundTruth, Phase
from challenges.truths import load_mask
from evaluation.services.specs import default_spec
from tests import factories
from tests.challenges.test_wizard import cases_zip, edit, make_phase
from tests.mask_files import nifti_bytes, npy_bytes, png_bytes

pytestmark = pytest.mark.django_db

SHAPE = (8, 8)  # the cases of `cases_zip` are 8 x 8 PNG images
TASKS = {"segmentation": ["background", "lesion"], "detection": ["lesion"],
         "binary-classification": ["absent", "present"]}


def challenge_of(world, task_type: str) -> Challenge:
    labels = TASKS[task_type]
    return factories.ChallengeFactory(
        society=world.society, slug=task_type[:20], is_published=False, task_type=task_type,
        labels=labels, positive_label="present" if task_type.startswith("binary") else "",
        metric_spec=default_spec(task_type, labels))


def phase_of(world, task_type: str) -> Phase:
    return make_phase(challenge=challenge_of(world, task_type), slug="test")


def mask(index: int) -> np.ndarray:
    values = np.zeros(SHAPE, dtype=np.uint8)
    values[1 + index: 4 + index, 2:6] = 1
    return values


def zip_upload(entries: dict[str, bytes], name: str = "masks.zip",
               compression: int = zipfile.ZIP_DEFLATED) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


def good_masks() -> SimpleUploadedFile:
    return zip_upload({"masks/c-001.png": png_bytes(mask(0)), "c-002.npy": npy_bytes(mask(1)),
                       "c-003.nii.gz": nifti_bytes(mask(2), compress=True)})


def lesions_json(entries: dict) -> SimpleUploadedFile:
    return SimpleUploadedFile("lesions.json", json.dumps(entries).encode(),
                              content_type="application/json")


POINTS = {"c-001": [{"x": 5, "y": 2}], "c-002": [], "c-003": {"lesions": [{"point": [3, 4]}]}}
CASES = ["c-001", "c-002", "c-003"]


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def assert_nothing_stored(media: Path) -> None:
    assert not Case.objects.exists()
    assert not GroundTruth.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["cases.import", "truths.import"]).exists()
    assert stored_files(media) == []


# --- the web wizard ---------------------------------------------------------------------------

def test_a_segmentation_challenge_imports_its_cases_with_a_zip_of_masks(
        world, admin_client, isolated_storage):
    phase = phase_of(world, "segmentation")

    response = admin_client.post(edit(phase.challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(CASES), "masks": good_masks()})

    assert response.status_code == 302
    values = dict(GroundTruth.objects.filter(case__phase=phase).values_list("case__case_id",
                                                                             "value"))
    assert sorted(values) == CASES
    for index, case_id in enumerate(CASES):
        assert values[case_id]["mask"]["shape"] == list(SHAPE)
        assert np.array_equal(load_mask(values[case_id]["mask"]), mask(index))
    assert AuditEvent.objects.filter(action="truths.import").count() == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert "3 new cases, 0 already present, 0 labels" in page
    assert "Ground truth version 1: masks of 3 cases." in page


def test_masks_of_cases_imported_earlier_make_a_new_truth_version(world, admin_client):
    phase = phase_of(world, "segmentation")
    url = edit(phase.challenge.slug, "data")
    admin_client.post(url, {"phase": "test", "cases": cases_zip(CASES), "masks": good_masks()})

    changed = zip_upload({"c-002.png": png_bytes(np.ones(SHAPE, dtype=np.uint8))})
    response = admin_client.post(url, {"phase": "test", "cases": cases_zip(["c-001"]),
                                       "masks": changed})

    assert response.status_code == 302
    current = GroundTruth.objects.get(case__phase=phase, case__case_id="c-002", version=2)
    assert load_mask(current.value["mask"]).all()
    assert GroundTruth.objects.filter(case__phase=phase, version=2).count() == 3


def test_a_detection_challenge_imports_a_lesions_file(world, admin_client):
    phase = phase_of(world, "detection")

    response = admin_client.post(edit(phase.challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(CASES), "lesions": lesions_json(POINTS)})

    assert response.status_code == 302
    values = dict(GroundTruth.objects.filter(case__phase=phase).values_list("case__case_id",
                                                                             "value"))
    assert values == {"c-001": {"lesions": [{"point": [2.0, 5.0]}]}, "c-002": {"lesions": []},
                      "c-003": {"lesions": [{"point": [3.0, 4.0]}]}}
    page = admin_client.get(response["Location"]).content.decode()
    assert "Ground truth version 1: lesions of 3 cases." in page


@pytest.mark.parametrize(("task_type", "shown", "hidden"), [
    ("segmentation", ['name="masks"'], ['name="lesions"']),
    ("detection", ['name="lesions"'], ['name="masks"']),
    ("binary-classification", [], ['name="masks"', 'name="lesions"']),
])
def test_the_step_offers_the_upload_of_its_task_type_only(world, admin_client, task_type, shown,
                                                         hidden):
    phase = phase_of(world, task_type)
    page = admin_client.get(edit(phase.challenge.slug, "data")).content.decode()
    assert all(name in page for name in shown)
    assert not any(name in page for name in hidden)


@pytest.mark.parametrize(("task_type", "field", "upload", "error"), [
    ("binary-classification", "masks", good_masks,
     "Masks are ground truth only for segmentation challenges"),
    ("detection", "masks", good_masks, "Masks are ground truth only for segmentation"),
    ("segmentation", "lesions", lambda: lesions_json(POINTS),
     "Lesion points and boxes are ground truth only for detection challenges"),
    ("binary-classification", "lesions", lambda: lesions_json(POINTS),
     "are ground truth only for detection challenges"),
])
def test_ground_truth_of_another_task_type_is_a_field_error_and_nothing_is_stored(
        world, admin_client, isolated_storage, task_type, field, upload, error):
    phase = phase_of(world, task_type)

    response = admin_client.post(edit(phase.challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(CASES), field: upload()})

    assert response.status_code == 400
    assert error in response.context["form"].errors[field][0]
    assert error in response.content.decode()
    assert_nothing_stored(isolated_storage)


def damaged_zip() -> SimpleUploadedFile:
    """A zip whose member's bytes no longer match its CRC-32."""
    good = zip_upload({"c-001.npy": npy_bytes(mask(0))}, compression=zipfile.ZIP_STORED)
    data = bytearray(good.read())
    offset = data.index(b"\x93NUMPY") + 128 + 10  # inside the array's bytes (after the header)
    data[offset] ^= 0xFF
    return SimpleUploadedFile("masks.zip", bytes(data), content_type="application/zip")


HOSTILE = [
    (lambda: zip_upload({"../../../etc/passwd": b"root:x:0:0", "c-001.png": png_bytes(mask(0))}),
     "passwd: not a mask file"),
    (lambda: zip_upload({"c-001.png": png_bytes(np.zeros((6, 8), np.uint8)),
                         "c-002.png": png_bytes(mask(1))}),
     "differs from the case image (8 x 8)"),
    (lambda: zip_upload({"c-001.png": png_bytes(np.full(SHAPE, 2, np.uint8))}),
     "outside the label set (0 to 1)"),
    (lambda: zip_upload({"../nobody.png": png_bytes(mask(0))}), "nobody is not a case"),
    (lambda: zip_upload({"c-001.png": png_bytes(mask(0)), "x/c-001.npy": npy_bytes(mask(0))}),
     "two mask files for one case"),
    (damaged_zip, "A zip file is damaged"),
    (lambda: SimpleUploadedFile("masks.zip", b"not a zip"), "This is not a zip file"),
]


@pytest.mark.parametrize(("upload", "error"), HOSTILE)
def test_a_hostile_masks_zip_is_refused_with_a_clear_error_and_nothing_is_stored(
        world, admin_client, isolated_storage, upload, error):
    phase = phase_of(world, "segmentation")

    response = admin_client.post(edit(phase.challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(CASES), "masks": upload()})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert_nothing_stored(isolated_storage)


def test_a_bad_lesions_file_is_refused_and_nothing_is_stored(world, admin_client,
                                                             isolated_storage):
    phase = phase_of(world, "detection")

    response = admin_client.post(edit(phase.challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(CASES),
        "lesions": lesions_json({"c-001": [{"x": 50, "y": 2}]})})

    assert response.status_code == 400
    assert "c-001: lesion 1: it lies outside the case image" in response.content.decode()
    assert_nothing_stored(isolated_storage)


# --- the API ----------------------------------------------------------------------------------

def import_url(phase: Phase) -> str:
    return f"/api/v1/challenges/{phase.challenge.slug}/phases/{phase.slug}/cases/import/"


def test_the_api_imports_cases_with_masks_and_reports_both(world, admin, isolated_storage):
    phase = phase_of(world, "segmentation")

    response = factories.api_client_for(admin).post(
        import_url(phase), {"cases": cases_zip(CASES), "masks": good_masks()}, format="multipart")

    assert response.status_code == 201, response.json()
    assert response.json() == {"phase": "test", "created": 3, "unchanged": 0, "labelled": 0,
                               "held": 0,
                               "truths": {"kind": "masks", "cases": 3, "truth_version": 1,
                                          "without_spacing": 3}}
    assert GroundTruth.objects.filter(case__phase=phase).count() == 3


def test_the_api_imports_lesions(world, admin):
    phase = phase_of(world, "detection")

    response = factories.api_client_for(admin).post(
        import_url(phase), {"cases": cases_zip(CASES), "lesions": lesions_json(POINTS)},
        format="multipart")

    assert response.status_code == 201, response.json()
    assert response.json()["truths"]["kind"] == "lesions"
    assert GroundTruth.objects.filter(case__phase=phase).count() == 3


def test_the_api_refuses_masks_for_another_task_type_on_the_field(world, admin,
                                                                  isolated_storage):
    phase = phase_of(world, "detection")

    response = factories.api_client_for(admin).post(
        import_url(phase), {"cases": cases_zip(CASES), "masks": good_masks()}, format="multipart")

    body = response.json()
    assert response.status_code == 400 and body["code"] == "invalid"
    assert "Masks are ground truth only for segmentation" in body["fields"]["masks"][0]
    assert_nothing_stored(isolated_storage)


@pytest.mark.parametrize(("upload", "code", "error"), [
    (HOSTILE[0][0], "masks_rejected", "passwd: not a mask file"),
    (HOSTILE[1][0], "masks_rejected", "differs from the case image"),
    (damaged_zip, "bad_zip", "A zip file is damaged"),
])
def test_the_api_refuses_a_hostile_masks_zip_with_nothing_stored(world, admin, isolated_storage,
                                                                 upload, code, error):
    phase = phase_of(world, "segmentation")

    response = factories.api_client_for(admin).post(
        import_url(phase), {"cases": cases_zip(CASES), "masks": upload()}, format="multipart")

    body = response.json()
    assert response.status_code == 400 and body["code"] == code
    assert error in body["detail"]
    assert_nothing_stored(isolated_storage)
