"""Parse DICOM bytes and decide whether the object may enter (spec §1.3 steps 1 and 7).

`parse_dicom` reads once, from memory, without decoding pixel data, and turns pydicom's silent
tolerance of truncated files (and of bytes after the last element) into a rejection. It records
warnings with `warnings.catch_warnings`, which is process-global: call it from one thread per
process (Celery prefork workers do). `admit` checks, in this order, and raises
`ImageFileRejected` with the first failing code: SOP class present and on the image allow-list
(documents, raw data, private and unknown classes are refused), the four identifying UIDs, pixel
data present and as long as declared, size limits, and the burned-in-text risk of step 7.

Step 7 as implemented: BurnedInAnnotation YES; or absent with modality US/XA/RF/ES/XC/GM/SC/OT/DOC;
or ImageType SCREEN SAVE; or a series description matching dose/screen/report/save. Such files are
admitted with `Admission.pixel_review` set: the caller holds them for a data steward's decision
(`challenges.services_held`), never straight into a case set. ImageType DERIVED/SECONDARY (also in
step 7) is NOT a trigger: it marks most reformatted CT/MR series (pydicom's own MR fixtures too),
and would bury the stewards' queue in images that carry no screen text.
"""

import re
import struct
import warnings
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from django.utils.translation import gettext_lazy as _
from pydicom import dcmread
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from imaging.errors import ImageFileRejected
from imaging.profile import (
    BURNED_IN_RISK_DESCRIPTION,
    BURNED_IN_RISK_IMAGE_TYPES,
    BURNED_IN_RISK_MODALITIES,
    DOCUMENT_SOP_PREFIX,
    IMAGE_SOP_CLASSES,
    PIXEL_DATA_TAG,
    RAW_DATA_SOP_CLASS,
    STANDARD_UID_ROOT,
)

MAX_PIXELS_PER_FILE = 2**31  # samples x rows x columns x frames
_UNDEFINED_LENGTH = 0xFFFFFFFF
_REQUIRED_UIDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_DESCRIPTION_RISK = re.compile(BURNED_IN_RISK_DESCRIPTION, re.IGNORECASE)
_DOCUMENT_MESSAGE = _("Encapsulated documents (PDF, CDA, 3D models) are not accepted as images.")
_RAW_DATA_MESSAGE = _("DICOM raw data objects are not accepted; upload the reconstructed images.")
_PRIVATE_CLASS_MESSAGE = _("Vendor-private DICOM object types are not accepted.")


@dataclass(frozen=True)
class Admission:
    sop_class_uid: str
    transfer_syntax: UID
    modality: str | None
    rows: int
    columns: int
    frames: int
    encapsulated: bool
    pixel_review: str = ""  # `burned_in_risk`: why a person must see the pixels first


def parse_dicom(data: bytes, *, has_preamble: bool) -> FileDataset:
    """Read a dataset from memory (elements stay raw until used); truncation -> "unreadable"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = dcmread(BytesIO(data), force=not has_preamble)
        except (InvalidDicomError, EOFError, ValueError, KeyError, IndexError, OSError,
                OverflowError, struct.error) as exc:
            raise ImageFileRejected("unreadable") from exc
    deflated = transfer_syntax_of(ds) == DeflatedExplicitVRLittleEndian
    if any("End of file" in str(w.message) for w in caught) or _truncated(
        ds, None if deflated else len(data)
    ):
        raise ImageFileRejected("unreadable")
    return ds


def _truncated(ds: Dataset, size: int | None) -> bool:
    """pydicom stops quietly at a short value or a partial element header: the last element is
    shorter than it says, or unread bytes follow it (`size` None: offsets are not file offsets)."""
    tags = list(ds.keys())
    if not tags:
        return True
    last = ds.get_item(tags[-1])
    if not isinstance(last, RawDataElement) or last.length == _UNDEFINED_LENGTH:
        return False
    length = len(last.value or b"")
    return length < last.length or (size is not None and last.value_tell + length < size)


def transfer_syntax_of(ds: FileDataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        return UID(syntax)
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def peek_value(ds: Dataset, keyword: str, encodings: list[str] | None = None) -> Any:
    """An element's value without converting it in place: raw elements stay raw, so the writer
    can copy them byte for byte."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    elem = ds.get_item(tag)
    if isinstance(elem, RawDataElement):
        return convert_raw_data_element(elem, encoding=encodings, ds=ds).value
    return elem.value


def peek_text(ds: Dataset, keyword: str, encodings: list[str] | None = None) -> str:
    value = peek_value(ds, keyword, encodings)
    return str(value).strip() if value is not None else ""


