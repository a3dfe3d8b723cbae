"""Case import: de-identified on arrival, content-addressed, all or nothing."""

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from challenges.errors import ImportRejected
from challenges.models import Case, GroundTruth
from challenges.services import cases_import
from examples.phantom import build_phantom


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return build_phantom(tmp_path_factory.mktemp("phantom"), n_sanity=4, n_test=6)


def stored(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def test_import_stores_only_deidentified_files_with_labels(world, phantom, isolated_storage):
    report = cases_import(phase=world.phase, path=phantom.sanity_dir,
                          labels_path=phantom.sanity_labels)

    assert (report.created, report.labelled) == (4, 4)
    assert GroundTruth.objects.filter(case__phase=world.phase).count() == 4
    files = stored(isolated_storage)
    assert len(files) == 4
    for path in files:
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert "PHANTOM" not in str(ds.PatientName)
        assert b"PHANTOM^" not in path.read_bytes()
    assert AuditEvent.objects.filter(action="cases.import").count() == 1
    # One de-identification record per file: hashes, profile and what was done, no values.
    records = AuditEvent.objects.filter(action="deid.file")
    assert sorted(r.detail["output_sha256"] for r in records) == sorted(p.name for p in files)
    for record in records:
        deid = record.detail["deid"]
        assert deid["profile"] == "enclave-deid 0.1" and deid["leak_scan"]["hits"] == 0
        assert deid["patient"] == "pseudonymised" and deid["uids_remapped"] > 0
        assert "PHANTOM" not in json.dumps(record.detail)


def test_reimport_is_a_no_op(world, phantom, isolated_storage):
    cases_import(phase=world.phase, path=phantom.sanity_dir, labels_path=phantom.sanity_labels)
    again = cases_import(phase=world.phase, path=phantom.sanity_dir)

    assert (again.created, again.unchanged) == (0, 4)
    assert len(stored(isolated_storage)) == 4


def test_a_zip_imports_like_a_folder(world, phantom, tmp_path):
    archive = tmp_path / "cases.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(phantom.test_dir.iterdir()):
            zf.write(path, f"nested/{path.name}")

    report = cases_import(phase=world.phase, path=archive, labels_path=phantom.test_labels)

    assert report.created == 6
    assert sorted(Case.objects.values_list("case_id", flat=True))[0] == "lp-test-001"


@pytest.mark.parametrize(("labels", "code"), [
    ("case_id,label\nlp-sanity-001,maybe\n", "bad_labels"),
    ("case,label\nlp-sanity-001,present\n", "bad_labels"),
    ("case_id,label\nlp-sanity-001,present\nlp-sanity-001,absent\n", "bad_labels"),
    ("case_id,label\nnot-a-case,present\n", "import_rejected"),
])
def test_bad_labels_reject_the_whole_import(world, phantom, tmp_path, isolated_storage, labels,
                                            code):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(labels)

    with pytest.raises(ImportRejected) as rejected:
        cases_import(phase=world.phase, path=phantom.sanity_dir, labels_path=csv_path)

    assert rejected.value.code == code
    assert Case.objects.count() == 0
    assert stored(isolated_storage) == []


def test_one_bad_file_rejects_the_whole_import_and_names_it(world, phantom, tmp_path,
                                                            isolated_storage):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in sorted(phantom.sanity_dir.iterdir()):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken-case.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")

    with pytest.raises(ImportRejected) as rejected:
        cases_import(phase=world.phase, path=folder)

    assert "broken-case.dcm" in rejected.value.message
    assert Case.objects.count() == 0
    assert stored(isolated_storage) == []


def test_import_cases_command_reports_and_refuses_clearly(world, phantom):
    out = io.StringIO()
    call_command("import_cases", "--challenge", "lesions", "--phase", "test",
                 "--labels", str(phantom.sanity_labels), str(phantom.sanity_dir), stdout=out)
    assert "imported 4 new cases" in out.getvalue()

    with pytest.raises(CommandError, match="No phase 'nope'"):
        call_command("import_cases", "--challenge", "lesions", "--phase", "nope",
                     str(phantom.sanity_dir))


def test_an_encrypted_zip_member_is_refused_with_a_reason(world, tmp_path):
    archive = tmp_path / "cases.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("case-1.png", b"not really a png")
    raw = bytearray(archive.read_bytes())
    # set the "encrypted" flag bit in the local and the central header, as a password tool would
    raw[6] |= 0x1
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 8] |= 0x1
    archive.write_bytes(bytes(raw))
    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=world.phase, path=archive)
    assert refused.value.code == "encrypted" and "case-1.png" in refused.value.message
    assert not world.phase.cases.exists()
