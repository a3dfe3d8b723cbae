"""The wizard's data step takes a folder chosen in the browser as well as a zip: the files
arrive under their bare names and their relative paths in a hidden field (static/enclave.js
fills it), so a sub-folder (a DICOM series) is one case, as in a zip."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.uid import generate_uid

from challenges.models import Case
from tests.challenges.test_import_series import write_series
from tests.challenges.test_wizard import draft, edit, labels_csv, make_phase, png

pytestmark = pytest.mark.django_db


def folder_upload(tmp_path, *, paths: list[str] | None = None) -> dict[str, object]:
    """The post of a chosen folder `scan/`: two PNG cases at its top, a 3-slice CT series in
    `scan/ct-a/`; `paths` overrides what the browser reported."""
    series = tmp_path / "series"
    write_series(series, 3, study=generate_uid())
    files = [("scan/c-001.png", png(1)), ("scan/c-002.png", png(2))] + [
        (f"scan/ct-a/{p.name}", p.read_bytes()) for p in sorted(series.iterdir())]
    uploads = [SimpleUploadedFile(path.rsplit("/", 1)[-1], data) for path, data in files]
    reported = [path for path, _ in files] if paths is None else paths
    return {"case_folder": uploads, "case_paths": json.dumps(reported)}


def test_a_folder_imports_its_files_and_series_like_a_zip(world, admin_client, tmp_path):
    challenge = draft(world)
    phase = make_phase(challenge=challenge, slug="test")

    response = admin_client.post(edit(challenge.slug, "data"), {
        "phase": "test", **folder_upload(tmp_path),
        "labels": labels_csv({"c-001": "present", "ct-a": "absent"})})

    assert response.status_code == 302, response.content.decode()[:2000]
    cases = {c.case_id: c for c in Case.objects.filter(phase=phase)}
    assert sorted(cases) == ["c-001", "c-002", "ct-a"]
    assert cases["ct-a"].files.count() == 3 and (cases["ct-a"].shape or [])[:1] == [3]
    assert cases["c-001"].files.get().name == "image.png"


@pytest.mark.parametrize(("paths", "error"), [
    (None, None),  # the control: accepted
    ("missing", "did not send the folder"),
    (["scan/c-001.png"], "did not send the folder"),
    (["scan/../c-001.png", "scan/c-002.png", "scan/ct-a/a", "scan/ct-a/b", "scan/ct-a/c"],
     "A file name in the folder is not allowed"),
    (["scan/.hidden", "scan/c-002.png", "scan/ct-a/a", "scan/ct-a/b", "scan/ct-a/c"],
     "A file name in the folder is not allowed"),
    (["/etc/c-001.png", "scan/c-002.png", "scan/ct-a/a", "scan/ct-a/b", "scan/ct-a/c"],
     "A file name in the folder is not allowed"),
    (["one/c-001.png", "two/c-002.png", "two/ct-a/a", "two/ct-a/b", "two/ct-a/c"],
     "Choose one folder"),
    (["scan/c-001.png", "scan/c-001.png", "scan/ct-a/a", "scan/ct-a/b", "scan/ct-a/c"],
     "appears twice"),
])
def test_bad_folder_paths_are_refused_and_nothing_is_stored(world, admin_client, tmp_path,
                                                            isolated_storage, paths, error):
    challenge = draft(world)
    phase = make_phase(challenge=challenge, slug="test")
    upload = folder_upload(tmp_path, paths=None if paths in (None, "missing") else paths)
    if paths == "missing":
        upload.pop("case_paths")

    response = admin_client.post(edit(challenge.slug, "data"), {"phase": "test", **upload})

    if error is None:
        assert response.status_code == 302
        return
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Case.objects.filter(phase=phase).exists()
    assert not isolated_storage.exists() or not any(isolated_storage.rglob("*.*"))


def test_a_zip_and_a_folder_together_are_refused(world, admin_client, tmp_path):
    from tests.challenges.test_wizard import cases_zip

    challenge = draft(world)
    make_phase(challenge=challenge, slug="test")
    response = admin_client.post(edit(challenge.slug, "data"), {
        "phase": "test", "cases": cases_zip(["c-009"]), **folder_upload(tmp_path)})

    assert response.status_code == 400
    assert "Upload a zip of the cases or choose a folder: one of them" in response.content.decode()


def test_the_data_step_offers_a_folder_picker(world, admin_client):
    challenge = draft(world)
    make_phase(challenge=challenge, slug="test")
    page = admin_client.get(edit(challenge.slug, "data")).content.decode()

    assert 'webkitdirectory' in page and 'data-relative-paths="id_case_paths"' in page
    assert 'type="hidden" name="case_paths"' in page and 'id="id_case_paths"' in page
