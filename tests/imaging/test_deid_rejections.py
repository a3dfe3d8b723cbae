"""Files `deidentify_file` must refuse, each with its stable code and a message safe to show."""

import os
import random

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from imaging.deid import deidentify_file
from imaging.errors import REJECTION_CODES, ImageFileRejected
from tests.imaging.conftest import KEY, fixture_bytes, load, to_bytes

pytestmark: list[pytest.MarkDecorator] = []  # pure Python: no database


def _code(data: bytes, **kwargs) -> str:
    with pytest.raises(ImageFileRejected) as caught:
        deidentify_file(data, key=KEY, **kwargs)
    message = str(caught.value.message)
    assert message and "CompressedSamples" not in message and "1.3.6.1" not in message
    return caught.value.code


def _encapsulated_pdf() -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (generate_uid() for _ in "abc")
    ds.PatientName, ds.Modality = "Doe^Jane", "DOC"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n% report for Doe^Jane\n%%EOF\n"
    return to_bytes(ds)


@pytest.mark.parametrize("data", [os.urandom(4096), b"GIF89a" + os.urandom(100), b"hello\n"])
def test_unknown_content_is_an_unsupported_format(data: bytes):
    assert _code(data, filename="scan.dcm") == "unsupported_format"


def test_empty_and_garbage_after_the_dicom_prefix_are_unreadable():
    assert _code(b"") == "unreadable"
    assert _code(b"\x00" * 128 + b"DICM" + os.urandom(2000)) == "unreadable"


@pytest.mark.parametrize(("name", "fraction"), [
    ("CT_small.dcm", 0.02), ("CT_small.dcm", 0.1), ("CT_small.dcm", 0.5), ("CT_small.dcm", 0.999),
    ("MR_small_RLE.dcm", 0.5), ("MR_small_RLE.dcm", 0.95), ("JPEG2000.dcm", 0.9),
])
def test_truncated_dicom_is_unreadable(name: str, fraction: float):
    raw = fixture_bytes(name)
    assert _code(raw[: int(len(raw) * fraction)]) == "unreadable"


def test_pydicoms_own_truncated_file_is_unreadable():
    assert _code(fixture_bytes("MR_truncated.dcm")) == "unreadable"


def test_dicom_without_pixels(modified):
    assert _code(modified("CT_small.dcm", PixelData=None)) == "no_pixels"
    assert _code(modified("CT_small.dcm", Rows=0)) == "no_pixels"


@pytest.mark.parametrize("name", ["rtstruct.dcm", "test-SR.dcm", "liver_1frame.dcm",
                                  "waveform_ecg.dcm", "rtdose.dcm"])
def test_non_image_sop_classes_are_refused(name: str):
    assert _code(fixture_bytes(name)) == "unsupported_sop_class"


def test_encapsulated_pdf_is_refused_as_a_document():
    with pytest.raises(ImageFileRejected) as caught:
        deidentify_file(_encapsulated_pdf(), key=KEY)
    assert caught.value.code == "unsupported_sop_class"
    assert "PDF" in str(caught.value.message)


@pytest.mark.parametrize("sop_class", [
    "1.2.840.10008.5.1.4.1.1.66",  # raw data
    "1.3.12.2.1107.5.9.1",  # Siemens private CSA non-image
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT dose: standard but not on the allow-list
])
def test_raw_private_and_unlisted_classes_are_refused(modified, sop_class: str):
    assert _code(modified("CT_small.dcm", SOPClassUID=sop_class)) == "unsupported_sop_class"


@pytest.mark.parametrize("keyword", ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
                                     "SeriesInstanceUID"])
def test_missing_identifying_uids(modified, keyword: str):
    assert _code(modified("CT_small.dcm", **{keyword: None})) == "missing_uid"


@pytest.mark.parametrize("changes", [
    {"BurnedInAnnotation": "YES"},
    {"Modality": "XA"},
    {"Modality": "OT"},
    {"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]},
    {"SeriesDescription": "Dose Report"},
])
def test_burned_in_risk_is_refused_until_review_exists(modified, changes):
    with pytest.raises(ImageFileRejected) as caught:
        deidentify_file(modified("CT_small.dcm", **changes), key=KEY)
    assert caught.value.code == "burned_in_risk"
    assert "review" in str(caught.value.message)


def test_ultrasound_without_flag_is_refused_and_with_no_is_accepted(modified):
    assert _code(fixture_bytes("examples_rgb_color.dcm")) == "burned_in_risk"
    accepted = deidentify_file(modified("examples_rgb_color.dcm", BurnedInAnnotation="NO"), key=KEY)
    assert accepted.modality == "US"


def test_too_many_pixels_is_too_large(modified):
    assert _code(modified("CT_small.dcm", NumberOfFrames=200_000)) == "too_large"


def test_pixel_data_shorter_than_declared_is_unreadable(modified):
    assert _code(modified("CT_small.dcm", Rows=256)) == "unreadable"


def test_short_keys_are_a_programming_error():
    with pytest.raises(ValueError):
        deidentify_file(fixture_bytes("CT_small.dcm"), key=b"short")


def test_every_code_has_a_message_and_unknown_codes_are_refused():
    for code in REJECTION_CODES:
        error = ImageFileRejected(code)
        assert str(error).startswith(code) and str(error.message)
    with pytest.raises(ValueError):
        ImageFileRejected("something_else")


def test_original_dataset_is_not_needed_after_rejection():
    ds = load("CT_small.dcm")
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(ImageFileRejected):
        deidentify_file(to_bytes(ds), key=KEY)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_RLE.dcm", "emri_small.dcm"])
def test_corrupted_headers_are_refused_or_processed_never_crash(name: str):
    rng = random.Random(20240601)
    base = fixture_bytes(name)
    for _ in range(60):
        damaged = bytearray(base)
        for _ in range(rng.randint(1, 12)):
            damaged[rng.randrange(132, min(len(base), 4000))] = rng.randrange(256)
        try:
            result = deidentify_file(bytes(damaged), key=KEY)
        except ImageFileRejected:
            continue
        assert b"CompressedSamples" not in result.data


def test_unknown_transfer_syntax_is_unsupported():
    ds = load("CT_small.dcm")
    ds.file_meta.TransferSyntaxUID = UID("1.2.826.0.1.3680043.9.9999.1")
    assert _code(to_bytes(ds)) == "unsupported_format"
