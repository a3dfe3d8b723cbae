"""Files `deidentify_file` must refuse, each with its stable code and a message safe to show."""

import os
import random

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from imaging.deid import action_counts, deidentify_file
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


@pytest.mark.parametrize(("changes", "reason"), [
    ({"BurnedInAnnotation": "YES"}, "burned_in_flag"),
    ({"Modality": "XA"}, "risk_modality"),
    ({"Modality": "OT"}, "risk_modality"),
    ({"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]}, "screen_capture"),
    ({"SeriesDescription": "Dose Report"}, "series_description"),
    ({"BurnedInAnnotation": "NO", "Modality": "XA"}, ""),
    ({"ImageType": ["DERIVED", "SECONDARY", "MPR"]}, ""),
])
def test_burned_in_risk_marks_the_file_for_pixel_review(modified, changes, reason):
    result = deidentify_file(modified("CT_small.dcm", **changes), key=KEY)
    assert result.pixel_review == reason
    assert action_counts(result.actions).get("pixel_reviews", 0) == int(bool(reason))
    assert result.actions["pixels_masked"] == 0  # a CT has no ultrasound regions to mask


def test_ultrasound_without_flag_is_held_and_with_no_is_admitted(modified):
    assert deidentify_file(fixture_bytes("examples_rgb_color.dcm"), key=KEY).pixel_review == (
        "risk_modality")
    accepted = deidentify_file(modified("examples_rgb_color.dcm", BurnedInAnnotation="NO"), key=KEY)
    assert (accepted.modality, accepted.pixel_review) == ("US", "")


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
    del ds.SeriesInstanceUID
    with pytest.raises(ImageFileRejected) as caught:
        deidentify_file(to_bytes(ds), key=KEY)
    assert caught.value.code == "missing_uid"


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


def test_native_ybr_full_422_is_two_thirds_of_full_size():
    ds = load("SC_ybr_full_422_uncompressed.dcm")  # 100 x 100, 20,000 bytes of pixel data
    assert ds.PhotometricInterpretation == "YBR_FULL_422"

    admitted = deidentify_file(to_bytes(ds), key=KEY)
    ds.PixelData = ds.PixelData[:-2]
    truncated = _code(to_bytes(ds))

    assert (admitted.rows, admitted.columns) == (100, 100)
    assert truncated == "unreadable"
