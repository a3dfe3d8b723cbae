"""Case import: every file of an upload de-identified, stored content-addressed, then admitted as
cases in one transaction — all or nothing.

Which files make which case is `challenges.import_plan` (a top-level file is one case, a
sub-folder of DICOM files is one case: a series or study). The files are de-identified in
batches (`batch_run`): one batch per multi-file case, top-level files `IMPORT_BATCH_FILES` at a
time. Each batch stores only de-identified bytes (`cases/<sha[:2]>/<sha>`) and describes every
file it stored (kind, hashes, geometry, remapped UIDs, action counts — never a value from the
original headers).

Small imports run the batches here. With `ENCLAVE_IMAGING_PARALLEL` and at least
`ENCLAVE_IMAGING_PARALLEL_MIN_FILES` files, every batch is a Celery task on the `imaging` queue
(`challenges.tasks.import_batch`), run by imaging workers that read the upload from the same
path: they run on the node of the importing process or share its scratch directory. With no
result backend, each task reports through an `ImportBatch` row, which the importer polls for
`ENCLAVE_IMAGING_TIMEOUT` seconds. Then, either way, the cases are checked and created in one
transaction; when any file, case or label is refused, every file the batches stored (and no one
else uses) is deleted and the error lists every problem.

An image at risk of burned-in text (`DeidResult.pixel_review`) is held for a data steward
(`challenges.services_held`), never admitted; in a folder case, one such file holds the whole case
(every file of it, decided together: a case is admitted whole or not at all).
"""

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydicom
from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Society
from challenges.case_store import store_content
from challenges.errors import ImportRejected
from challenges.import_plan import CasePlan, UploadReader
from challenges.models import CaseFile, HeldImage, ImportBatch, Phase
from config.secrets import local_secret
from imaging.deid import DeidResult, action_counts, deidentify_file
from imaging.errors import ImageFileRejected
from imaging.render import RenderError, RenderParams, render_cached

IMPORT_BATCH_FILES = 32  # top-level (single-file) cases per batch
# Rendered at ingest into the render cache: the review page's default view (review.views_cases
# CASE_IMAGE_SIZE) and a 256-px thumbnail of each new case's first file.
INGEST_RENDERINGS = (RenderParams(max_size=768), RenderParams(max_size=256))
_LOCAL_CACHES = ("django.core.cache.backends.locmem.LocMemCache",
                 "django.core.cache.backends.dummy.DummyCache")
logger = logging.getLogger(__name__)
_EXTENSIONS = {"dicom": ".dcm", "png": ".png", "jpeg": ".png"}


def deid_key_for(society: Society) -> bytes:
    """The society's de-identification key: a file secret, so database dumps can't link pseudonyms."""
    return local_secret(settings.SECRETS_DIR, f"deid-{society.slug}.key").encode()


@dataclass
class BatchOutcome:
    """What one batch did: per-file metadata, the storage keys it wrote, its problems."""

    files: list[dict[str, Any]] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    worker: str = ""  # host:pid of the imaging worker; empty when run by the importer


def _label(case: CasePlan, member: str) -> str:
    if case.folder:
        return f"{case.case_id}/{Path(member).name}"[:80]
    return Path(member).name[:80] or case.case_id


def _series_position(result: DeidResult) -> tuple[int | None, int | None]:
    """(SeriesNumber, InstanceNumber) of a de-identified DICOM file, None where absent."""
    from io import BytesIO
    try:
        ds = pydicom.dcmread(BytesIO(result.data), stop_before_pixels=True,
                             specific_tags=["SeriesNumber", "InstanceNumber"])
        numbers = [ds.get(keyword) for keyword in ("SeriesNumber", "InstanceNumber")]
        return tuple(int(n) if n not in (None, "") else None for n in numbers)  # type: ignore
    except (ValueError, TypeError, pydicom.errors.InvalidDicomError):
        return None, None


def file_meta(case: CasePlan, member: str, result: DeidResult, key: str) -> dict[str, Any]:
    """What the importer needs to know of one de-identified file, JSON-ready."""
    series_number, instance = (_series_position(result) if result.kind == "dicom"
                               else (None, None))
    return {
        "case": case.case_id, "member": member, "kind": result.kind, "key": key,
        "sha256": result.output_sha256, "input_sha256": result.input_sha256,
        "size": len(result.data), "modality": result.modality or "",
        "spacing": list(result.pixel_spacing) if result.pixel_spacing else None,
        "rows": result.rows, "columns": result.columns, "frames": result.frames,
        "manufacturer": result.manufacturer[:64], "study": result.study_uid or "",
        "series": result.series_uid or "", "series_number": series_number,
        "instance": instance, "review": result.pixel_review,
        "counts": action_counts(result.actions), "deid": result.actions,
    }


