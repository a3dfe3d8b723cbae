"""Images at risk of burned-in text: held out of the case set on import, shown only to the
society's data stewards and admins, approved into the cases (with the ground truth sent with
them) or rejected and deleted; every view and decision audited."""

import io
import shutil
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from PIL import Image
from pydicom.data import get_testdata_file

from audit.models import AuditEvent
from challenges.errors import ImportRejected
from challenges.models import Case, GroundTruth, HeldImage
from challenges.services import cases_import
from challenges.services_held import held_image_decide
from tests import factories

QUEUE, API = "/challenges/lesions/data/held/", "/api/v1/challenges/lesions/held/"
ULTRASOUND = "examples_palette.dcm"  # US with ultrasound regions and no BurnedInAnnotation


def _files(tmp_path, cases: dict[str, str], labels: str = "") -> tuple:
    folder = tmp_path / "cases"
    folder.mkdir(exist_ok=True)
    for case_id, source in cases.items():
        shutil.copy(get_testdata_file(source, download=False), folder / f"{case_id}.dcm")
    labels_path = tmp_path / "labels.csv"
    labels_path.write_text("case_id,label\n" + labels)
    return folder, labels_path


@pytest.fixture
def held_world(world, tmp_path, isolated_storage):
    folder, labels = _files(tmp_path, {"ct-001": "CT_small.dcm", "us-001": ULTRASOUND},
                            "ct-001,present\nus-001,absent\n")
    report = cases_import(phase=world.phase, path=folder, labels_path=labels, site="Hospital A")
    return world, report, folder, labels, isolated_storage


@pytest.fixture
def steward_client(client, world):
    factories.login_verified(client, world.steward)
    return client


def _stored(media) -> list[str]:
    return sorted(str(p.relative_to(media)).split("/")[0] for p in media.rglob("*") if p.is_file())


def test_import_holds_the_risky_image_and_admits_the_rest(held_world):
    _, report, _, _, media = held_world

    assert (report.created, report.held, report.unchanged, report.labelled) == (1, 1, 0, 2)
    assert list(Case.objects.values_list("case_id", flat=True)) == ["ct-001"]
    held = HeldImage.objects.get()
    assert (held.case_id, held.status, held.reason, held.label) == (
        "us-001", "pending", "risk_modality", "absent")
    assert held.pixels_masked and held.site == "Hospital A" and held.modality == "US"
    assert _stored(media) == ["cases", "held"]
    # The held case's label waits with it: the phase's truth has the admitted case only.
    assert list(GroundTruth.objects.values_list("case__case_id", "value")) == [("ct-001", "present")]
    assert AuditEvent.objects.get(action="cases.import").detail["held"] == 1


def test_the_same_upload_again_changes_nothing(held_world):
    world, _, folder, labels, _ = held_world

    again = cases_import(phase=world.phase, path=folder, labels_path=labels)

    assert (again.created, again.held, again.unchanged) == (0, 0, 2)
    assert HeldImage.objects.count() == 1


def test_other_content_under_a_held_case_id_is_refused(held_world, tmp_path):
    world = held_world[0]
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(get_testdata_file("examples_rgb_color.dcm", download=False), other / "us-001.dcm")

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=world.phase, path=other)

    assert "waiting for review with different content" in refused.value.message
    assert HeldImage.objects.count() == 1


def test_approval_moves_the_image_into_the_cases_with_its_label(
        held_world, steward_client, django_capture_on_commit_callbacks):
    world, _, _, _, media = held_world
    held = HeldImage.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = steward_client.post(f"{QUEUE}{held.pk}/decide/",
                                       {"decision": "approve", "reason": "regions masked, clean"})

    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.decided_by, held.storage_key) == ("approved", world.steward, "")
    case = Case.objects.get(case_id="us-001")
    (file,) = case.files.all()
    assert file.sha256 == held.sha256 and file.storage_key.startswith("cases/")
    assert default_storage.open(file.storage_key).read()[128:132] == b"DICM"
    assert _stored(media) == ["cases", "cases"]  # the held copy is gone
    world.phase.refresh_from_db()
    truths = dict(GroundTruth.objects.filter(version=world.phase.truth_version)
                  .values_list("case__case_id", "value"))
    assert truths == {"ct-001": "present", "us-001": "absent"}
    assert case.deid_summary["pixel_reviews"] == 1 and case.deid_summary["pixels_masked"] == 1
    approve = AuditEvent.objects.get(action="held.approve")
    assert approve.actor == world.steward and approve.detail["reason"] == "regions masked, clean"


def test_rejection_deletes_the_bytes_and_keeps_the_record(
        held_world, django_capture_on_commit_callbacks):
    world, _, _, _, media = held_world
    held = HeldImage.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        held_image_decide(held=held, actor=world.steward, approve=False, reason="name visible")

    held.refresh_from_db()
    assert (held.status, held.decision_reason, held.storage_key) == ("rejected", "name visible", "")
    assert not Case.objects.filter(case_id="us-001").exists()
    assert _stored(media) == ["cases"]
    factories.refused("already_decided", held_image_decide, held=held, actor=world.steward,
                      approve=True)


