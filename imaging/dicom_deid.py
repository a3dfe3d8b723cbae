"""De-identify one DICOM object in memory: one read, one walk, one write, then the leak scan.

Contract: `deidentify_dicom(data, key=..., has_preamble=...)` returns the de-identified bytes and
what the caller needs to index them, or raises `ImageFileRejected`. The original bytes are never
written anywhere; pixel data are never decoded (the Pixel Data element is copied as read, so the
output pixels are identical to the input, whatever the transfer syntax).

The walk (spec §1.3 steps 2-6) visits every element once, at every depth of kept sequences:
- not kept for the object's SOP class (`profile.keep_for`), private, overlay or curve -> removed
  (its values become leak-scan needles);
- kept UI -> every value remapped with `keyed.remap_uid`, except *ClassUID and standard
  (1.2.840.10008.) values; kept DA/DT -> shifted by the patient's whole-week offset (unparsable
  values are emptied and their keyword recorded); anything else kept -> copied raw, untouched.
Then the top level gets the pseudonymous PatientName/PatientID, emptied Type 2 attributes
(PatientBirthDate, ReferringPhysicianName, StudyID, AccessionNumber), PatientAge capped at 090Y,
the de-identification method attributes, a rebuilt file meta group and a zeroed preamble.
"""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from pydicom.charset import convert_encodings
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from imaging.dates import shift_da, shift_dt
from imaging.dicom_admit import Admission, admit, parse_dicom, peek_text, peek_value
from imaging.dicom_write import constant_elements, constant_texts, encode, text_element
from imaging.errors import ImageFileRejected
from imaging.keyed import date_offset_days, pseudo_patient_id, remap_uid
from imaging.leakscan import LeakScanner, element_vr
from imaging.pixel_clean import Cleaning, mask_outside_ultrasound_regions
from imaging.profile import (
    DEID_METHOD,
    EMPTY,
    IMAGE_SOP_CLASSES,
    PIXEL_DATA_TAG,
    PROFILE_VERSION,
    STANDARD_UID_ROOT,
    is_always_removed,
    keep_for,
)

MAX_AGE = "090Y"
_AGE = re.compile(r"(\d{3})([DWMY])")


@dataclass(frozen=True)
class DicomOutput:
    data: bytes
    admission: Admission
    pixel_spacing: tuple[float, float] | None
    pseudo_patient_id: str | None
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    actions: dict
    manufacturer: str = ""  # kept by the profile (113109 Retain Device Identity)


@dataclass(frozen=True)
class _Patient:
    pseudo_id: str | None
    date_offset_days: int
    age: str | None
    age_action: str


def _values(elem: DataElement) -> tuple[list[str], bool]:
    value = elem.value
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value], True
    return ([] if value is None else [str(value)]), False


def _patient(ds: Dataset, key: bytes, encodings: list[str]) -> _Patient:
    patient_id = peek_text(ds, "PatientID", encodings)
    issuer = peek_text(ds, "IssuerOfPatientID", encodings)
    pseudo = pseudo_patient_id(key, patient_id, issuer) if patient_id else None
    anchor = pseudo or "study\0" + peek_text(ds, "StudyInstanceUID")
    age, age_action = None, "absent"
    if original_age := peek_text(ds, "PatientAge"):
        match = _AGE.fullmatch(original_age)
        if match is None:
            age_action = "removed_unparsable"
        elif match.group(2) == "Y" and int(match.group(1)) >= int(MAX_AGE[:3]):
            age, age_action = MAX_AGE, "capped"
        else:
            age, age_action = original_age, "kept"
    return _Patient(pseudo, date_offset_days(key, anchor), age, age_action)


