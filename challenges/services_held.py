"""Writes for images held for pixel review (de-identification step 7).

An image at risk of burned-in text (`DeidResult.pixel_review`) never joins a case set on arrival:
`held_image_store` keeps its de-identified bytes under `held/` with a pending `HeldImage`, and a
society data steward (or admin, or operator) decides with `held_image_decide`:
- approve: the bytes move into the content-addressed case store (integrity checked), the case is
  created (or, for a study sent by the DICOM receiver, gains the file) and any ground truth that
  came with the image is applied as a new truth version;
- reject: the held bytes are deleted.
Both are audited and final; the row stays as the record. Nothing here ever sees original bytes.
"""

import hashlib
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.permissions import can_upload_cases
from audit.services import audit_record
from challenges.case_store import store_content, stored_atomically, truth_update
from challenges.models import Case, CaseFile, HeldImage, HeldStatus, Phase
from config.errors import Conflict, DomainError, Forbidden
from imaging.deid import DeidResult, action_counts
from imaging.masks import mask_shape

MAX_DECISION_TEXT = 2000


def held_key(sha256: str) -> str:
    return f"held/{sha256[:2]}/{sha256}"


def held_image_store(*, phase: Phase, case_id: str, file_name: str, result: DeidResult,
                     site: str = "", label: Any = None, source: str = "import",
                     actor: User | None = None, written: list[str],
                     case_shape: list[int] | None = None) -> HeldImage:
    """Hold one de-identified image (call inside the caller's transaction; the storage keys it
    writes are appended to `written`, for the caller to delete if that transaction rolls back).
    Uploaded files of one case (`source` "import": a series folder) are decided together;
    `case_shape` is then the whole case's shape."""
    key = held_key(result.output_sha256)
    if not default_storage.exists(key):
        written.append(default_storage.save(key, ContentFile(result.data)))
    held = HeldImage.objects.create(
        phase=phase, case_id=case_id, file_name=file_name, kind=result.kind,
        sha256=result.output_sha256, size_bytes=len(result.data), storage_key=key,
        reason=result.pixel_review, pixels_masked=bool(result.actions.get("pixels_masked")),
        modality=result.modality or "",
        pixel_spacing=list(result.pixel_spacing) if result.pixel_spacing else None,
        shape=case_shape or list(mask_shape(result.rows, result.columns, result.frames)),
        vendor=result.manufacturer[:64], site=site, deid_summary=action_counts(result.actions),
        label=label, source=source, held_by=actor,
    )
    audit_record(actor=actor, action="held.store", target_type="held_image", target_id=held.pk,
                 detail={"phase": phase.pk, "case": case_id, "reason": held.reason,
                         "pixels_masked": held.pixels_masked, "source": source,
                         "input_sha256": result.input_sha256, "output_sha256": held.sha256,
                         "deid": result.actions})
    return held


def held_bytes(held: HeldImage) -> bytes:
    """The held file's bytes, checked against its SHA-256 (a mismatch is a Conflict)."""
    if not held.storage_key:
        raise Conflict("held_image_gone", _("This image was already moved or deleted."))
    try:
        with default_storage.open(held.storage_key, "rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise Conflict("integrity_error", _("The stored image is missing; it was not admitted. "
                                            "Tell the platform operators.")) from exc
    if hashlib.sha256(data).hexdigest() != held.sha256:
        raise Conflict("integrity_error", _("The stored image does not match its checksum; it "
                                            "was not admitted. Tell the platform operators."))
    return data


def held_group(held: HeldImage) -> list[HeldImage]:
    """The pending images decided together with `held` (locked): every file of an uploaded case
    (a series folder is admitted whole or not at all); an instance from the DICOM receiver alone."""
    if held.source != "import":
        return [held]
    return list(HeldImage.objects.select_for_update().select_related("phase").filter(
        phase_id=held.phase_id, case_id=held.case_id, source="import",
        status=HeldStatus.PENDING).order_by("file_name"))


