"""A case import de-identified by a real `celery worker` process on the `imaging` queue: one task
per series, run in the worker's pool processes against the test database and broker; the import
commits only when every batch succeeded, and a bad file in one series leaves nothing behind."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from django.core.files.storage import default_storage
from pydicom.uid import generate_uid

from audit.models import AuditEvent
from challenges.errors import ImportRejected
from challenges.models import Case, ImportBatch
from challenges.services import cases_import
from tests import factories
from tests.challenges.test_import_series import stored_files, write_series
from tests.e2e.conftest import ROOT, Workers

pytestmark = [pytest.mark.e2e]


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no parent for {pid}")


@pytest.fixture
def imaging_worker(workers: Workers, settings):
    """One real worker on the `imaging` queue only, two pool processes."""
    log = workers.log_dir / "worker-imaging.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "imaging",
             "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "-n", "imaging@%h"],
            cwd=ROOT, env={**workers.env, "ENCLAVE_NODE_NAME": "imaging"}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    workers.processes["imaging"] = process
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    settings.ENCLAVE_IMAGING_PARALLEL = True
    settings.ENCLAVE_IMAGING_PARALLEL_MIN_FILES = 1
    settings.ENCLAVE_IMAGING_TIMEOUT = 120
    return process


def test_a_multi_series_upload_is_deidentified_by_the_imaging_worker(
        imaging_worker, tmp_path, isolated_storage):
    phase = factories.PhaseFactory()
    root = tmp_path / "upload"
    sizes = {"series-a": 3, "series-b": 4, "series-c": 2}
    for name, n in sizes.items():
        write_series(root / name, n, study=generate_uid())

    report = cases_import(phase=phase, path=root)

    assert report.created == 3
    for name, n in sizes.items():
        case = Case.objects.get(phase=phase, case_id=name)
        assert case.shape == [n, 128, 128] and case.files.count() == n
        numbers = []
        for case_file in case.files.all():
            with default_storage.open(case_file.storage_key, "rb") as handle:
                ds = pydicom.dcmread(handle)
            assert ds.PatientIdentityRemoved == "YES"
            numbers.append(int(ds.InstanceNumber))
        assert numbers == list(range(1, n + 1))
    workers = AuditEvent.objects.get(action="cases.import").detail["workers"]
    assert workers, "no batch reported a worker"
    for worker in workers:
        host, pid = worker.rsplit(":", 1)
        assert host == socket.gethostname() and int(pid) != os.getpid()
        assert _parent(int(pid)) == imaging_worker.pid  # a pool process of the imaging worker
    assert not ImportBatch.objects.exists()


def test_a_bad_file_in_one_series_leaves_nothing_behind(imaging_worker, tmp_path,
                                                        isolated_storage):
    phase = factories.PhaseFactory()
    root = tmp_path / "upload"
    for name in ("series-a", "series-b", "series-c"):
        write_series(root / name, 3, study=generate_uid())
    (root / "series-b" / "slice-001.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"truncated")

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=phase, path=root)

    assert "series-b/slice-001.dcm" in refused.value.message
    assert not Case.objects.exists() and not ImportBatch.objects.exists()
    assert stored_files(isolated_storage) == []


def test_the_wizard_import_fans_out_inside_its_transaction(imaging_worker, tmp_path):
    """The wizard's data step wraps the import in its own transaction: on PostgreSQL the workers
    still report (their rows need no lock the importer holds) and the cases commit with it."""
    from accounts.models import SocietyRole
    from challenges.services_setup import phase_data_import

    society = factories.SocietyFactory()
    phase = factories.PhaseFactory(challenge__society=society)
    admin = factories.society_member(society, SocietyRole.ADMIN)
    root = tmp_path / "upload"
    for name in ("series-a", "series-b"):
        write_series(root / name, 3, study=generate_uid())

    report = phase_data_import(phase=phase, actor=admin, cases_path=root)

    assert report.cases.created == 2
    assert AuditEvent.objects.get(action="cases.import").detail["workers"]
    assert Case.objects.get(case_id="series-b").shape == [3, 128, 128]
