"""Writes for challenges: creating challenges and phases, importing cases and ground truth.

A case import is all or nothing: every file is de-identified first; if any file or label is
refused, nothing is stored and the error lists every problem. Files are stored content-addressed
(`cases/<sha[:2]>/<sha>`) and only in their de-identified form.
"""

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Society, User
from audit.services import audit_record
from challenges.contract import label_set_check
from challenges.errors import ImportRejected
from challenges.models import (
    Case,
    CaseFile,
    Challenge,
    GroundTruth,
    Phase,
    TaskType,
)
from config.secrets import local_secret
from imaging.deid import DeidResult, action_counts, deidentify_file
from imaging.errors import ImageFileRejected
from imaging.masks import mask_shape

CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_IMPORT_FILE_BYTES = 512 * 1024 * 1024
_EXTENSIONS = {"dicom": ".dcm", "png": ".png", "jpeg": ".png"}


@dataclass(frozen=True)
class ImportReport:
    created: int
    unchanged: int
    labelled: int


def deid_key_for(society: Society) -> bytes:
    """The society's de-identification key: a file secret, so database dumps can't link pseudonyms."""
    return local_secret(settings.SECRETS_DIR, f"deid-{society.slug}.key").encode()


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
    """(file name, bytes) for every file in a folder (recursive), a zip, or a single file."""
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


def _deidentify_all(path: Path, key: bytes) -> dict[str, DeidResult]:
    results: dict[str, DeidResult] = {}
    problems: list[str] = []
    for name, raw in _iter_sources(path):
        case_id = Path(name).stem
        if not CASE_ID_RE.match(case_id):
            problems.append(_("%(name)s: the file name is not a valid case id") % {"name": name[:80]})
            continue
        if case_id in results:
            problems.append(_("%(case)s: two files for one case") % {"case": case_id})
            continue
        try:
            results[case_id] = deidentify_file(raw, key=key, filename=name)
        except ImageFileRejected as exc:
            problems.append(f"{name[:80]}: {exc.message}")
    if problems:
        raise ImportRejected("files_rejected", "; ".join(problems[:20]))
    if not results:
        raise ImportRejected("empty", _("No case files were found."))
    return results


def _store_content(data: bytes, sha256: str, written: list[str]) -> str:
    key = f"cases/{sha256[:2]}/{sha256}"
    if not default_storage.exists(key):
        written.append(default_storage.save(key, ContentFile(data)))
    return key


def _truth_update(phase: Phase, labels: dict[str, Any]) -> int:
    """Apply labels; any change to an existing truth makes a new version. Returns the version."""
    current = {t.case.case_id: t.value for t in GroundTruth.objects.filter(
        case__phase=phase, version=phase.truth_version).select_related("case")}
    changed = {k: v for k, v in labels.items() if current.get(k) != v}
    if not changed:
        return phase.truth_version
    by_id = {c.case_id: c for c in phase.cases.all()}
    version = phase.truth_version + 1 if current else phase.truth_version
    merged = {**current, **changed} if current else changed
    GroundTruth.objects.bulk_create(
        GroundTruth(case=by_id[case_id], version=version, value=value)
        for case_id, value in merged.items()
    )
    if version != phase.truth_version:
        Phase.objects.filter(pk=phase.pk).update(truth_version=version)
        phase.truth_version = version
    return version


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
    version = _truth_update(phase, {case_id: value})
    audit_record(actor=actor, action="truths.correct", target_type="phase", target_id=phase.pk,
                 detail={"case": case_id, "from_version": before, "to_version": version,
                         "reason": reason[:2000], **(context or {})})
    return version


def cases_import(*, phase: Phase, path: Path, labels_path: Path | None = None,
                 actor: User | None = None, site: str = "",
                 stored: list[str] | None = None) -> ImportReport:
    """De-identify and store every file under `path` as one case each; attach labels.

    The case id is the file name without its extension. Re-importing an identical case is a
    no-op; a different file under an existing case id is refused. New cases record `site` (the
    steward's label for the sending site), the device manufacturer the de-identified file keeps,
    and what de-identification did as counts per action. The storage keys it writes are also
    appended to `stored`, for a caller whose enclosing transaction may still roll back.
    """
    site = site.strip()
    if len(site) > 64 or not site.isprintable():
        raise ImportRejected("bad_site", _("The site label must be printable and at most 64 "
                                           "characters long."))
    challenge = phase.challenge
    labels = _parse_labels(labels_path.read_bytes(), challenge.labels) if labels_path else {}
    results = _deidentify_all(path, deid_key_for(challenge.society))
    existing = {c.case_id: c for c in phase.cases.prefetch_related("files")}
    problems = [
        _("%(case)s: already imported with different content") % {"case": case_id}
        for case_id, result in results.items()
        if case_id in existing
        and {f.sha256 for f in existing[case_id].files.all()} != {result.output_sha256}
    ]
    problems += [
        _("labels: %(case)s is not a case of this phase") % {"case": case_id[:64]}
        for case_id in labels if case_id not in results and case_id not in existing
    ]
    if problems:
        raise ImportRejected("import_rejected", "; ".join(problems[:20]))

    written: list[str] = []
    try:
        with transaction.atomic():
            created = 0
            for case_id, result in results.items():
                if case_id in existing:
                    continue
                key = _store_content(result.data, result.output_sha256, written)
                case = Case.objects.create(
                    phase=phase, case_id=case_id, modality=result.modality or "",
                    pixel_spacing=list(result.pixel_spacing) if result.pixel_spacing else None,
                    shape=list(mask_shape(result.rows, result.columns, result.frames)),
                    vendor=result.manufacturer[:64], site=site,
                    deid_summary=action_counts(result.actions),
                )
                CaseFile.objects.create(
                    case=case, name="image" + _EXTENSIONS[result.kind], kind=result.kind,
                    sha256=result.output_sha256, size_bytes=len(result.data), storage_key=key,
                )
                created += 1
            truth_version = _truth_update(phase, labels)
            audit_record(
                actor=actor, action="cases.import", target_type="phase", target_id=phase.pk,
                detail={"created": created, "labels": len(labels), "truth_version": truth_version,
                        "inputs": sorted(r.input_sha256 for r in results.values())},
            )
    except Exception:
        for key in written:
            default_storage.delete(key)
        raise
    if stored is not None:
        stored.extend(written)
    return ImportReport(created=created, unchanged=len(results) - created, labelled=len(labels))
