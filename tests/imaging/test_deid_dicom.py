"""DICOM de-identification on real files: what goes, what stays, what is remapped and how."""

import datetime as dt
import hashlib
import json
import re
import struct
import uuid
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from pydicom.filewriter import dcmwrite
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from imaging.deid import PROFILE_VERSION, deidentify_file
from imaging.dicom_write import IMPLEMENTATION_CLASS_UID
from tests.imaging.conftest import KEY, OTHER_KEY, fixture_bytes, fixture_path, load, read, to_bytes

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database

ACCEPTED = [
    "CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm", "MR_small_RLE.dcm",
    "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "JPEG2000.dcm", "emri_small.dcm",
    "eCT_Supplemental.dcm",
]
STANDARD = "1.2.840.10008."


def _all_elements(ds):
    yield from ds.iterall()


def _dates(ds) -> dict[str, str]:
    return {e.keyword: str(e.value) for e in ds if e.VR == "DA" and e.value}


def test_ct_small_loses_its_179_private_elements_and_identifying_text():
    result = deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY)
    out = read(result.data)
    assert result.actions["private_removed"] == 179
    assert not [e.tag for e in _all_elements(out) if e.tag.is_private]
    for phi in (b"CompressedSamples", b"1CT1", b"JFK IMAGING CENTER", b"CT01_OC0", b"ISOVUE"):
        assert phi not in result.data
    for removed in ("InstitutionName", "StationName", "StudyDescription", "TimezoneOffsetFromUTC",
                    "ContrastBolusAgent", "InstanceCreatorUID"):
        assert removed not in out
        assert removed in result.actions["removed_keywords"]
    assert out.Manufacturer == "GE MEDICAL SYSTEMS"  # device identity, 113109
    assert out.Modality == "CT" and result.modality == "CT"


def test_overlay_and_siemens_private_tags_are_removed():
    original = load("examples_overlay.dcm")
    assert any(e.tag.group == 0x6000 for e in original)
    assert any(e.tag.is_private for e in original)
    result = deidentify_file(fixture_bytes("examples_overlay.dcm"), key=KEY)
    out = read(result.data)
    assert not [e.tag for e in _all_elements(out) if (e.tag.group & 0xFF00) in (0x5000, 0x6000)]
    assert not [e.tag for e in _all_elements(out) if e.tag.is_private]
    assert result.actions["overlays_curves_removed"] > 0
    assert b"Sssssss" not in result.data and b"021234567" not in result.data


def test_patient_name_and_id_become_a_keyed_pseudonym():
    raw = fixture_bytes("CT_small.dcm")
    first, again = deidentify_file(raw, key=KEY), deidentify_file(raw, key=KEY)
    other = deidentify_file(raw, key=OTHER_KEY)
    out = read(first.data)
    assert re.fullmatch(r"P[A-Z2-7]{12}", first.pseudo_patient_id or "")
    assert str(out.PatientName) == f"{out.PatientID}^" and out.PatientID == first.pseudo_patient_id
    assert out.PatientName.family_name == first.pseudo_patient_id
    assert again.pseudo_patient_id == first.pseudo_patient_id
    assert other.pseudo_patient_id != first.pseudo_patient_id
    assert out.PatientBirthDate == "" and out.StudyID == "" and out.AccessionNumber == ""
    assert first.actions["patient"] == "pseudonymised"


def test_same_input_and_key_give_identical_bytes(tmp_path: Path):
    raw = fixture_bytes("CT_small.dcm")
    first = deidentify_file(raw, key=KEY)
    path = tmp_path / "scan.dcm"
    path.write_bytes(raw)
    from_path = deidentify_file(path, key=KEY)
    assert first.data == from_path.data
    assert first.input_sha256 == hashlib.sha256(raw).hexdigest()
    assert first.output_sha256 == hashlib.sha256(first.data).hexdigest()
    assert first.output_sha256 != first.input_sha256


def test_uids_are_keyed_uuidv8_and_class_uids_are_kept():
    original = load("CT_small.dcm")
    result = deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY)
    out = read(result.data)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                    "FrameOfReferenceUID"):
        new = str(out[keyword].value)
        assert new != str(original[keyword].value) and len(new) <= 64
        prefix, number = new.rsplit(".", 1)
        assert prefix == "2.25"
        as_uuid = uuid.UUID(int=int(number))
        assert as_uuid.version == 8 and as_uuid.variant == uuid.RFC_4122
    assert out.SOPClassUID == original.SOPClassUID
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert out.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert (result.study_uid, result.series_uid, result.sop_instance_uid) == (
        out.StudyInstanceUID, out.SeriesInstanceUID, out.SOPInstanceUID)


@pytest.mark.parametrize("name", ACCEPTED)
def test_no_original_uid_survives_at_any_depth(name: str):
    original = load(name)
    result = deidentify_file(fixture_bytes(name), key=KEY)
    originals = {str(v) for e in _all_elements(original) if e.VR == "UI"
                 for v in (e.value if e.VM > 1 else [e.value]) if v}
    originals = {u for u in originals if not u.startswith(STANDARD)}
    for uid in originals:
        assert uid.encode() not in result.data
    for elem in _all_elements(read(result.data)):
        if elem.VR == "UI" and elem.value and not elem.keyword.endswith("ClassUID"):
            assert str(elem.value).startswith(("2.25.", STANDARD)), elem.keyword