def _check_sop_class(ds: Dataset) -> str:
    sop_class = peek_text(ds, "SOPClassUID")
    if not sop_class:
        raise ImageFileRejected("missing_uid")
    if sop_class.startswith(DOCUMENT_SOP_PREFIX):
        raise ImageFileRejected("unsupported_sop_class", _DOCUMENT_MESSAGE)
    if sop_class == RAW_DATA_SOP_CLASS:
        raise ImageFileRejected("unsupported_sop_class", _RAW_DATA_MESSAGE)
    if not sop_class.startswith(STANDARD_UID_ROOT):
        raise ImageFileRejected("unsupported_sop_class", _PRIVATE_CLASS_MESSAGE)
    if sop_class not in IMAGE_SOP_CLASSES:
        raise ImageFileRejected("unsupported_sop_class")
    return sop_class


def _count(ds: Dataset, keyword: str, default: int) -> int:
    value = peek_value(ds, keyword)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return -1


def _check_pixels(ds: Dataset, syntax: UID) -> tuple[int, int, int, bool]:
    if PIXEL_DATA_TAG not in ds:
        raise ImageFileRejected("no_pixels")
    rows, columns = _count(ds, "Rows", 0), _count(ds, "Columns", 0)
    frames, samples = _count(ds, "NumberOfFrames", 1), _count(ds, "SamplesPerPixel", 1)
    bits = _count(ds, "BitsAllocated", 0)
    if min(rows, columns, frames, samples, bits) <= 0:
        raise ImageFileRejected("no_pixels")
    if rows * columns * frames * samples > MAX_PIXELS_PER_FILE:
        raise ImageFileRejected("too_large")
    pixel_elem = ds.get_item(PIXEL_DATA_TAG)
    value = pixel_elem.value if isinstance(pixel_elem.value, bytes) else b""
    encapsulated = syntax.is_encapsulated
    if encapsulated:
        _check_fragments(value, frames)
    elif len(value) < _native_length(ds, rows * columns * frames, samples, bits):
        raise ImageFileRejected("unreadable")
    return rows, columns, frames, encapsulated


def _native_length(ds: Dataset, pixels: int, samples: int, bits: int) -> int:
    """Bytes of native Pixel Data: YBR_FULL_422 shares each pair's chroma (2 samples a pixel,
    PS3.3 C.7.6.3.1.2), every other interpretation stores every sample."""
    if samples == 3 and peek_text(ds, "PhotometricInterpretation").upper() == "YBR_FULL_422":
        samples = 2
    return (pixels * samples * bits + 7) // 8


def _check_fragments(value: bytes, frames: int) -> None:
    """Walk the encapsulation items (PS3.5 A.4); truncated or malformed -> "unreadable"."""
    offset, items, size = 0, 0, len(value)
    while offset < size:
        if size - offset < 8:
            raise ImageFileRejected("unreadable")
        group, element, length = struct.unpack_from("<HHL", value, offset)
        if (group, element) != (0xFFFE, 0xE000) or offset + 8 + length > size:
            raise ImageFileRejected("unreadable")
        offset += 8 + length
        items += 1
    if items - 1 < frames:  # the first item is the Basic Offset Table
        raise ImageFileRejected("unreadable")


def burned_in_risk(ds: Dataset, modality: str | None) -> str:
    """Why this image needs a person to look at its pixels before it joins a case set (spec step
    7), as a code: "burned_in_flag", "risk_modality", "screen_capture", "series_description";
    "" when nothing suggests burned-in text."""
    flag = peek_text(ds, "BurnedInAnnotation").upper()
    image_type = peek_value(ds, "ImageType") or ()
    if isinstance(image_type, str):
        image_type = [image_type]
    image_types = {str(v).strip().upper() for v in image_type}
    if flag == "YES":
        return "burned_in_flag"
    if not flag and (modality or "").upper() in BURNED_IN_RISK_MODALITIES:
        return "risk_modality"
    if image_types & BURNED_IN_RISK_IMAGE_TYPES:
        return "screen_capture"
    if _DESCRIPTION_RISK.search(peek_text(ds, "SeriesDescription")):
        return "series_description"
    return ""


def admit(ds: FileDataset) -> Admission:
    """Raise ImageFileRejected unless this dataset is an image we can de-identify now. A risk of
    burned-in text is not a refusal: it is `Admission.pixel_review`, for the caller to hold."""
    sop_class = _check_sop_class(ds)
    if any(not peek_text(ds, keyword) for keyword in _REQUIRED_UIDS):
        raise ImageFileRejected("missing_uid")
    syntax = transfer_syntax_of(ds)
    if not syntax.is_transfer_syntax or syntax.is_private:
        raise ImageFileRejected("unsupported_format")
    rows, columns, frames, encapsulated = _check_pixels(ds, syntax)
    modality = peek_text(ds, "Modality") or None
    return Admission(sop_class, syntax, modality, rows, columns, frames, encapsulated,
                     pixel_review=burned_in_risk(ds, modality))