class _Walker:
    """One pass over the dataset, in place; collects leak-scan needles and counts as it goes."""

    def __init__(self, key: bytes, days: int, encodings: list[str], keep: frozenset[int]) -> None:
        self.key, self.days, self.encodings, self.keep = key, days, encodings, keep
        self.scanner = LeakScanner()
        self.uid_map: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.removed_keywords: set[str] = set()
        self.emptied_dates: set[str] = set()
        # PS3.15 Annex E action codes of what was kept: K as is, U UIDs remapped, C dates shifted
        self.kept: dict[str, set[str]] = {"K": set(), "U": set(), "C": set()}

    def walk(self, ds: Dataset) -> None:
        for tag in list(ds.keys()):
            number = int(tag)
            elem = ds.get_item(tag)
            if number in self.keep and not is_always_removed(number):
                self._keep(ds, number, elem)
            else:
                self._remove(ds, number, elem)

    def _remove(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement) -> None:
        self.scanner.add_element(ds, elem, self.encodings)
        group = tag >> 16
        if group & 1:
            self.counts["private_removed"] += 1
        elif (group & 0xFF00) in (0x5000, 0x6000):
            self.counts["overlays_curves_removed"] += 1
        else:
            self.counts["attributes_removed"] += 1
            self.removed_keywords.add(keyword_for_tag(tag) or f"({group:04X},{tag & 0xFFFF:04X})")
        del ds[elem.tag]

    def _keep(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement) -> None:
        self.counts["attributes_kept"] += 1
        vr = element_vr(elem)
        keyword = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        code = {"UI": "U", "DA": "C", "DT": "C"}.get(vr, "K")
        if keyword.endswith("ClassUID") or keyword == "TransferSyntaxUID":
            code = "K"  # standard-defined values, never remapped
        self.kept[code].add(keyword)
        if vr == "SQ":
            for item in ds[tag].value or ():
                self.walk(item)
        elif vr == "UI":
            self._rewrite(ds, tag, elem, vr, self._remap_uids)
        elif vr == "DA":
            self._rewrite(ds, tag, elem, vr, partial(self._shift_dates, shift_da))
        elif vr == "DT":
            self._rewrite(ds, tag, elem, vr, partial(self._shift_dates, shift_dt))
        elif vr == "PN" or (tag >> 16) & 1:
            # The profile keeps no names and no private values: a table error; let the scan see it.
            self.scanner.add_element(ds, elem, self.encodings)
        elif tag != PIXEL_DATA_TAG:
            self.scanner.add_legit(elem.value, self.encodings)

    def _rewrite(self, ds: Dataset, tag: int, elem: DataElement | RawDataElement, vr: str,
                 transform: Callable[[int, list[str]], list[str]]) -> None:
        """Apply `transform` to the values; a raw element stays raw (UI/DA/DT are ASCII), with
        its dictionary VR if it was stored as UN."""
        if isinstance(elem, RawDataElement):
            raw = elem.value or b""
            new_values = transform(tag, raw.decode("latin-1").split("\\") if raw else [])
            new = "\\".join(new_values).encode("latin-1")
            new += (b"\x00" if vr == "UI" else b" ") if len(new) % 2 else b""
            stored_vr = None if elem.VR is None else vr
            ds[tag] = elem._replace(VR=stored_vr, length=len(new), value=new)
        else:
            values, multi = _values(elem)
            new_values = transform(tag, values)
            elem.value = new_values if multi else (new_values[0] if new_values else "")
        self.scanner.add_legit(new_values, self.encodings)

    def _remap_uids(self, tag: int, values: list[str]) -> list[str]:
        keyword = keyword_for_tag(tag)
        standard = keyword.endswith("ClassUID") or keyword == "TransferSyntaxUID"
        new_values = []
        for value in values:
            value = value.strip("\x00 ")
            if not value or standard or value.startswith(STANDARD_UID_ROOT):
                new_values.append(value)
                continue
            if value not in self.uid_map:
                self.uid_map[value] = remap_uid(self.key, value)
            new_values.append(self.uid_map[value])
            self.scanner.add_needle_text(value.encode("ascii", "replace"))
        return new_values

    def _shift_dates(self, shift: Callable[[str, int], str | None], tag: int,
                     values: list[str]) -> list[str]:
        new_values = []
        for value in values:
            shifted = shift(value, self.days)
            if shifted is None:
                self.emptied_dates.add(keyword_for_tag(tag) or f"{tag:08X}")
                shifted = ""
            elif shifted:
                self.counts["dates_shifted"] += 1
            self.scanner.add_needle_text(value.encode("ascii", "replace"))
            new_values.append(shifted)
        return new_values


def _write_replacements(ds: Dataset, patient: _Patient, scanner: LeakScanner, *,
                        pixels_cleaned: bool) -> None:
    implicit, little = (bool(flag) for flag in ds.original_encoding)
    for raw in constant_elements(implicit, little, pixels_cleaned):
        ds[raw.tag] = raw
    pseudo = patient.pseudo_id or ""
    # PatientName as a family name with an empty given name ("P…^"): a one-component name is
    # the retired PN form that validators (dciodvfy, highdicom) warn about.
    name = f"{pseudo}^" if pseudo else ""
    replacements = [(0x00100010, "PN", name), (0x00100020, "LO", pseudo)]
    if patient.age is not None:
        replacements.append((0x00101010, "AS", patient.age))
    for tag, vr, text in replacements:
        raw = text_element(tag, vr, text, implicit, little)
        ds[raw.tag] = raw
    scanner.add_legit([pseudo, name, patient.age or "", *constant_texts()], ["iso8859"])


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    spacing = peek_value(ds, "PixelSpacing")
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if spacing:
            break
        try:
            spacing = ds[groups][0].PixelMeasuresSequence[0].PixelSpacing
        except (KeyError, IndexError, AttributeError):
            spacing = None
    try:
        row, column = (float(v) for v in spacing)
    except (TypeError, ValueError):
        return None
    return (row, column) if row > 0 and column > 0 else None


