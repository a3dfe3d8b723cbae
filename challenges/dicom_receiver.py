"""DICOM C-STORE into a phase: a hospital PACS sends studies, each becomes a de-identified case.

`dicom_receiver_start(phase=..., address=..., port=...)` starts an `imaging.dicom_scp.StoreSCP`
keyed with the society's de-identification key (the same key and code as file uploads) and wires
it to `case_receive_image`, which files every accepted instance:

- one case per study: the case id is the REMAPPED StudyInstanceUID (`2.25.<n>`, the value the
  stored files carry), and each instance is one file of it, `<remapped SOPInstanceUID>.dcm`;
  the case's modality, pixel spacing, shape, vendor and site come from its first instance, its
  de-identification summary sums the action counts of all of them;
- the same instance sent again (same de-identified bytes) changes nothing; the same instance
  with different content is refused (`StoreRefused`, 0xC010) and nothing is stored;
- an instance at risk of burned-in text is held for a data steward (`challenges.services_held`)
  and answered with success: the sender has delivered it, the steward decides whether it joins;
- files are content-addressed like imports (`challenges.services.store_content`), and every
  receipt ("dicom.received") and refusal ("dicom.refused") is in the audit log, with the calling
  AE title, the SOP class and hashes or the refusal code, never a value from the dataset.
A study with several instances is a multi-file case: fine for classification, but masks need one
image per case (send single-instance objects, e.g. enhanced multi-frame, or use import_cases).
"""

import ipaddress

from django.db import connections
from django.utils.translation import gettext as _
from pynetdicom.transport import ThreadedAssociationServer

from audit.services import audit_record
from challenges.case_store import store_content, stored_atomically
from challenges.models import Case, CaseFile, HeldImage, HeldStatus, Phase
from challenges.services import CASE_ID_RE, deid_key_for
from challenges.services_held import held_image_store
from config.errors import DomainError
from imaging.deid import action_counts
from imaging.dicom_scp import (
    DEFAULT_AE_TITLE,
    DEFAULT_MAX_ASSOCIATIONS,
    STATUS_CANNOT_UNDERSTAND,
    ReceivedImage,
    StoreRefused,
    StoreSCP,
)
from imaging.masks import mask_shape

STATUS_INSTANCE_CONFLICT = 0xC010


