"""Case imports with multi-file cases (a folder per series or study) and the parallel path on the
`imaging` queue (run eagerly here; tests/e2e/test_imaging_worker.py runs a real worker)."""

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from challenges.errors import ImportRejected
from challenges.models import Case, GroundTruth, HeldImage, ImportBatch, TaskType
from challenges.services import cases_import
from challenges.services_held import held_image_decide
from challenges.services_import import import_batches_sweep
from challenges.truths import masks_import
from config.celery import app
from tests import factories
from tests.mask_files import npy_bytes

CT = "CT_small.dcm"


def write_series(folder: Path, n: int, *, study: str, series: str | None = None,
                 source: str = CT, shuffle: bool = True) -> list[int]:
    """`n` instances of one series under `folder`, written in an order unlike their instance
    numbers; returns the instance numbers in file-name order."""
    folder.mkdir(parents=True, exist_ok=True)
    series = series or generate_uid()
    numbers = list(range(n, 0, -1)) if shuffle else list(range(1, n + 1))
    for position, number in enumerate(numbers):
        ds = pydicom.dcmread(get_testdata_file(source, download=False))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = number
        ds.save_as(folder / f"slice-{position:03d}.dcm")
    return numbers


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


@pytest.fixture
def upload(tmp_path) -> Path:
    """Two series folders (3 and 4 slices) and one top-level single-file case."""
    root = tmp_path / "upload"
    write_series(root / "ct-a", 3, study=generate_uid())
    write_series(root / "ct-b", 4, study=generate_uid())
    shutil.copy(get_testdata_file(CT, download=False), root / "single.dcm")
    return root