def _dicomdir_files() -> list[Path]:
    base = fixture_path("CT_small.dcm").parent / "dicomdirtests"
    return sorted(p for p in base.glob("[79]*/*/*") if p.is_file())


def test_equality_classes_and_date_offsets_across_studies_and_patients():
    """3 folders, 2 patients, 4 studies: equal UIDs map to equal UIDs, unequal to unequal, and
    every date of one patient moves by the same whole number of weeks."""
    pairs = [(load_path, deidentify_file(load_path, key=KEY)) for load_path in _dicomdir_files()]
    assert len(pairs) > 20
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        mapping: dict[str, str] = {}
        for path, result in pairs:
            before = str(read(path.read_bytes())[keyword].value)
            after = str(read(result.data)[keyword].value)
            assert mapping.setdefault(before, after) == after
        assert len(set(mapping.values())) == len(mapping)
    offsets: dict[str, set[int]] = {}
    for path, result in pairs:
        original, output = read(path.read_bytes()), read(result.data)
        shift = dt.date.fromisoformat(_iso(output.StudyDate)) - dt.date.fromisoformat(
            _iso(original.StudyDate))
        offsets.setdefault(str(original.PatientID), set()).add(shift.days)
        assert result.pseudo_patient_id == output.PatientID
    assert all(len(days) == 1 for days in offsets.values())
    for (days,) in offsets.values():
        assert days % 7 == 0 and -3640 <= days <= -364


def _iso(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}"


def test_dates_shift_by_whole_weeks_keeping_intervals_and_weekdays():
    original = load("CT_small.dcm")
    result = deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY)
    out = read(result.data)
    before, after = _dates(original), _dates(out)
    assert set(after) == {"StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"}
    shifts = {dt.date.fromisoformat(_iso(after[k])) - dt.date.fromisoformat(_iso(before[k]))
              for k in after}
    assert len(shifts) == 1
    (shift,) = shifts
    assert shift.days % 7 == 0 and -3640 <= shift.days <= -364
    assert out.StudyTime == original.StudyTime  # TM unchanged
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    for value in before.values():
        assert value.encode() not in result.data


def test_partial_ranged_and_unparsable_dates(modified):
    raw = modified("CT_small.dcm", StudyDate="2019", SeriesDate="19970430-19970501",
                   ContentDate="not a date", AcquisitionDateTime="19970430112936.5-0500")
    result = deidentify_file(raw, key=KEY)
    out = read(result.data)
    assert re.fullmatch(r"\d{4}", out.StudyDate) and out.StudyDate < "2019"
    start, end = out.SeriesDate.split("-")
    assert (dt.date.fromisoformat(_iso(end)) - dt.date.fromisoformat(_iso(start))).days == 1
    assert out.ContentDate == ""
    assert result.actions["dates_emptied_unparsable"] == ["ContentDate"]
    assert out.AcquisitionDateTime.endswith("112936.5-0500")
    assert out.AcquisitionDateTime[:8] == out.AcquisitionDate


@pytest.mark.parametrize(("age", "expected", "action"), [
    ("095Y", "090Y", "capped"), ("045Y", "045Y", "kept"), ("018M", "018M", "kept"),
    ("ninety", None, "removed_unparsable"),
])
def test_patient_age_is_capped_at_90(modified, age, expected, action):
    result = deidentify_file(modified("CT_small.dcm", PatientAge=age), key=KEY)
    out = read(result.data)
    assert out.get("PatientAge") == expected
    assert result.actions["patient_age"] == action


def test_output_carries_the_deidentification_attributes():
    result = deidentify_file(fixture_bytes("MR_small.dcm"), key=KEY)
    out = read(result.data)
    assert out.PatientIdentityRemoved == "YES"
    method = f"Enclave {PROFILE_VERSION}; PS3.15 Basic+113107+113108+113109"
    assert out.DeidentificationMethod == method
    assert len(out.DeidentificationMethod) <= 64
    codes = [(item.CodeValue, item.CodingSchemeDesignator)
             for item in out.DeidentificationMethodCodeSequence]
    assert codes == [(c, "DCM") for c in ("113100", "113107", "113108", "113109")]
    assert result.data[:128] == b"\x00" * 128 and result.data[128:132] == b"DICM"
    assert "BurnedInAnnotation" not in out or out.BurnedInAnnotation == "NO"


@pytest.mark.parametrize("name", ACCEPTED)
def test_output_is_readable_and_pixels_are_identical(name: str):
    original = load(name)
    result = deidentify_file(fixture_bytes(name), key=KEY)
    out = read(result.data)
    assert out.PixelData == original.PixelData
    assert np.array_equal(out.pixel_array, original.pixel_array)
    assert (result.rows, result.columns) == (original.Rows, original.Columns)
    assert result.frames == int(original.get("NumberOfFrames") or 1)
    assert result.kind == "dicom"