def check_bind_address(address: str) -> str:
    """A loopback or private address, never a wildcard or public one: the receiver accepts
    patient data and belongs on the research cloud's private network only."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as exc:
        raise DomainError("bad_address", _("%(address)s is not an IP address.") % {
            "address": address[:64]}) from exc
    if ip.is_unspecified or not (ip.is_loopback or ip.is_private):
        raise DomainError("bad_address", _(
            "The receiver listens only on a loopback or private address, not on %(address)s.")
            % {"address": address})
    return str(ip)


def _checked_site(site: str) -> str:
    site = site.strip()
    if len(site) > 64 or not site.isprintable():
        raise DomainError("bad_site", _("The site label must be printable and at most 64 "
                                        "characters long."))
    return site


def _summed(total: dict, counts: dict[str, int]) -> dict[str, int]:
    keys = sorted(set(total) | set(counts))
    return {key: int(total.get(key, 0)) + counts.get(key, 0) for key in keys}


def _hold(phase: Phase, received: ReceivedImage, case_id: str, name: str, site: str,
          written: list[str]) -> str:
    """An instance at risk of burned-in text waits for a data steward (`HeldImage`)."""
    result = received.result
    known = CaseFile.objects.filter(case__phase=phase, case__case_id=case_id, name=name).first()
    held = HeldImage.objects.select_for_update().filter(
        phase=phase, case_id=case_id, file_name=name, status=HeldStatus.PENDING).first()
    for sha256 in (known.sha256 if known else None, held.sha256 if held else None):
        if sha256 is not None and sha256 != result.output_sha256:
            raise StoreRefused(STATUS_INSTANCE_CONFLICT, "instance_conflict")
    if known is not None or held is not None:
        return "unchanged"
    held = held_image_store(phase=phase, case_id=case_id, file_name=name, result=result,
                            site=site, source="dicom", written=written)
    audit_record(actor=None, action="dicom.received", target_type="held_image",
                 target_id=held.pk, detail={
                     "phase": phase.pk, "outcome": "held", "file": name,
                     "calling_ae": received.calling_ae, "sop_class_uid": received.sop_class_uid,
                     "input_sha256": result.input_sha256, "output_sha256": result.output_sha256,
                     "deid": result.actions})
    return "held"


def case_receive_image(*, phase: Phase, received: ReceivedImage, site: str = "") -> str:
    """File one received, de-identified instance under its study's case in `phase`; returns
    "created" (a new case), "added" (a new file of an existing case), "held" (at risk of
    burned-in text: waiting for a data steward, not in any case yet) or "unchanged"."""
    result = received.result
    case_id, name = result.study_uid or "", f"{result.sop_instance_uid}.dcm"
    if not CASE_ID_RE.match(case_id) or not result.sop_instance_uid:
        raise StoreRefused(STATUS_CANNOT_UNDERSTAND, "bad_study_uid")
    counts = action_counts(result.actions)
    with stored_atomically() as written:
        if result.pixel_review:
            return _hold(phase, received, case_id, name, site, written)
        case, created = Case.objects.get_or_create(phase=phase, case_id=case_id, defaults={
            "modality": result.modality or "",
            "pixel_spacing": list(result.pixel_spacing) if result.pixel_spacing else None,
            "shape": list(mask_shape(result.rows, result.columns, result.frames)),
            "vendor": result.manufacturer[:64], "site": site, "deid_summary": counts,
        })
        case = Case.objects.select_for_update().get(pk=case.pk)
        existing = case.files.filter(name=name).first()
        if existing is not None and existing.sha256 != result.output_sha256:
            raise StoreRefused(STATUS_INSTANCE_CONFLICT, "instance_conflict")
        outcome = "unchanged"
        if existing is None:
            key = store_content(result.data, result.output_sha256, written)
            CaseFile.objects.create(
                case=case, name=name, kind="dicom", sha256=result.output_sha256,
                size_bytes=len(result.data), storage_key=key,
            )
            if not created:
                case.deid_summary = _summed(case.deid_summary or {}, counts)
                case.save(update_fields=["deid_summary"])
            outcome = "created" if created else "added"
        audit_record(actor=None, action="dicom.received", target_type="case",
                     target_id=case.pk, detail={
                         "phase": phase.pk, "outcome": outcome, "file": name,
                         "calling_ae": received.calling_ae,
                         "sop_class_uid": received.sop_class_uid,
                         "input_sha256": result.input_sha256,
                         "output_sha256": result.output_sha256, "deid": result.actions})
    return outcome


def dicom_refusal_record(*, phase: Phase, calling_ae: str, sop_class_uid: str, code: str) -> None:
    audit_record(actor=None, action="dicom.refused", target_type="phase", target_id=phase.pk,
                 detail={"calling_ae": calling_ae, "sop_class_uid": sop_class_uid[:64],
                         "code": code})


def dicom_receiver_start(
    *, phase: Phase, address: str, port: int, ae_title: str = DEFAULT_AE_TITLE,
    allowed_calling_aes: tuple[str, ...] = (), site: str = "",
    max_associations: int = DEFAULT_MAX_ASSOCIATIONS,
) -> ThreadedAssociationServer:
    """Listen for C-ECHO and C-STORE into `phase` (in background threads); stop the returned
    server with `shutdown()`. Port 0 picks a free port (`server.server_address[1]`)."""
    address = check_bind_address(address)
    site = _checked_site(site)
    scp = StoreSCP(
        key=deid_key_for(phase.challenge.society),
        on_received=lambda received: _receive(phase, received, site),
        on_refused=lambda calling_ae, sop_class_uid, code: dicom_refusal_record(
            phase=phase, calling_ae=calling_ae, sop_class_uid=sop_class_uid, code=code),
        on_association_end=connections.close_all,  # the association thread's own connections
        ae_title=ae_title, allowed_calling_aes=allowed_calling_aes,
        max_associations=max_associations,
    )
    return scp.start(address, port)


def _receive(phase: Phase, received: ReceivedImage, site: str) -> None:
    case_receive_image(phase=phase, received=received, site=site)