def _summed_counts(group: list[HeldImage]) -> dict[str, int]:
    total: dict[str, int] = {}
    for held in group:
        for name, count in (held.deid_summary or {}).items():
            total[name] = total.get(name, 0) + int(count)
    return dict(sorted(total.items()))


def _admit(group: list[HeldImage], written: list[str]) -> Case:
    first = group[0]
    case, created = Case.objects.get_or_create(phase=first.phase, case_id=first.case_id, defaults={
        "modality": first.modality, "pixel_spacing": first.pixel_spacing, "shape": first.shape,
        "vendor": first.vendor, "site": first.site, "deid_summary": _summed_counts(group)})
    case = Case.objects.select_for_update().get(pk=case.pk)
    existing = {f.name: f for f in case.files.all()}
    for held in group:
        known = existing.get(held.file_name)
        if known is not None and known.sha256 != held.sha256:
            raise Conflict("case_conflict", _(
                "Case %(case)s already has a different %(file)s; reject this image or remove "
                "the case first.") % {"case": held.case_id, "file": held.file_name})
        if not created and held.source == "import" and known is None:
            raise Conflict("case_conflict", _("A case %(case)s was imported meanwhile.") % {
                "case": held.case_id})
        if known is None:
            key = store_content(held_bytes(held), held.sha256, written)
            CaseFile.objects.create(case=case, name=held.file_name, kind=held.kind,
                                    sha256=held.sha256, size_bytes=held.size_bytes,
                                    storage_key=key)
    if first.label is not None:
        truth_update(first.phase, {first.case_id: first.label})
    return case


def _delete_later(key: str, held_pk: int) -> None:
    """Delete the held bytes after commit unless another pending image holds the same bytes."""
    def delete() -> None:
        still_held = HeldImage.objects.filter(storage_key=key, status=HeldStatus.PENDING)
        if key and not still_held.exclude(pk=held_pk).exists():
            default_storage.delete(key)
    transaction.on_commit(delete)


def held_image_decide(*, held: HeldImage, actor: User, approve: bool,
                      reason: str = "") -> HeldImage:
    """Approve or reject a pending held image, with every image decided together with it
    (`held_group`), as the society's data stewards, admins or operators. Returns `held`."""
    if not can_upload_cases(actor, held.phase.challenge.society):
        raise Forbidden("not_a_data_steward", _(
            "Only the society's data stewards and admins decide on held images."))
    reason = reason.strip()
    if len(reason) > MAX_DECISION_TEXT:
        raise DomainError("reason_too_long", _("Write at most %(n)d characters.") % {
            "n": MAX_DECISION_TEXT})
    with stored_atomically() as written:
        held = HeldImage.objects.select_for_update().select_related(
            "phase__challenge__society").get(pk=held.pk)
        if held.status != HeldStatus.PENDING:
            raise Conflict("already_decided", _("This image was already %(status)s.") % {
                "status": held.get_status_display()})
        group = held_group(held)
        case = _admit(group, written) if approve else None
        now = timezone.now()
        for member in group:
            _delete_later(member.storage_key, member.pk)
            member.status = HeldStatus.APPROVED if approve else HeldStatus.REJECTED
            member.decided_by, member.decided_at = actor, now
            member.decision_reason, member.storage_key = reason, ""
            member.save(update_fields=["status", "decided_by", "decided_at", "decision_reason",
                                       "storage_key"])
        audit_record(actor=actor, action="held.approve" if approve else "held.reject",
                     target_type="held_image", target_id=held.pk, detail={
                         "phase": held.phase_id, "case": held.case_id,
                         "case_pk": case.pk if case else None, "reason": reason,
                         "files": [member.file_name for member in group],
                         "sha256": [member.sha256 for member in group]})
        held = next(member for member in group if member.pk == held.pk)
    return held
