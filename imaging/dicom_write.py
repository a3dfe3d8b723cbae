"""Encode the de-identified dataset as a DICOM file (PS3.10), without pydicom's per-file overhead.

Contract: `encode(ds, syntax, sop_class_uid)` returns the output file in parts: `header` (zeroed
preamble, "DICM", a file meta group built here, every element before Pixel Data, and Pixel Data's
tag/VR/length), `pixels` (the Pixel Data value exactly as read, padded to even length) and
`trailer` (the sequence delimiter of encapsulated data). `ds` must be in the encoding it was read
in (`syntax` says which) and must hold nothing after Pixel Data (the profile keeps nothing there).

Raw elements, still in their original encoding, are copied byte for byte (tag, VR, length,
value); converted or new elements, and undefined-length raw ones, go through pydicom's own
`write_data_element`. The result is byte-identical to `Dataset.save_as(enforce_file_format=True)`
(tested), about five times faster, and gives the leak scan an exact header/pixel boundary.

`constant_elements(implicit, little)` returns, pre-encoded once per encoding, the elements that are
the same in every output (the emptied Type 2 attributes and the de-identification method block).
"""

import struct
from dataclasses import dataclass
from functools import cache

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.tag import BaseTag
from pydicom.uid import UID

from imaging.profile import CLEAN_PIXEL_CODE, DEID_METHOD, DEID_METHOD_CODES, EMPTY, PIXEL_DATA_TAG

IMPLEMENTATION_CLASS_UID = "2.25.266763908992087734875093286028538706839"
IMPLEMENTATION_VERSION_NAME = "ENCLAVE_DEID_01"
PREAMBLE = b"\x00" * 128 + b"DICM"
_UNDEFINED_LENGTH = 0xFFFFFFFF
_LONG_LENGTH_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)


@dataclass(frozen=True)
class Encoded:
    header: bytes
    pixels: bytes
    trailer: bytes

    def join(self) -> bytes:
        return b"".join((self.header, self.pixels, self.trailer))


def _element_header(tag: int, vr: str | None, length: int, implicit: bool, order: str) -> bytes:
    tag_bytes = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return tag_bytes + struct.pack(f"{order}L", length)
    if vr in _LONG_LENGTH_VRS:
        return tag_bytes + vr.encode("ascii") + struct.pack(f"{order}HL", 0, length)
    return tag_bytes + str(vr).encode("ascii") + struct.pack(f"{order}H", length)


def _meta_element(element: int, vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in ("UI", "OB") else b" "
    return _element_header(0x00020000 | element, vr, len(value), False, "<") + value


def file_meta(sop_class_uid: str, sop_instance_uid: str, syntax: UID) -> bytes:
    """Group 0002, explicit VR little endian, with its group length (PS3.10 7.1)."""
    body = b"".join((
        _meta_element(0x0001, "OB", b"\x00\x01"),
        _meta_element(0x0002, "UI", sop_class_uid.encode("ascii")),
        _meta_element(0x0003, "UI", sop_instance_uid.encode("ascii")),
        _meta_element(0x0010, "UI", str(syntax).encode("ascii")),
        _meta_element(0x0012, "UI", IMPLEMENTATION_CLASS_UID.encode("ascii")),
        _meta_element(0x0013, "SH", IMPLEMENTATION_VERSION_NAME.encode("ascii")),
    ))
    return _meta_element(0x0000, "UL", struct.pack("<L", len(body))) + body


def text_element(tag: int, vr: str, text: str, implicit: bool, little: bool) -> RawDataElement:
    """A new ASCII element, already encoded (so the writer copies it like a raw one)."""
    value = text.encode("ascii")
    value += (b"\x00" if vr == "UI" else b" ") if len(value) % 2 else b""
    return RawDataElement(
        BaseTag(tag), None if implicit else vr, len(value), value, 0, implicit, little
    )


def encode_elements(
    ds: Dataset, implicit: bool, little: bool, stop_at: int, encodings: list[str]
) -> bytes:
    """Every element of `ds` with a tag below `stop_at`, in tag order, encoded."""
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    order = "<" if little else ">"
    for tag in sorted(int(tag) for tag in ds.keys()):  # noqa: SIM118 (iterating converts)
        if tag >= stop_at:
            break
        elem = ds.get_item(BaseTag(tag))
        if (
            isinstance(elem, RawDataElement)
            and elem.is_implicit_VR == implicit
            and elem.is_little_endian == little
            and elem.length != _UNDEFINED_LENGTH
            and (implicit or elem.VR in _LONG_LENGTH_VRS or len(elem.value or b"") <= 0xFFFF)
        ):
            value = elem.value or b""
            fp.write(_element_header(tag, elem.VR, len(value), implicit, order) + value)
        else:
            write_data_element(fp, ds[tag], encodings)
    return fp.getvalue()


def encode(
    ds: Dataset, syntax: UID, *, sop_class_uid: str, sop_instance_uid: str, encodings: list[str]
) -> Encoded:
    implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
    order = "<" if little else ">"
    meta = file_meta(sop_class_uid, sop_instance_uid, syntax)
    elements = encode_elements(ds, implicit, little, PIXEL_DATA_TAG, encodings)
    pixel = ds.get_item(PIXEL_DATA_TAG)
    value = pixel.value or b""
    if syntax.is_encapsulated:
        prefix = _element_header(PIXEL_DATA_TAG, "OB", _UNDEFINED_LENGTH, implicit, order)
        trailer = struct.pack(f"{order}HHL", 0xFFFE, 0xE0DD, 0)
    else:
        value = value + b"\x00" if len(value) % 2 else value
        vr = pixel.VR if pixel.VR in ("OB", "OW") else "OW"
        prefix = _element_header(PIXEL_DATA_TAG, vr, len(value), implicit, order)
        trailer = b""
    return Encoded(PREAMBLE + meta + elements + prefix, value, trailer)


def _method_item(code: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "DCM", meaning
    return item


def _raw(elem: DataElement, implicit: bool, little: bool) -> RawDataElement:
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_data_element(fp, elem)
    encoded = fp.getvalue()
    value = encoded[8 if implicit or elem.VR not in _LONG_LENGTH_VRS else 12 :]
    vr = None if implicit else elem.VR
    return RawDataElement(BaseTag(elem.tag), vr, len(value), value, 0, implicit, little)


@cache
def constant_elements(implicit: bool, little: bool,
                      pixels_cleaned: bool = False) -> tuple[RawDataElement, ...]:
    """The de-identification attributes; the Clean Pixel Data code (113101) only when a cleaning
    step ran on this file's pixels."""
    ds = Dataset()
    for tag in EMPTY:
        ds.add_new(tag, dictionary_VR(tag), "")
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD
    codes = (*DEID_METHOD_CODES, CLEAN_PIXEL_CODE) if pixels_cleaned else DEID_METHOD_CODES
    ds.DeidentificationMethodCodeSequence = [_method_item(*code) for code in codes]
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    return tuple(_raw(elem, implicit, little) for elem in ds)


def constant_texts() -> list[str]:
    """The values `constant_elements` writes, for the leak scan's legitimate text."""
    codes = (*DEID_METHOD_CODES, CLEAN_PIXEL_CODE)
    return ["YES", DEID_METHOD, "MODIFIED", "DCM", *(t for code in codes for t in code)]
