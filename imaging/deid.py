"""De-identify one incoming image file: `deidentify_file(raw, key=...) -> DeidResult`.

Profile "enclave-deid 0.1" (reference/deidentification.md §1.3): PS3.15 Basic Profile (113100) with
Modified Dates (113107), Patient Characteristics (113108) and Device Identity (113109), as an
allow-list with default remove. The kind is detected from the content, never from the name:
DICOM (preamble + "DICM", or a bare dataset starting with group 0002/0008), PNG, JPEG.

What it does now:
- DICOM: admits only an explicit list of image storage SOP classes with SOP/study/series UIDs and
  complete pixel data; rejects documents, raw data and private/unknown classes; marks files at risk
  of burned-in text (step 7) with `pixel_review` (the caller holds them for a data steward) and
  zeroes everything outside the ultrasound regions the header declares (`imaging.pixel_clean`,
  the only step that decodes pixels); keeps an explicit attribute table (`imaging.profile`) and removes
  everything else (private groups, overlays, curves, descriptions, names, institution...), walking
  kept sequences; remaps every non-standard UID with the keyed UUIDv8 of step 3; replaces
  PatientName/PatientID with the keyed pseudonym of step 4; shifts every kept DA/DT by the keyed
  whole-week per-patient offset of step 5 (partial dates, ranges, offsets); empties the birth
  date; caps the age at 090Y; writes the de-identification attributes, a new file meta group and a
  zeroed preamble; then leak-scans the written bytes (`imaging.leakscan`). Pixel data are copied,
  never decoded.
- PNG/JPEG: decoded with guards and re-encoded as a PNG holding pixels only (`imaging.raster`).

What it does NOT do yet (later issues): the full per-SOP-class tables (dicom-anonymizer 2026c,
Grand-Challenge procedure.json; the table here is one modest context-free allow-list), safe-private
retention (113111), Clean Descriptors (113105), pixel cleaning beyond ultrasound regions (device
signature rectangles, OCR), the ImageType DERIVED/SECONDARY review trigger,
NIfTI/TIFF/WSI/video, DICOM-SEG and other non-image objects as cases, and the Clinical Trial
Subject module. `actions` names the Annex E action taken per attribute keyword (X removed, K kept,
U remapped, C dates shifted, D pseudonym, Z emptied) and counts, never a value: it is the per-file
audit record of step 9. IOD checks are the oracles' (dciodvfy in tests/imaging), not a run-time
step. The leak scan's own limits are in
`imaging.leakscan`. Any unexpected failure on hostile bytes becomes "unreadable", never a crash.
Nothing is ever written to disk here; the caller stores `DeidResult.data`.
"""

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from imaging.dicom_deid import deidentify_dicom
from imaging.errors import ImageFileRejected
from imaging.keyed import check_key
from imaging.profile import PROFILE_VERSION
from imaging.raster import deidentify_raster, raster_kind

__all__ = ["ACTION_COUNT_KEYS", "PROFILE_VERSION", "DeidResult", "action_counts", "deidentify_file",
           "detect_kind"]

