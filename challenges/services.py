"""Writes for challenges: creating challenges and phases, importing cases and ground truth.

A case import is all or nothing: every file is de-identified first; if any file or label is
refused, nothing is stored and the error lists every problem. Files are stored content-addressed
(`cases/<sha[:2]>/<sha>`) and only in their de-identified form. Which files make which case:
`challenges.import_plan`; de-identification in batches, here or on imaging workers:
`challenges.services_import`.
"""

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Society, User
from audit.services import audit_record
from challenges.case_store import truth_update
from challenges.contract import label_set_check
from challenges.errors import ImportRejected
from challenges.import_plan import CASE_ID_RE, MAX_IMPORT_FILE_BYTES, CasePlan, import_plan
from challenges.models import (
    Case,
    CaseFile,
    Challenge,
    GroundTruth,
    HeldStatus,
    ImportBatch,
    Phase,
    TaskType,
)
from challenges.services_held import held_image_store
from challenges.services_import import (
    BatchOutcome,
    batches_run,
    case_problems,
    case_shape_of,
    deid_key_for,
    file_name,
    held_results,
    series_order,
    stored_delete,
    summed_counts,
)

__all__ = ["CASE_ID_RE", "MAX_IMPORT_FILE_BYTES", "cases_import", "deid_key_for"]


@dataclass(frozen=True)
class ImportReport:
    created: int
    unchanged: int
    labelled: int
    held: int = 0  # images at risk of burned-in text, waiting for a data steward


@transaction.atomic
def challenge_create(*, society: Society, slug: str, title: str, labels: list[str],
                     positive_label: str = "", description: str = "", modality: str = "",
                     is_published: bool = False,
                     task_type: str = TaskType.BINARY_CLASSIFICATION) -> Challenge:
    """A challenge of `task_type` (labels checked by `challenges.contract.label_set_check`); its
    metric spec starts as the default of its task (version 1)."""
    label_set_check(task_type=task_type, labels=labels, positive_label=positive_label)
    return Challenge.objects.create(
        society=society, slug=slug, title=title, labels=labels, task_type=task_type,
        positive_label=positive_label if task_type == TaskType.BINARY_CLASSIFICATION else "",
        description=description, modality=modality, is_published=is_published,
    )


@transaction.atomic
def phase_create(*, challenge: Challenge, slug: str, title: str, is_hidden: bool,
                 **options: object) -> Phase:
    return Phase.objects.create(
        challenge=challenge, slug=slug, title=title, is_hidden=is_hidden, **options
    )


def _iter_sources(path: Path) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) for every file in a folder (recursive), a zip, or a single file, the
    folders flattened (ground-truth files: `challenges.truths`)."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
            if child.name.startswith("."):
                continue
            if child.stat().st_size > MAX_IMPORT_FILE_BYTES:
                raise ImportRejected("too_large", _("%(name)s is too large.") % {"name": child.name})
            yield child.name, child.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = Path(info.filename).name
                if info.is_dir() or not name or name.startswith("."):
                    continue
                if info.file_size > MAX_IMPORT_FILE_BYTES:
                    raise ImportRejected("too_large", _("%(name)s is too large.") % {"name": name})
                if info.flag_bits & 0x1:
                    raise ImportRejected("encrypted", _("%(name)s is encrypted; send it without a "
                                                        "password.") % {"name": name})
                yield name, archive.read(info)
    elif path.is_file():
        yield path.name, path.read_bytes()
    else:
        raise ImportRejected("not_found", _("Nothing to import at %(path)s.") % {"path": path})