def batch_run(*, key: bytes, path: Path, cases: Iterable[CasePlan],
              outcome: BatchOutcome | None = None) -> BatchOutcome:
    """De-identify the files of `cases` (read from the upload at `path`) and store them, into
    `outcome` (a new one by default: the caller's keeps what was stored should this raise); a file
    at risk of burned-in text is described but not stored (the importer holds it, or refuses
    its case). Never raises for a bad file: its problem is in the outcome."""
    outcome = outcome if outcome is not None else BatchOutcome()
    with UploadReader(path) as reader:
        for case in cases:
            files = [meta for member in case.members
                     if (meta := _file_run(case, member, reader, key, outcome)) is not None]
            outcome.files += files
            if files and not outcome.problems and all(meta["key"] for meta in files):
                renderings_cache(series_order(files)[0])
    return outcome


def _file_run(case: CasePlan, member: str, reader: UploadReader, key: bytes,
              outcome: BatchOutcome) -> dict[str, Any] | None:
    """One file de-identified and stored (not when at risk of burned-in text); its metadata, or
    None with its problem added to `outcome`."""
    try:
        result = deidentify_file(reader.read(member), key=key, filename=Path(member).name)
    except (ImageFileRejected, ImportRejected) as exc:
        outcome.problems.append(f"{_label(case, member)}: {exc.message}")
        return None
    except (OSError, KeyError):
        outcome.problems.append(_("%(name)s: the file cannot be read") % {
            "name": _label(case, member)})
        return None
    stored_key = "" if result.pixel_review else store_content(
        result.data, result.output_sha256, outcome.stored)
    return file_meta(case, member, result, stored_key)


def renderings_cache(meta: dict[str, Any]) -> int:
    """Render `INGEST_RENDERINGS` of a stored file (a case's first) into the render cache, when
    that cache is shared between processes (a per-process cache in a worker would help no one);
    returns how many were made. A file that cannot be rendered is logged, never a problem."""
    if settings.CACHES["default"]["BACKEND"] in _LOCAL_CACHES:
        return 0

    def load() -> bytes:
        with default_storage.open(meta["key"], "rb") as handle:
            return handle.read()

    made = 0
    for params in INGEST_RENDERINGS:
        try:
            render_cached(sha256=meta["sha256"], kind=meta["kind"], load=load, params=params)
            made += 1
        except (RenderError, OSError):
            logger.warning("a de-identified %s file cannot be rendered", meta["kind"])
    return made


def import_batch_execute(*, job: str, phase_pk: int, path: str, index: int,
                         cases: list[list]) -> None:
    """The imaging task's body: run one batch and report it as an `ImportBatch` row (once: a
    redelivered task whose row exists does nothing)."""
    if ImportBatch.objects.filter(job=job, index=index).exists():
        return
    plans = [CasePlan.from_task_arg(case) for case in cases]
    outcome = BatchOutcome()
    failed = False
    try:
        phase = Phase.objects.select_related("challenge__society").get(pk=phase_pk)
        batch_run(key=deid_key_for(phase.challenge.society), path=Path(path), cases=plans,
                  outcome=outcome)
    except Exception:  # never leave the importer waiting for a row that will not come
        logger.exception("import batch %s/%d failed", job, index)
        outcome.problems.append(_("%(cases)s: the imaging worker failed; see its log") % {
            "cases": ", ".join(plan.case_id for plan in plans)[:80]})
        failed = True
    ImportBatch.objects.get_or_create(job=job, index=index, defaults={
        "phase_pk": phase_pk, "files": outcome.files, "stored": outcome.stored,
        "problems": outcome.problems, "worker": f"{socket.gethostname()}:{os.getpid()}"})
    if failed:
        raise RuntimeError(f"import batch {job}/{index} failed")  # a failed task in the worker


def _batches(plans: list[CasePlan]) -> list[list[CasePlan]]:
    singles = [plan for plan in plans if not plan.folder]
    return ([[plan] for plan in plans if plan.folder]
            + [singles[i:i + IMPORT_BATCH_FILES] for i in range(0, len(singles), IMPORT_BATCH_FILES)])


def _parallel(n_files: int) -> bool:
    if not settings.ENCLAVE_IMAGING_PARALLEL or n_files < settings.ENCLAVE_IMAGING_PARALLEL_MIN_FILES:
        return False
    if current_app.conf.task_always_eager:
        return True
    # a worker cannot write to SQLite while this process holds its write transaction open
    return not (connection.in_atomic_block and connection.vendor == "sqlite")