def _encodings(ds: Dataset) -> list[str]:
    """The Python codecs of the dataset's Specific Character Set, every value of it (Japanese
    files name two or three: "ISO 2022 IR 6\\ISO 2022 IR 87")."""
    value = peek_value(ds, "SpecificCharacterSet")
    terms = [str(v).strip() for v in value] if isinstance(value, MultiValue | list | tuple) else [
        str(value or "").strip()]
    return convert_encodings(terms if any(terms) else "ISO_IR 6")


def deidentify_dicom(data: bytes, *, key: bytes, has_preamble: bool) -> DicomOutput:
    ds = parse_dicom(data, has_preamble=has_preamble)
    admission = admit(ds)
    encodings = _encodings(ds)
    patient = _patient(ds, key, encodings)
    walker = _Walker(key, patient.date_offset_days, encodings, keep_for(admission.sop_class_uid))
    walker.walk(ds)
    cleaning = mask_outside_ultrasound_regions(ds) if admission.pixel_review else None
    _write_replacements(ds, patient, walker.scanner, pixels_cleaned=cleaning is not None)
    # Deflate is only a container for explicit VR little endian: write that, so it can be scanned.
    syntax = admission.transfer_syntax
    if syntax == DeflatedExplicitVRLittleEndian or cleaning is not None:
        syntax = ExplicitVRLittleEndian  # masked pixels are native now
    spacing, uids = _pixel_spacing(ds), _new_uids(ds)
    encoded = encode(ds, syntax, sop_class_uid=admission.sop_class_uid,
                     sop_instance_uid=uids[2], encodings=encodings)
    scanned_pixels = encoded.pixels if syntax.is_encapsulated else b""
    if walker.scanner.find_leaks(encoded.header, scanned_pixels):
        raise ImageFileRejected("leak_detected")
    return DicomOutput(
        data=encoded.join(), admission=admission, pixel_spacing=spacing,
        pseudo_patient_id=patient.pseudo_id, study_uid=uids[0], series_uid=uids[1],
        sop_instance_uid=uids[2], actions=_actions(admission, patient, walker, cleaning),
        manufacturer=peek_text(ds, "Manufacturer", encodings),
    )


def _new_uids(ds: Dataset) -> tuple[str, str, str]:
    keywords = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    study, series, instance = (peek_text(ds, keyword) for keyword in keywords)
    return study, series, instance


def _actions(admission: Admission, patient: _Patient, walker: _Walker,
             cleaning: Cleaning | None) -> dict:
    """A JSON-safe summary: counts, keywords and labels only, never a value from the file."""
    pixels = "copied unchanged (not decoded)"
    if cleaning is not None:
        pixels = (f"{cleaning.method}: {cleaning.masked_fraction:.1%} of each frame outside "
                  f"{cleaning.regions} region(s) zeroed; written uncompressed")
    counted = ("attributes_kept", "attributes_removed", "private_removed",
               "overlays_curves_removed", "dates_shifted")
    return {
        "profile": PROFILE_VERSION,
        "method": DEID_METHOD,
        "sop_class": IMAGE_SOP_CLASSES[admission.sop_class_uid],
        "sop_class_uid": admission.sop_class_uid,
        "transfer_syntax": str(admission.transfer_syntax),
        **{name: walker.counts[name] for name in counted},
        "removed_keywords": sorted(walker.removed_keywords),
        # Per attribute, the Annex E action taken (X: removed_keywords above; D: replaced by the
        # pseudonym; Z: emptied, Type 2). Keywords only, never a value.
        "annex_e": {"K": sorted(walker.kept["K"]), "U": sorted(walker.kept["U"]),
                    "C": sorted(walker.kept["C"]),
                    "D": ["PatientID", "PatientName"] if patient.pseudo_id else [],
                    "Z": sorted(keyword_for_tag(tag) for tag in EMPTY)},
        "uids_remapped": len(walker.uid_map),
        "dates_emptied_unparsable": sorted(walker.emptied_dates),
        "date_shift": "whole weeks, keyed per patient (offset not recorded)",
        "patient": "pseudonymised" if patient.pseudo_id else "no_patient_id",
        "patient_age": patient.age_action,
        "file_meta": "rebuilt",
        "preamble": "zeroed",
        "pixel_data": pixels,
        "pixel_review": admission.pixel_review,
        "pixels_masked": int(cleaning is not None),
        "leak_scan": {"needles": len(walker.scanner.needles), "hits": 0},
    }