def test_tampered_bytes_are_not_admitted(held_world):
    world, _, _, _, media = held_world
    held = HeldImage.objects.get()
    (media / held.storage_key).write_bytes(b"something else")

    factories.refused("integrity_error", held_image_decide, held=held, actor=world.steward,
                      approve=True)

    held.refresh_from_db()
    assert held.status == "pending" and not Case.objects.filter(case_id="us-001").exists()


def test_only_stewards_admins_and_operators_decide(held_world):
    world = held_world[0]
    held = HeldImage.objects.get()
    for user in (world.physician, world.member):
        factories.refused("not_a_data_steward", held_image_decide, held=held, actor=user,
                          approve=True)
    admin = factories.society_member(world.society, "admin", "chair")
    assert held_image_decide(held=held, actor=admin, approve=True).status == "approved"


def test_the_queue_page_shows_the_held_image_to_the_steward(held_world, steward_client):
    held = HeldImage.objects.get()

    page = steward_client.get(QUEUE)
    image = steward_client.get(f"{QUEUE}{held.pk}/image.png?size=256")
    data_page = steward_client.get("/challenges/lesions/data/")

    assert page.status_code == 200
    assert b"us-001" in page.content and f"{QUEUE}{held.pk}/decide/".encode() in page.content
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert "X-Enclave-Render" not in image
    png = np.asarray(Image.open(io.BytesIO(image.content)).convert("L"))
    assert png.shape[1] == 256 and png[0, 0] == 0  # outside the ultrasound region: blacked out
    assert b'data-held-pending="1"' in data_page.content and QUEUE.encode() in data_page.content
    assert {"held.queue_viewed", "held.viewed"} <= set(
        AuditEvent.objects.values_list("action", flat=True))


@pytest.mark.parametrize("who", ["physician", "member", "outsider"])
def test_everyone_else_gets_not_found(held_world, client, who):
    world = held_world[0]
    held = HeldImage.objects.get()
    factories.login_verified(client, getattr(world, who))

    for response in (client.get(QUEUE), client.get(f"{QUEUE}{held.pk}/image.png"),
                     client.post(f"{QUEUE}{held.pk}/decide/", {"decision": "approve"})):
        assert response.status_code == 404
    api = factories.api_client_for(getattr(world, who))
    for response in (api.get(API), api.get(f"{API}{held.pk}/image/"),
                     api.post(f"{API}{held.pk}/decision/", {"approve": True}, format="json")):
        assert response.status_code == 404
    held.refresh_from_db()
    assert held.status == "pending"


def test_the_physician_sees_the_count_but_no_queue_link(held_world, client):
    world = held_world[0]
    factories.login_verified(client, world.physician)

    data_page = client.get("/challenges/lesions/data/")

    assert b'data-held-pending="1"' in data_page.content
    assert QUEUE.encode() not in data_page.content


def test_the_api_lists_renders_and_decides(held_world, django_capture_on_commit_callbacks):
    world = held_world[0]
    api = factories.api_client_for(world.steward)

    listed = api.get(API)
    (item,) = listed.json()["results"]
    image = api.get(f"{API}{item['id']}/image/?size=128")
    bad = api.post(f"{API}{item['id']}/decision/", {"approve": "maybe"}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        decided = api.post(f"{API}{item['id']}/decision/", {"approve": False, "reason": "text"},
                           format="json")
    again = api.post(f"{API}{item['id']}/decision/", {"approve": True}, format="json")
    rejected = api.get(f"{API}?status=rejected").json()["results"]

    assert (item["case_id"], item["reason"], item["pixels_masked"]) == ("us-001", "risk_modality",
                                                                        True)
    assert "burned-in" in item["reason_text"]
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert bad.status_code == 400
    assert decided.status_code == 200 and decided.json()["status"] == "rejected"
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    assert [r["id"] for r in rejected] == [item["id"]]
    assert api.get(f"{API}{item['id']}/image/").status_code == 409  # its bytes are gone


def test_zip_upload_through_the_api_reports_held_images(world, isolated_storage, tmp_path):
    admin = factories.society_member(world.society, "admin", "chair")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for case_id, source in (("ct-001", "CT_small.dcm"), ("us-001", ULTRASOUND)):
            zipped.write(get_testdata_file(source, download=False), f"{case_id}.dcm")
    archive.name = "cases.zip"
    archive.seek(0)

    response = factories.api_client_for(admin).post(
        f"/api/v1/challenges/lesions/phases/{world.phase.slug}/cases/import/",
        {"cases": archive}, format="multipart")

    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["held"]) == (1, 1)