def batches_run(*, phase: Phase, path: Path, plans: list[CasePlan], key: bytes,
                ) -> tuple[list[BatchOutcome], uuid.UUID | None]:
    """Every batch's outcome, run here or on the imaging queue; returns the job id of the
    `ImportBatch` rows to delete when done (None when run here)."""
    batches = _batches(plans)
    if not _parallel(sum(len(plan.members) for plan in plans)):
        return [batch_run(key=key, path=path, cases=batch) for batch in batches], None
    from challenges.tasks import enqueue_import_batch

    job = uuid.uuid4()
    for index, batch in enumerate(batches):
        enqueue_import_batch(job=str(job), phase_pk=phase.pk, path=str(path.resolve()),
                             index=index, cases=[plan.as_task_arg() for plan in batch])
    deadline = time.monotonic() + settings.ENCLAVE_IMAGING_TIMEOUT
    while ImportBatch.objects.filter(job=job).count() < len(batches):
        if time.monotonic() > deadline:
            rows = list(ImportBatch.objects.filter(job=job))
            stored_delete([k for row in rows for k in row.stored])
            ImportBatch.objects.filter(job=job).delete()
            raise ImportRejected("imaging_timeout", _(
                "The imaging workers finished %(done)d of %(total)d batches in %(seconds)d s; "
                "nothing was imported. Is an imaging worker running (queue imaging)?") % {
                "done": len(rows), "total": len(batches),
                "seconds": settings.ENCLAVE_IMAGING_TIMEOUT})
        time.sleep(0.2)
    return [BatchOutcome(files=row.files, stored=row.stored, problems=row.problems,
                         worker=row.worker)
            for row in ImportBatch.objects.filter(job=job)], job


def stored_delete(keys: Iterable[str]) -> None:
    """Delete stored case files no case or held image refers to (keys are content addresses:
    another import may have stored the same bytes meanwhile)."""
    for key in set(keys):
        if not (CaseFile.objects.filter(storage_key=key).exists()
                or HeldImage.objects.filter(storage_key=key).exists()):
            default_storage.delete(key)


def import_batches_sweep() -> int:
    """Remove batch rows (and the files only they stored) that an import left behind: it gave
    up waiting, or its transaction rolled back. Returns how many rows went."""
    cutoff = timezone.now() - timedelta(seconds=2 * settings.ENCLAVE_IMAGING_TIMEOUT)
    rows = list(ImportBatch.objects.filter(created__lt=cutoff))
    stored_delete([key for row in rows for key in row.stored])
    ImportBatch.objects.filter(pk__in=[row.pk for row in rows]).delete()
    return len(rows)


def held_results(path: Path, case: CasePlan, metas: list[dict[str, Any]],
                 key: bytes) -> list[DeidResult]:
    """The de-identified files of a case to hold for review, in `metas` order, made again here
    (the batches do not store files at risk; de-identification is deterministic, and checked)."""
    results = []
    with UploadReader(path) as reader:
        for meta in metas:
            result = deidentify_file(reader.read(meta["member"]), key=key,
                                     filename=Path(meta["member"]).name)
            if result.output_sha256 != meta["sha256"]:
                raise ImportRejected("import_rejected", _(
                    "%(case)s: the file changed during the import") % {"case": case.case_id})
            results.append(result)
    return results


def file_name(case: CasePlan, meta: dict[str, Any], position: int, total: int) -> str:
    """`image.dcm|.png` for a single-file case; `0001.dcm`… in series order in a folder."""
    if not case.folder:
        return "image" + _EXTENSIONS[meta["kind"]]
    return f"{position + 1:0{max(4, len(str(total)))}d}.dcm"


def series_order(metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A case's files by SeriesNumber, series, InstanceNumber, then name (absent numbers last)."""
    def position(meta: dict[str, Any]) -> tuple:
        series_number, instance = meta["series_number"], meta["instance"]
        return (series_number is None, series_number or 0, meta["series"],
                instance is None, instance or 0, meta["member"])
    return sorted(metas, key=position)


def _uniform_series(metas: list[dict[str, Any]]) -> bool:
    return (all(m["frames"] == 1 for m in metas)
            and len({(m["rows"], m["columns"]) for m in metas}) == 1)


def case_shape_of(metas: list[dict[str, Any]]) -> list[int]:
    """[rows, columns] or [frames, rows, columns] of one file; [instances, rows, columns] for a
    series of single-frame images of one size; else the first file's (no mask fits then)."""
    from imaging.masks import mask_shape

    first = metas[0]
    if len(metas) > 1 and _uniform_series(metas):
        return [len(metas), first["rows"], first["columns"]]
    return list(mask_shape(first["rows"], first["columns"], first["frames"]))


def case_problems(case: CasePlan, metas: list[dict[str, Any]], *, needs_geometry: bool) -> list[str]:
    """Why the files of a folder case cannot be one case (empty when they can)."""
    if not case.folder or not metas:
        return []
    values = {"case": case.case_id}
    not_dicom = [m for m in metas if m["kind"] != "dicom"]
    if not_dicom:
        return [_("%(case)s: a case folder holds DICOM files only; %(name)s is not DICOM") % {
            **values, "name": Path(not_dicom[0]["member"]).name[:64]}]
    problems = []
    studies = {m["study"] for m in metas}
    if len(studies) > 1:
        problems.append(_("%(case)s: the folder mixes %(n)d studies; make one folder per study "
                          "or series") % {**values, "n": len(studies)})
    if needs_geometry and len(metas) > 1 and not _uniform_series(metas):
        problems.append(_("%(case)s: a segmentation or detection case must be one series of "
                          "single-frame images of one size") % values)
    return problems


def summed_counts(metas: list[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for meta in metas:
        for name, count in meta["counts"].items():
            total[name] = total.get(name, 0) + int(count)
    return dict(sorted(total.items()))
