"""The DICOM C-STORE receiver, driven by dcmtk's storescu/echoscu (a sender no one here wrote).

The receiver runs in this process (background threads, 127.0.0.1, a free port); the database is
the transactional test database, so its threads see the world and the tests see their writes.
One test starts the management command itself as a subprocess on the same database.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from audit.models import AuditEvent
from challenges.dicom_receiver import dicom_receiver_start
from challenges.models import Case, CaseFile, HeldImage

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # .ci/run installs dcmtk; under CI a missing storescu fails these tests instead of skipping
    pytest.mark.skipif(shutil.which("storescu") is None and not os.environ.get("CI"),
                       reason="dcmtk is not installed"),
]

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
ORIGINAL_KEYWORDS = ("PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                     "SOPInstanceUID", "FrameOfReferenceUID", "StudyDate")


def fixture_file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom test file {name} is not available offline"
    return Path(path)


def send(port: int, *files: Path, calling: str = "HOSPITAL", called: str = "ENCLAVE"
         ) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["storescu", "-d", "-aet", calling, "-aec", called, HOST, str(port), *map(str, files)],
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def receiver(world) -> Iterator[int]:
    server = dicom_receiver_start(phase=world.phase, address=HOST, port=0, site="site-a")
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def originals(path: Path) -> list[bytes]:
    ds = pydicom.dcmread(path)
    return [str(ds[keyword].value).encode() for keyword in ORIGINAL_KEYWORDS if keyword in ds]


def audit_actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_echoscu_gets_an_answer(receiver):
    echo = subprocess.run(["echoscu", "-aet", "HOSPITAL", "-aec", "ENCLAVE", HOST, str(receiver)],
                          capture_output=True, text=True, timeout=30)

    assert echo.returncode == 0, echo.stderr


def test_storescu_studies_arrive_de_identified_one_case_each(world, receiver, isolated_storage):
    ct, mr = fixture_file("CT_small.dcm"), fixture_file("MR_small.dcm")

    sent = send(receiver, ct, mr)

    assert sent.returncode == 0, sent.stderr
    cases = list(Case.objects.filter(phase=world.phase))
    assert len(cases) == 2
    assert sorted(c.modality for c in cases) == ["CT", "MR"]
    assert all(c.case_id.startswith("2.25.") and c.site == "site-a" for c in cases)
    assert all(c.deid_summary["files"] == 1 and c.deid_summary["uids_remapped"] > 0
               for c in cases)
    files = stored_files(isolated_storage)
    assert len(files) == 2 == CaseFile.objects.count()
    needles = originals(ct) + originals(mr)
    assert b"CompressedSamples" in needles[0]
    for path in files:
        data = path.read_bytes()
        assert not [n for n in needles if n in data]
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.StudyInstanceUID in {c.case_id for c in cases}
        assert CaseFile.objects.get(sha256=path.name).name == f"{ds.SOPInstanceUID}.dcm"
    received = AuditEvent.objects.filter(action="dicom.received")
    assert [e.detail["outcome"] for e in received] == ["created", "created"]
    assert {e.detail["calling_ae"] for e in received} == {"HOSPITAL"}
    for event in received:  # the per-file de-identification record: what was done, no values
        deid = event.detail["deid"]
        assert deid["profile"] == "enclave-deid 0.1" and deid["leak_scan"]["hits"] == 0
        assert deid["uids_remapped"] > 0 and deid["attributes_removed"] > 0
        assert not [n for n in needles if n.decode("latin-1") in json.dumps(event.detail)]


def test_the_same_file_twice_makes_one_case(world, receiver, isolated_storage):
    ct = fixture_file("CT_small.dcm")

    first, second = send(receiver, ct), send(receiver, ct)

    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert Case.objects.count() == 1 and CaseFile.objects.count() == 1
    assert len(stored_files(isolated_storage)) == 1
    outcomes = [e.detail["outcome"] for e in AuditEvent.objects.filter(action="dicom.received")]
    assert outcomes == ["created", "unchanged"]


def test_instances_of_one_study_make_one_case(world, receiver, tmp_path):
    ct = fixture_file("CT_small.dcm")
    second = pydicom.dcmread(ct)
    second.SOPInstanceUID = generate_uid()
    second.file_meta.MediaStorageSOPInstanceUID = second.SOPInstanceUID
    second.InstanceNumber = 2
    second_path = tmp_path / "second.dcm"
    second.save_as(second_path, enforce_file_format=True)

    sent = send(receiver, ct, second_path)

    assert sent.returncode == 0, sent.stderr
    case = Case.objects.get()
    assert case.files.count() == 2
    assert case.deid_summary["files"] == 2
    outcomes = [e.detail["outcome"] for e in AuditEvent.objects.filter(action="dicom.received")]
    assert outcomes == ["created", "added"]


def test_only_allowed_calling_ae_titles_may_send(world, isolated_storage):
    server = dicom_receiver_start(phase=world.phase, address=HOST, port=0,
                                  allowed_calling_aes=("PACS1",))
    port = server.server_address[1]
    try:
        refused = send(port, fixture_file("CT_small.dcm"), calling="INTRUDER")
        assert refused.returncode != 0
        assert "Calling AE Title Not Recognized" in refused.stderr
        assert Case.objects.count() == 0 and stored_files(isolated_storage) == []

        accepted = send(port, fixture_file("CT_small.dcm"), calling="PACS1")
        assert accepted.returncode == 0, accepted.stderr
        assert Case.objects.count() == 1
    finally:
        server.shutdown()


def test_a_wrong_called_ae_title_is_refused(world, receiver, isolated_storage):
    refused = send(receiver, fixture_file("CT_small.dcm"), called="SOMEONE-ELSE")

    assert refused.returncode != 0
    assert "Called AE Title Not Recognized" in refused.stderr
    assert Case.objects.count() == 0 and stored_files(isolated_storage) == []


def encapsulated_pdf(path: Path) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.104.1")
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Report^Patient", "PDF0001", "DOC"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n% Report for Report^Patient\n%%EOF\n"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_an_unsupported_sop_class_is_refused_with_a_reason(world, receiver, tmp_path,
                                                          isolated_storage):
    sent = send(receiver, encapsulated_pdf(tmp_path / "report.dcm"))

    assert sent.returncode != 0
    assert "DIMSE Status                  : 0x0122" in sent.stderr  # storescu -d shows the reply
    assert "[unsupported_sop_class]" in sent.stderr  # ... and its Error Comment
    assert Case.objects.count() == 0 and stored_files(isolated_storage) == []
    refused = AuditEvent.objects.get(action="dicom.refused")
    assert refused.detail == {"calling_ae": "HOSPITAL", "code": "unsupported_sop_class",
                              "sop_class_uid": "1.2.840.10008.5.1.4.1.1.104.1"}


def test_a_private_sop_class_is_not_even_negotiated(world, receiver, tmp_path, isolated_storage):
    ds = pydicom.dcmread(fixture_file("CT_small.dcm"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UID("1.3.6.1.4.1.99999.1.1")
    private = tmp_path / "private.dcm"
    ds.save_as(private, enforce_file_format=True)

    sent = send(receiver, private)

    assert sent.returncode != 0
    assert "No presentation context" in sent.stderr
    assert Case.objects.count() == 0 and stored_files(isolated_storage) == []


def test_a_file_that_fails_de_identification_gets_a_failure_and_nothing_is_stored(
        world, receiver, tmp_path, isolated_storage):
    ds = pydicom.dcmread(fixture_file("CT_small.dcm"))
    del ds.SeriesInstanceUID
    broken = tmp_path / "no-series.dcm"
    ds.save_as(broken, enforce_file_format=True)

    sent = send(receiver, broken)

    assert sent.returncode != 0
    assert "DIMSE Status                  : 0xa900" in sent.stderr
    assert "[missing_uid]" in sent.stderr
    assert Case.objects.count() == 0 and stored_files(isolated_storage) == []
    assert audit_actions() == ["dicom.refused"]
    assert AuditEvent.objects.get().detail["code"] == "missing_uid"


def test_an_image_at_risk_of_burned_in_text_is_held_for_the_steward(
        world, receiver, isolated_storage):
    ultrasound = fixture_file("examples_rgb_color.dcm")  # US without BurnedInAnnotation: at risk

    sent = send(receiver, ultrasound)
    again = send(receiver, ultrasound)

    assert sent.returncode == 0, sent.stderr
    assert again.returncode == 0, again.stderr
    assert Case.objects.count() == 0  # not in any case until a steward approves
    held = HeldImage.objects.get()
    assert (held.status, held.reason, held.source) == ("pending", "risk_modality", "dicom")
    files = stored_files(isolated_storage)
    assert [p.relative_to(isolated_storage).parts[0] for p in files] == ["held"]
    for value in originals(ultrasound):
        assert value not in files[0].read_bytes()
    assert audit_actions() == ["held.store", "dicom.received"]
    assert AuditEvent.objects.get(action="dicom.received").detail["outcome"] == "held"


@pytest.mark.parametrize(("options", "message"), [
    (["--bind", "8.8.8.8"], "loopback or private"),
    (["--bind", "0.0.0.0"], "loopback or private"),  # noqa: S104 (refused, never bound)
    (["--society", "someone-else"], "does not belong"),
    (["--phase", "lesions/nope"], "No phase"),
])
def test_the_command_refuses_bad_options_before_listening(world, options, message):
    defaults = {"--society": world.phase.challenge.society.slug,
                "--phase": f"{world.phase.challenge.slug}/{world.phase.slug}", "--port": "0"}
    for flag, value in zip(options[::2], options[1::2], strict=True):
        defaults[flag] = value
    args = [item for pair in defaults.items() for item in pair]

    with pytest.raises(CommandError, match=message):
        call_command("dicom_receiver", *args)


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_the_management_command_receives_until_stopped(world, settings, tmp_path):
    media = tmp_path / "media"
    env = {**os.environ, "DATABASE_URL": database_url(), "ENCLAVE_VAR_DIR": str(tmp_path / "var"),
           "ENCLAVE_MEDIA_ROOT": str(media), "ENCLAVE_SECRETS_DIR": str(settings.SECRETS_DIR),
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("ENCLAVE_S3_BUCKET", None)
    command = [sys.executable, "manage.py", "dicom_receiver", "--society", "jrs",
               "--phase", f"{world.phase.challenge.slug}/{world.phase.slug}",
               "--port", "0", "--allow-ae", "HOSPITAL"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        listening = re.match(rf"listening on {re.escape(HOST)}:(\d+) as ENCLAVE for ", line)
        if listening is None:
            process.kill()
            _, err = process.communicate(timeout=30)
            pytest.fail(f"the receiver did not start: {line!r} {err[-3000:]}")
        port = int(listening.group(1))
        sent = send(port, fixture_file("MR_small.dcm"))
        assert sent.returncode == 0, sent.stderr
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out
    case = Case.objects.get()
    assert case.modality == "MR"
    assert [p.name for p in stored_files(media)] == [
        case.files.get().sha256]