@pytest.mark.parametrize("name", ACCEPTED)
def test_writer_is_byte_identical_to_pydicom(name: str):
    data = deidentify_file(fixture_bytes(name), key=KEY).data
    assert to_bytes(read(data)) == data


def test_pixel_spacing_is_reported_from_top_level_or_functional_groups():
    assert deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY).pixel_spacing == (
        pytest.approx(0.661468), pytest.approx(0.661468))
    enhanced = deidentify_file(fixture_bytes("eCT_Supplemental.dcm"), key=KEY)
    assert enhanced.pixel_spacing is not None and enhanced.frames == 2
    assert deidentify_file(fixture_bytes("RG1_UNCR.dcm"), key=KEY).pixel_spacing is None


def test_dataset_without_preamble_or_meta_is_detected_and_given_both():
    ds = load("CT_small.dcm")
    ds.preamble = None
    del ds.file_meta
    buffer = BytesIO()
    dcmwrite(buffer, ds, implicit_vr=False, little_endian=True)
    bare = buffer.getvalue()
    assert bare[128:132] != b"DICM"
    result = deidentify_file(bare, key=KEY, filename="scan.png")
    out = read(result.data)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert out.PixelData == load("CT_small.dcm").PixelData


def test_deflated_input_is_written_inflated_and_scanned():
    ds = load("CT_small.dcm")
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    result = deidentify_file(to_bytes(ds), key=KEY)
    out = read(result.data)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert out.PixelData == load("CT_small.dcm").PixelData
    assert b"CompressedSamples" not in result.data


def test_missing_patient_id_gives_no_pseudonym_but_consistent_study_dates(modified):
    result = deidentify_file(modified("CT_small.dcm", PatientID=None), key=KEY)
    out = read(result.data)
    assert result.pseudo_patient_id is None and out.PatientID == "" and str(out.PatientName) == ""
    assert result.actions["patient"] == "no_patient_id"
    assert out.StudyDate != load("CT_small.dcm").StudyDate


def test_actions_are_json_and_hold_no_values_from_the_file():
    result = deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY)
    text = json.dumps(result.actions)
    for phi in ("CompressedSamples", "1CT1", "JFK", "20040119", "1.3.6.1.4.1.5962"):
        assert phi not in text
    assert result.actions["leak_scan"]["hits"] == 0 and result.actions["leak_scan"]["needles"] > 10


def _as_un(data: bytes, tag: int, vr: bytes) -> bytes:
    """Re-encode one explicit-VR little-endian element as UN (pydicom's writer would not)."""
    header = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    start = data.index(header)
    (length,) = struct.unpack_from("<H", data, start + 6)
    value = data[start + 8 : start + 8 + length]
    un = header[:4] + b"UN\x00\x00" + struct.pack("<L", length) + value
    return data[:start] + un + data[start + 8 + length :]


def test_standard_attributes_stored_as_un_are_still_remapped_and_shifted():
    original = load("CT_small.dcm")
    raw = _as_un(_as_un(fixture_bytes("CT_small.dcm"), 0x0020000D, b"UI"), 0x00080020, b"DA")
    assert read(raw).get_item(0x0020000D).VR == "UN"
    result = deidentify_file(raw, key=KEY)
    out = read(result.data)
    assert out.StudyInstanceUID == deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY).study_uid
    assert out["StudyDate"].VR == "DA" and out.StudyDate != original.StudyDate
    assert str(original.StudyInstanceUID).encode() not in result.data


def test_the_action_summary_names_the_annex_e_action_of_every_attribute():
    result = deidentify_file(fixture_bytes("CT_small.dcm"), key=KEY)
    codes = result.actions["annex_e"]

    assert {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"} <= set(codes["U"])
    assert "SOPClassUID" in codes["K"] and "SOPClassUID" not in codes["U"]
    assert {"StudyDate", "SeriesDate"} <= set(codes["C"])
    assert codes["D"] == ["PatientID", "PatientName"]
    assert {"PatientBirthDate", "AccessionNumber"} <= set(codes["Z"])
    assert "InstitutionName" in result.actions["removed_keywords"]  # X
    kept = {keyword for code in ("K", "U", "C") for keyword in codes[code]}
    assert not kept & set(result.actions["removed_keywords"])
    assert "CompressedSamples" not in json.dumps(result.actions)  # keywords only, no values


def test_family_attributes_survive_only_in_their_family():
    """The per-SOP-class rows: MR physics stay on MR, ultrasound calibration on US."""
    mr = read(deidentify_file(fixture_bytes("MR_small.dcm"), key=KEY).data)
    assert mr.EchoTime == load("MR_small.dcm").EchoTime

    ct = load("CT_small.dcm")
    ct.EchoTime, ct.PhysicalDeltaX = 12.0, 0.1  # out of place on a CT
    out = read(deidentify_file(to_bytes(ct), key=KEY).data)
    assert "EchoTime" not in out and "PhysicalDeltaX" not in out

    us = read(deidentify_file(fixture_bytes("examples_palette.dcm"), key=KEY).data)
    assert us.SequenceOfUltrasoundRegions[0].PhysicalDeltaX