logger = logging.getLogger(__name__)
MAX_INPUT_BYTES = 2 * 1024**3
DICM_OFFSET = 128
_BARE_DATASET_STARTS = (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")

Kind = Literal["dicom", "png", "jpeg"]


@dataclass(frozen=True)
class DeidResult:
    data: bytes
    kind: Kind  # the kind of `data`: PNG and JPEG input both come out as "png"
    modality: str | None
    pixel_spacing: tuple[float, float] | None  # (row, column) spacing in mm, DICOM only
    rows: int
    columns: int
    frames: int
    input_sha256: str
    output_sha256: str
    actions: dict = field(repr=False)
    pseudo_patient_id: str | None
    study_uid: str | None = None  # remapped; DICOM only
    series_uid: str | None = None
    sop_instance_uid: str | None = None
    manufacturer: str = ""  # DICOM Manufacturer, kept by the profile (device identity, not PHI)
    pixel_review: str = ""  # why a person must see the pixels first (dicom_admit.burned_in_risk)


def detect_kind(data: bytes) -> tuple[Kind, bool]:
    """(kind, whether a DICOM file has the 128-byte preamble + "DICM"), from content only."""
    if data[DICM_OFFSET : DICM_OFFSET + 4] == b"DICM":
        return "dicom", True
    kind = raster_kind(data)
    if kind is not None:
        return kind, False  # type: ignore[return-value]
    if data[:2] in _BARE_DATASET_STARTS:
        return "dicom", False
    raise ImageFileRejected("unsupported_format")


def _load(raw: bytes | os.PathLike) -> bytes:
    if isinstance(raw, bytes | bytearray | memoryview):
        data = bytes(raw)
    else:
        path = Path(raw)
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise ImageFileRejected("too_large")
        data = path.read_bytes()
    if len(data) > MAX_INPUT_BYTES:
        raise ImageFileRejected("too_large")
    if not data:
        raise ImageFileRejected("unreadable")
    return data


def deidentify_file(raw: bytes | os.PathLike, *, key: bytes, filename: str = "") -> DeidResult:
    """De-identify one file held in memory (or read from `raw` if a path); raises
    ImageFileRejected for anything it will not accept. `filename` is informative only: it never
    decides the kind and is not stored (names can hold PHI)."""
    check_key(key)
    data = _load(raw)
    input_sha256 = hashlib.sha256(data).hexdigest()
    kind, has_preamble = detect_kind(data)
    try:
        return _deidentify(data, kind, has_preamble, key, input_sha256)
    except ImageFileRejected:
        raise
    except Exception as exc:  # hostile bytes reach pydicom/Pillow corners: refuse, never crash
        logger.warning("image rejected as unreadable after %s", type(exc).__name__)
        raise ImageFileRejected("unreadable") from exc


def _deidentify(
    data: bytes, kind: Kind, has_preamble: bool, key: bytes, input_sha256: str
) -> DeidResult:
    if kind == "dicom":
        out = deidentify_dicom(data, key=key, has_preamble=has_preamble)
        return DeidResult(
            data=out.data, kind="dicom", modality=out.admission.modality,
            pixel_spacing=out.pixel_spacing, rows=out.admission.rows,
            columns=out.admission.columns, frames=out.admission.frames,
            input_sha256=input_sha256, output_sha256=hashlib.sha256(out.data).hexdigest(),
            actions=out.actions, pseudo_patient_id=out.pseudo_patient_id,
            study_uid=out.study_uid, series_uid=out.series_uid,
            sop_instance_uid=out.sop_instance_uid, manufacturer=out.manufacturer,
            pixel_review=out.admission.pixel_review,
        )
    raster = deidentify_raster(data, kind)
    return DeidResult(
        data=raster.data, kind="png", modality=None, pixel_spacing=None, rows=raster.rows,
        columns=raster.columns, frames=1, input_sha256=input_sha256,
        output_sha256=hashlib.sha256(raster.data).hexdigest(),
        actions={"profile": PROFILE_VERSION, **raster.actions}, pseudo_patient_id=None,
    )


# What `action_counts` counts, per file: how many attributes were kept, removed, rewritten; for
# raster files, what metadata went. Sums of these over many files stay meaningful.
ACTION_COUNT_KEYS = (
    "files", "attributes_kept", "attributes_removed", "private_removed",
    "overlays_curves_removed", "dates_shifted", "dates_emptied", "uids_remapped",
    "patients_pseudonymised", "ages_capped", "ages_removed", "rasters_reencoded",
    "metadata_entries_removed", "exif_removed", "icc_profiles_removed", "leak_scans",
    "leak_scan_hits", "pixel_reviews", "pixels_masked",
)


def action_counts(actions: dict) -> dict[str, int]:
    """`DeidResult.actions` as counts per action (ACTION_COUNT_KEYS, zeros left out): numbers
    only, never a value, keyword or label from the file."""
    leak_scan = actions.get("leak_scan") if isinstance(actions.get("leak_scan"), dict) else None
    counts = {
        "files": 1,
        **{key: int(actions.get(key) or 0) for key in (
            "attributes_kept", "attributes_removed", "private_removed", "overlays_curves_removed",
            "dates_shifted", "uids_remapped", "metadata_entries_removed")},
        "dates_emptied": len(actions.get("dates_emptied_unparsable") or ()),
        "patients_pseudonymised": int(actions.get("patient") == "pseudonymised"),
        "ages_capped": int(actions.get("patient_age") == "capped"),
        "ages_removed": int(actions.get("patient_age") == "removed_unparsable"),
        "rasters_reencoded": int("source_kind" in actions),
        "exif_removed": int(bool(actions.get("exif_removed"))),
        "icc_profiles_removed": int(bool(actions.get("icc_profile_removed"))),
        "leak_scans": int(leak_scan is not None),
        "leak_scan_hits": int(leak_scan.get("hits") or 0) if leak_scan else 0,
        "pixel_reviews": int(bool(actions.get("pixel_review"))),
        "pixels_masked": int(actions.get("pixels_masked") or 0),
    }
    return {key: counts[key] for key in ACTION_COUNT_KEYS if counts[key]}