def _parse_labels(data: bytes, allowed: list[str]) -> dict[str, str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected("bad_labels", _("The labels file is not UTF-8 text.")) from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or {"case_id", "label"} - set(reader.fieldnames):
        raise ImportRejected("bad_labels", _("The labels file needs the header case_id,label."))
    labels: dict[str, str] = {}
    problems: list[str] = []
    for line, row in enumerate(reader, start=2):
        case_id, label = (row.get("case_id") or "").strip(), (row.get("label") or "").strip()
        if case_id in labels:
            problems.append(_("line %(line)d: %(case)s appears twice") % {"line": line, "case": case_id})
        elif label not in allowed:
            problems.append(_("line %(line)d: unknown label %(label)r (allowed: %(allowed)s)") % {
                "line": line, "label": label[:40], "allowed": ", ".join(allowed)})
        labels[case_id] = label
    if problems:
        raise ImportRejected("bad_labels", "; ".join(problems[:20]))
    return labels


@transaction.atomic
def truth_correct(*, phase: Phase, case_id: str, value: Any, actor: User | None,
                  reason: str = "", context: dict[str, Any] | None = None) -> int:
    """Correct one case's ground truth: a new truth version of the phase in which the other
    cases carry over unchanged; stored rows are never edited. Audited ("truths.correct", with
    both versions, `reason` and `context`). Returns the phase's truth version afterwards: the
    same one when `value` is the current truth already (nothing is written then)."""
    phase = Phase.objects.select_for_update().get(pk=phase.pk)
    before = phase.truth_version
    current = GroundTruth.objects.filter(case__phase=phase, case__case_id=case_id,
                                         version=before).values_list("value", flat=True)
    if list(current) == [value]:
        return before
    version = truth_update(phase, {case_id: value})
    audit_record(actor=actor, action="truths.correct", target_type="phase", target_id=phase.pk,
                 detail={"case": case_id, "from_version": before, "to_version": version,
                         "reason": reason[:2000], **(context or {})})
    return version


def cases_import(*, phase: Phase, path: Path, labels_path: Path | None = None,
                 actor: User | None = None, site: str = "",
                 stored: list[str] | None = None) -> ImportReport:
    """De-identify and store the files under `path` as cases (`challenges.import_plan`: a
    top-level file is one case named by its stem, a sub-folder of DICOM files one case named by
    the folder); attach labels. All or nothing (`challenges.services_import`).

    Re-importing an identical case is a no-op; different files under an existing case id are
    refused. New cases record `site` (the steward's label for the sending site), the device
    manufacturer the de-identified files keep, and what de-identification did as counts per
    action. The storage keys it writes are also appended to `stored`, for a caller whose
    enclosing transaction may still roll back.
    """
    site = site.strip()
    if len(site) > 64 or not site.isprintable():
        raise ImportRejected("bad_site", _("The site label must be printable and at most 64 "
                                           "characters long."))
    challenge = phase.challenge
    labels = _parse_labels(labels_path.read_bytes(), challenge.labels) if labels_path else {}
    plans = import_plan(path)
    key = deid_key_for(challenge.society)
    outcomes, job = batches_run(phase=phase, path=path, plans=plans, key=key)
    written = [k for outcome in outcomes for k in outcome.stored]
    try:
        report = _cases_admit(phase=phase, path=path, plans=plans, outcomes=outcomes, key=key,
                              labels=labels, actor=actor, site=site, written=written)
    except BaseException:
        stored_delete(written)
        raise
    finally:
        if job is not None:
            ImportBatch.objects.filter(job=job).delete()
    if stored is not None:
        stored.extend(written)
    return report


def _cases_admit(*, phase: Phase, path: Path, plans: list[CasePlan],
                 outcomes: list[BatchOutcome], key: bytes, labels: dict[str, str],
                 actor: User | None, site: str, written: list[str]) -> ImportReport:
    """Check the batches' files case by case, then create the cases in one transaction."""
    metas: dict[str, list[dict[str, Any]]] = {plan.case_id: [] for plan in plans}
    for outcome in outcomes:
        for meta in outcome.files:
            metas[meta["case"]].append(meta)
    needs_geometry = phase.challenge.task_type in (TaskType.SEGMENTATION, TaskType.DETECTION)
    problems = [p for outcome in outcomes for p in outcome.problems]
    for plan in plans:
        problems += case_problems(plan, metas[plan.case_id], needs_geometry=needs_geometry)
    if problems:
        raise ImportRejected("files_rejected", "; ".join(problems[:20]))
    existing = {c.case_id: c for c in phase.cases.prefetch_related("files")}
    pending: dict[str, set[str]] = {}
    for row in phase.held_images.filter(status=HeldStatus.PENDING):
        pending.setdefault(row.case_id, set()).add(row.sha256)
    shas = {case_id: {m["sha256"] for m in files} for case_id, files in metas.items()}
    problems = [
        _("%(case)s: already imported with different content") % {"case": case_id}
        for case_id in metas
        if case_id in existing and {f.sha256 for f in existing[case_id].files.all()} != shas[case_id]
    ]
    problems += [
        _("%(case)s: already waiting for review with different content") % {"case": case_id}
        for case_id in metas if case_id in pending and pending[case_id] != shas[case_id]
    ]
    problems += [
        _("labels: %(case)s is not a case of this phase") % {"case": case_id[:64]}
        for case_id in labels if case_id not in metas and case_id not in existing
    ]
    if problems:
        raise ImportRejected("import_rejected", "; ".join(problems[:20]))

    new = [plan for plan in plans if plan.case_id not in existing and plan.case_id not in pending]
    to_hold = [plan for plan in new if any(m["review"] for m in metas[plan.case_id])]
    with transaction.atomic():
        for plan in new:
            if plan not in to_hold:
                _case_create(phase, plan, series_order(metas[plan.case_id]), site, actor)
        held = {plan.case_id for plan in to_hold}
        for plan in to_hold:
            ordered = series_order(metas[plan.case_id])
            results = held_results(path, plan, ordered, key)
            for position, result in enumerate(results):
                held_image_store(phase=phase, case_id=plan.case_id,
                                 file_name=file_name(plan, ordered[position], position,
                                                     len(ordered)),
                                 result=result, site=site, label=labels.get(plan.case_id),
                                 actor=actor, written=written, case_shape=case_shape_of(ordered))
        truth_version = truth_update(phase, {
            case_id: label for case_id, label in labels.items()
            if case_id not in held and case_id not in pending})
        audit_record(
            actor=actor, action="cases.import", target_type="phase", target_id=phase.pk,
            detail={"created": len(new) - len(to_hold), "held": len(to_hold),
                    "labels": len(labels), "truth_version": truth_version,
                    "files": sum(len(files) for files in metas.values()),
                    "workers": sorted({o.worker for o in outcomes if o.worker}),
                    "inputs": sorted(m["input_sha256"] for files in metas.values()
                                     for m in files)},
        )
    return ImportReport(created=len(new) - len(to_hold), unchanged=len(plans) - len(new),
                        labelled=len(labels), held=len(to_hold))


def _case_create(phase: Phase, plan: CasePlan, metas: list[dict[str, Any]], site: str,
                 actor: User | None) -> Case:
    """The case and its files; one "deid.file" audit event per file (de-identification step 9:
    the input and output hashes, the profile and what was done, never a value)."""
    first = metas[0]
    case = Case.objects.create(
        phase=phase, case_id=plan.case_id, modality=first["modality"],
        pixel_spacing=first["spacing"], shape=case_shape_of(metas),
        vendor=first["manufacturer"], site=site, deid_summary=summed_counts(metas),
    )
    CaseFile.objects.bulk_create(
        CaseFile(case=case, name=file_name(plan, meta, position, len(metas)), kind=meta["kind"],
                 sha256=meta["sha256"], size_bytes=meta["size"], storage_key=meta["key"])
        for position, meta in enumerate(metas)
    )
    for position, meta in enumerate(metas):
        audit_record(actor=actor, action="deid.file", target_type="case", target_id=case.pk,
                     detail={"file": file_name(plan, meta, position, len(metas)),
                             "input_sha256": meta["input_sha256"],
                             "output_sha256": meta["sha256"], "deid": meta["deid"]})
    return case