@pytest.fixture
def eager():
    """Celery tasks run in this process (CELERY_TASK_ALWAYS_EAGER) for one test."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def parallel(settings, monkeypatch, eager):
    """The parallel path, its tasks run eagerly in this process."""
    settings.ENCLAVE_IMAGING_PARALLEL = True
    settings.ENCLAVE_IMAGING_PARALLEL_MIN_FILES = 1
    sent: list[str] = []
    from challenges import tasks
    original = tasks.enqueue_import_batch

    def enqueue(**kwargs):
        sent.append(kwargs["job"])
        original(**kwargs)
    monkeypatch.setattr(tasks, "enqueue_import_batch", enqueue)
    return sent


def _check_upload_cases(world, media: Path) -> None:
    cases = {c.case_id: c for c in Case.objects.filter(phase=world.phase)}
    assert sorted(cases) == ["ct-a", "ct-b", "single"]
    for case_id, n in (("ct-a", 3), ("ct-b", 4)):
        case = cases[case_id]
        files = list(case.files.all())
        assert [f.name for f in files] == [f"{i:04d}.dcm" for i in range(1, n + 1)]
        assert case.shape == [n, 128, 128]
        assert case.modality == "CT" and case.deid_summary["files"] == n
        numbers = []
        for f in files:
            with default_storage.open(f.storage_key, "rb") as handle:
                ds = pydicom.dcmread(handle)
            assert ds.PatientIdentityRemoved == "YES"
            numbers.append(int(ds.InstanceNumber))
        assert numbers == list(range(1, n + 1))  # stored in instance-number order
    assert [f.name for f in cases["single"].files.all()] == ["image.dcm"]
    assert cases["single"].shape == [128, 128]
    assert len(stored_files(media)) == 8
    original = Path(get_testdata_file(CT, download=False)).read_bytes()
    assert all(p.read_bytes() != original for p in stored_files(media))


def test_a_folder_per_series_is_one_case_in_instance_order(world, upload, isolated_storage):
    report = cases_import(phase=world.phase, path=upload)

    assert (report.created, report.unchanged) == (3, 0)
    _check_upload_cases(world, isolated_storage)
    again = cases_import(phase=world.phase, path=upload)
    assert (again.created, again.unchanged) == (0, 3)


def test_a_zip_wrapping_series_folders_imports_like_the_folder(world, upload, tmp_path,
                                                               isolated_storage):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(upload.rglob("*")):
            if path.is_file():
                zf.write(path, f"my-cases/{path.relative_to(upload).as_posix()}")

    report = cases_import(phase=world.phase, path=archive)

    assert report.created == 3
    _check_upload_cases(world, isolated_storage)


def test_the_parallel_path_makes_the_same_cases_and_leaves_no_batch_rows(
        world, upload, isolated_storage, parallel):
    report = cases_import(phase=world.phase, path=upload)

    assert report.created == 3
    assert len(parallel) == 3  # one task per series, one for the single file
    assert len(set(parallel)) == 1  # all of one import job
    _check_upload_cases(world, isolated_storage)
    assert not ImportBatch.objects.exists()


@pytest.mark.parametrize("path_kind", ["serial", "parallel"])
def test_a_bad_file_in_one_series_leaves_nothing_behind(world, upload, isolated_storage,
                                                        settings, eager, path_kind):
    settings.ENCLAVE_IMAGING_PARALLEL = path_kind == "parallel"
    settings.ENCLAVE_IMAGING_PARALLEL_MIN_FILES = 1
    (upload / "ct-b" / "slice-002.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=world.phase, path=upload)

    assert "ct-b/slice-002.dcm" in refused.value.message
    assert not Case.objects.exists() and not ImportBatch.objects.exists()
    assert stored_files(isolated_storage) == []


def test_a_folder_mixing_studies_is_refused_with_its_reason(world, tmp_path, isolated_storage):
    root = tmp_path / "upload"
    write_series(root / "mixed", 2, study=generate_uid())
    write_series(root / "mixed" / "other", 2, study=generate_uid())
    write_series(root / "fine", 2, study=generate_uid())

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=world.phase, path=root)

    assert "mixed: the folder mixes 2 studies" in refused.value.message
    assert "fine" not in refused.value.message
    assert stored_files(isolated_storage) == [] and not Case.objects.exists()


def test_a_study_folder_with_two_series_is_one_case(world, tmp_path):
    root, study = tmp_path / "upload", generate_uid()
    write_series(root / "study-1" / "series-1", 2, study=study)
    write_series(root / "study-1" / "series-2", 3, study=study)
    write_series(root / "study-2", 1, study=generate_uid())

    cases_import(phase=world.phase, path=root)

    case = Case.objects.get(case_id="study-1")
    assert case.files.count() == 5 and case.shape == [5, 128, 128]
    assert Case.objects.get(case_id="study-2").shape == [128, 128]


def test_a_case_folder_with_a_non_dicom_file_is_refused(world, tmp_path, isolated_storage):
    root = tmp_path / "upload"
    write_series(root / "ct-a", 2, study=generate_uid())
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(buffer, format="PNG")
    (root / "ct-a" / "notes.png").write_bytes(buffer.getvalue())

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=world.phase, path=root)

    assert "ct-a: a case folder holds DICOM files only; notes.png is not DICOM" in (
        refused.value.message)
    assert stored_files(isolated_storage) == []


def test_a_case_folder_at_risk_of_burned_in_text_is_held_whole_and_decided_whole(
        world, tmp_path, isolated_storage, django_capture_on_commit_callbacks):
    root, study = tmp_path / "upload", generate_uid()
    write_series(root / "us", 3, study=study, source="examples_palette.dcm")
    labels = tmp_path / "labels.csv"
    labels.write_text("case_id,label\nus,present\n")

    report = cases_import(phase=world.phase, path=root, labels_path=labels)
    again = cases_import(phase=world.phase, path=root)

    assert (report.created, report.held, again.held, again.unchanged) == (0, 1, 0, 1)
    rows = list(HeldImage.objects.order_by("file_name"))
    assert [r.file_name for r in rows] == ["0001.dcm", "0002.dcm", "0003.dcm"]
    assert {r.case_id for r in rows} == {"us"} and (rows[0].shape or [])[:1] == [3]
    assert not Case.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        held_image_decide(held=rows[1], actor=world.steward, approve=True, reason="clean")

    case = Case.objects.get(case_id="us")
    assert [f.name for f in case.files.order_by("name")] == ["0001.dcm", "0002.dcm", "0003.dcm"]
    assert case.shape == rows[0].shape and case.deid_summary["files"] == 3
    assert set(HeldImage.objects.values_list("status", flat=True)) == {"approved"}
    assert GroundTruth.objects.get(case=case, version=world.phase.truth_version).value == "present"
    assert {p.relative_to(isolated_storage).parts[0] for p in stored_files(isolated_storage)} == {
        "cases"}


def test_rejecting_a_held_case_folder_deletes_all_of_it(world, tmp_path, isolated_storage,
                                                       django_capture_on_commit_callbacks):
    root = tmp_path / "upload"
    write_series(root / "us", 2, study=generate_uid(), source="examples_palette.dcm")
    cases_import(phase=world.phase, path=root)

    with django_capture_on_commit_callbacks(execute=True):
        held_image_decide(held=HeldImage.objects.first(), actor=world.steward, approve=False)

    assert set(HeldImage.objects.values_list("status", flat=True)) == {"rejected"}
    assert stored_files(isolated_storage) == [] and not Case.objects.exists()


def test_a_zip_entry_climbing_out_is_refused(world, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(get_testdata_file(CT, download=False), "../escape/ct.dcm")

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=world.phase, path=archive)

    assert refused.value.code == "unsafe_path"


def test_a_segmentation_series_takes_a_mask_of_its_slices(db, tmp_path):
    phase = factories.PhaseFactory(challenge__task_type=TaskType.SEGMENTATION,
                                   challenge__labels=["background", "lesion"],
                                   challenge__positive_label="")
    root = tmp_path / "upload"
    write_series(root / "ct-a", 3, study=generate_uid())
    cases_import(phase=phase, path=root)
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "ct-a.npy").write_bytes(npy_bytes(np.zeros((3, 128, 128), dtype=np.uint8)))

    masks_import(phase=phase, path=masks)

    assert GroundTruth.objects.filter(case__case_id="ct-a").count() == 1
    (masks / "ct-a.npy").write_bytes(npy_bytes(np.zeros((128, 128), dtype=np.uint8)))
    with pytest.raises(ImportRejected):
        masks_import(phase=phase, path=masks)


def test_a_segmentation_case_folder_of_mixed_sizes_is_refused(db, tmp_path):
    phase = factories.PhaseFactory(challenge__task_type=TaskType.SEGMENTATION,
                                   challenge__labels=["background", "lesion"],
                                   challenge__positive_label="")
    root, study = tmp_path / "upload", generate_uid()
    write_series(root / "mixed" / "ct", 2, study=study)
    write_series(root / "mixed" / "mr", 2, study=study, source="MR_small.dcm")

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=phase, path=root)

    assert "mixed: a segmentation or detection case must be one series" in refused.value.message


def test_without_a_worker_the_import_times_out_and_keeps_nothing(world, upload, settings, eager,
                                                                monkeypatch, isolated_storage):
    settings.ENCLAVE_IMAGING_PARALLEL, settings.ENCLAVE_IMAGING_PARALLEL_MIN_FILES = True, 1
    settings.ENCLAVE_IMAGING_TIMEOUT = 1
    monkeypatch.setattr("challenges.tasks.enqueue_import_batch", lambda **kwargs: None)

    with pytest.raises(ImportRejected) as refused:
        cases_import(phase=world.phase, path=upload)

    assert refused.value.code == "imaging_timeout" and "0 of 3" in refused.value.message
    assert stored_files(isolated_storage) == [] and not Case.objects.exists()


def test_the_sweep_removes_left_over_batches_and_only_their_unused_files(
        world, upload, settings, isolated_storage, parallel):
    cases_import(phase=world.phase, path=upload)
    used = Case.objects.get(case_id="ct-a").files.all()[0]
    orphan = default_storage.save("cases/ab/" + "ab" * 32, io.BytesIO(b"left over"))
    settings.ENCLAVE_IMAGING_TIMEOUT = 0
    ImportBatch.objects.create(job="00000000-0000-0000-0000-000000000001", index=0,
                               phase_pk=world.phase.pk, stored=[orphan, used.storage_key])

    assert import_batches_sweep() == 1

    assert not default_storage.exists(orphan) and default_storage.exists(used.storage_key)
    assert not ImportBatch.objects.exists()


def test_renderings_are_made_at_ingest_into_a_shared_render_cache(world, upload, settings,
                                                                  tmp_path):
    from django.core.cache import cache

    from challenges.services_import import INGEST_RENDERINGS
    from imaging.render import cache_key

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    cases_import(phase=world.phase, path=upload)

    for case in Case.objects.filter(phase=world.phase):
        first, *rest = case.files.all()
        for params in INGEST_RENDERINGS:
            held = cache.get(cache_key(first.sha256, first.kind, params))
            assert held is not None and held["png"].startswith(b"\x89PNG")
            assert max(held["rows"], held["columns"]) == 128
        for other in rest:  # only the case's first file, which the pages show
            assert cache.get(cache_key(other.sha256, other.kind, INGEST_RENDERINGS[0])) is None


def test_no_renderings_at_ingest_into_a_per_process_cache(world, upload):
    from django.core.cache import cache

    from challenges.services_import import INGEST_RENDERINGS
    from imaging.render import cache_key

    cases_import(phase=world.phase, path=upload)

    first = Case.objects.get(case_id="single").files.all()[0]
    assert cache.get(cache_key(first.sha256, first.kind, INGEST_RENDERINGS[1])) is None


def test_the_queue_says_which_files_are_decided_together(world, tmp_path, isolated_storage,
                                                         client):
    root = tmp_path / "upload"
    write_series(root / "us", 2, study=generate_uid(), source="examples_palette.dcm")
    cases_import(phase=world.phase, path=root)
    factories.login_verified(client, world.steward)

    page = client.get("/challenges/lesions/data/held/")

    assert page.status_code == 200
    assert page.content.count(b'data-held-together="2"') == 2
